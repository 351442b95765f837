// Operator commands on a stopped node's data dir: `aspen restore` (from a backup) and `aspen recover`
// (inspect, or force a new one-node cluster after losing a quorum).

import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { type Command, Option } from 'commander'
import { loadConfig } from '../node/config.js'
import { CliFailure, UsageError } from './errors.js'
import { membershipLines, printJson, printLine } from './format.js'
import { EXIT_CODES_HELP, nodeIdArg } from './options.js'
import type { CliDeps, RunState } from './program.js'
import { runInfoPath } from './target.js'

function dataDirOf (deps: CliDeps, given: string | undefined, command: string): string {
  const dataDir = given ?? (deps.io.env.ASPEN_DATA_DIR === '' ? undefined : deps.io.env.ASPEN_DATA_DIR)
  if (dataDir === undefined) throw new UsageError(`${command} needs --data-dir`, 'pass --data-dir DIR of the stopped node')
  return resolve(deps.io.cwd, dataDir)
}

/** The pid recorded in a run file, if it names a live process (a node killed by SIGKILL leaves its file behind). */
function livePid (path: string): boolean {
  let pid: unknown
  try {
    pid = (JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }).pid
  } catch {
    return true // unreadable: assume the worst
  }
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code !== 'ESRCH'
  }
}

/**
 * These commands rewrite a data dir; a node running on it would be corrupted. (The store's LevelDB lock refuses a
 * running node too; this check gives the clearer message.)
 */
function refuseIfRunning (dir: string): void {
  if (existsSync(runInfoPath(dir)) && livePid(runInfoPath(dir))) {
    throw new CliFailure(`the node in ${dir} seems to be running (${runInfoPath(dir)} exists)`,
      'stop it first (SIGTERM); if it crashed, delete that file')
  }
}

