// `npm run demo`: a narrated 3-node cluster of real processes on 127.0.0.1 (`--sim` runs the in-process
// simulation of the consensus core instead).
import { runClusterDemo } from './cluster-demo.js'
import { runSimDemo } from './sim-demo.js'

const say = (line: string): void => { process.stdout.write(line + '\n') }
if (process.argv.includes('--sim')) {
  runSimDemo(say)
} else {
  try {
    await runClusterDemo(say)
  } catch (err) {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  }
}
