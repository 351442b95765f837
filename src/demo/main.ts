// `npm run demo`: until the real node exists, prints the narrated in-process simulation of a 3-node cluster.
import { runSimDemo } from './sim-demo.js'

runSimDemo((line) => process.stdout.write(line + '\n'))