/** Registers `aspen restore` and `aspen recover`. */
export function registerOps (program: Command, deps: CliDeps, state: RunState): void {
  const { io, actions } = deps

  program.command('restore')
    .summary('fill a stopped node\'s data dir from a backup file')
    .description('Restore a backup made with `aspen cluster backup` into the data dir of a node created with ' +
      '`aspen init` and not running. The whole file is verified (sha256) first: a truncated or damaged file is ' +
      'refused and nothing is written. The node then starts as the only voter of a new cluster holding the ' +
      'restored keys (no `cluster init`); add the other nodes with add-learner + promote. The cluster id comes ' +
      'from the node\'s cookie: a new cookie makes a new cluster beside the original, the old cookie replaces a lost ' +
      'cluster under the same id. Refuses a data dir that already holds data unless --force.')
    .addOption(new Option('--data-dir <dir>', 'data dir of the (stopped) node to restore into (env ASPEN_DATA_DIR)'))
    .requiredOption('--from <file>', 'backup file to restore')
    .addOption(new Option('--node-id <n>', 'node id to restore as (default: node_id of the data dir\'s config)').argParser(nodeIdArg))
    .addOption(new Option('--force', 'replace the data the data dir already holds'))
    .addOption(new Option('--json', 'print the result as JSON'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (o: { dataDir?: string, from: string, nodeId?: number, force?: boolean, json?: boolean }) => {
      const dir = dataDirOf(deps, o.dataDir, 'restore')
      const from = resolve(io.cwd, o.from)
      if (!existsSync(from)) throw new CliFailure(`backup file ${from} not found`, 'check the --from path')
      const config = loadConfig(dir, io.env, o.nodeId !== undefined ? { nodeId: o.nodeId } : {}, io.cwd)
      state.secrets.push(config.cookie)
      refuseIfRunning(dir)
      const r = await actions.ops.restore({ config, from, force: o.force === true })
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Restored ${r.keys} keys (index ${r.index}) into ${r.dataDir}.`)
      if (typeof r.clusterId === 'string') printLine(io, `The node is the only voter of cluster ${r.clusterId} (the id comes from its cookie).`)
      printLine(io, `Next: aspen start --data-dir ${r.dataDir}, then add the other nodes: aspen cluster add-learner <id>, aspen cluster promote <id>`)
    })

  program.command('recover')
    .summary('inspect a stopped node\'s data, or force a new one-node cluster from it')
    .description('Disaster recovery on a stopped node.\n\n' +
      '--inspect reads the data dir and reports node id, peer id, cluster id, last term, last index, commit, ' +
      'membership and whether the chain hashes verify; it changes nothing. Run it on every survivor and pick the one ' +
      'with the highest (last term, last index).\n\n' +
      '--force-new-cluster makes this node the only voter so it can lead without the lost voters. It keeps its WHOLE ' +
      'log: every entry it holds, committed or not, becomes committed in the new cluster (etcd drops the entries ' +
      'after the commit index). Use it only when a quorum is permanently gone: writes that only the lost nodes had ' +
      'are lost. The other members are removed from the membership; wipe their data dirs, `aspen init` them again ' +
      'and re-add them with add-learner + promote. The cluster id (derived from the cookie) stays the same.')
    .addOption(new Option('--data-dir <dir>', 'data dir of the stopped node (env ASPEN_DATA_DIR)'))
    .addOption(new Option('--inspect', 'report the state of the data dir; change nothing').conflicts('forceNewCluster'))
    .addOption(new Option('--force-new-cluster', 'make this node the only voter of its cluster (destructive, see above)'))
    .addOption(new Option('--json', 'print the result as JSON'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (o: { dataDir?: string, inspect?: boolean, forceNewCluster?: boolean, json?: boolean }) => {
      if (o.inspect !== true && o.forceNewCluster !== true) {
        throw new UsageError('recover needs --inspect or --force-new-cluster', 'start with --inspect to see the state of the data dir')
      }
      const dir = dataDirOf(deps, o.dataDir, 'recover')
      if (o.inspect === true) {
        const r = await actions.ops.recoverInspect({ dataDir: dir })
        if (o.json === true) { printJson(io, r); return }
        printLine(io, `data dir:  ${r.dataDir}`)
        printLine(io, `node:      ${r.nodeId ?? 'unknown'} (${r.peerId ?? 'no peer id recorded'})`)
        printLine(io, `cluster:   ${r.clusterId ?? 'none'}`)
        printLine(io, `last term ${r.lastTerm}, last index ${r.lastIndex} (term ${r.term}, commit ${r.commitIndex}, applied ${r.appliedIndex})`)
        if (r.membership !== null) for (const l of membershipLines(r.membership)) printLine(io, l)
        else printLine(io, 'membership: none (this node holds no cluster state)')
        if (r.membershipAtLastIndex !== undefined && r.membershipAtLastIndex !== null && JSON.stringify(r.membershipAtLastIndex) !== JSON.stringify(r.membership)) {
          printLine(io, 'once the log tail is applied:')
          for (const l of membershipLines(r.membershipAtLastIndex)) printLine(io, l)
        }
        printLine(io, `chain hashes: ${r.chainOk ? 'verified' : 'MISMATCH'}`)
        for (const p of r.problems) printLine(io, `problem: ${p}`)
        printLine(io, 'To recover after losing a quorum, pick the survivor with the highest (last term, last index).')
        return
      }
      const config = loadConfig(dir, io.env, {}, io.cwd)
      state.secrets.push(config.cookie)
      refuseIfRunning(dir)
      const r = await actions.ops.recoverForceNewCluster({ config })
      if (o.json === true) { printJson(io, r); return }
      printLine(io, `Node ${r.nodeId} is now the only voter of its cluster.`)
      if (r.lastIndex !== undefined) printLine(io, `Kept its whole log up to index ${r.lastIndex} (${r.entriesKept ?? 0} entries beyond the old commit ${r.oldCommit ?? 0} are now committed).`)
      for (const l of membershipLines(r.membership)) printLine(io, l)
      printLine(io, `Next: aspen start --data-dir ${dir}, then re-add the other nodes as learners.`)
    })
}
