// The `aspen` command tree and its single top-level error handler. runCli parses argv, runs one command and
// returns the exit code; every failure, commander's own usage errors included, becomes exactly one stderr
// line "error: <what went wrong> — <what to do>" (plus a stack trace only with ASPEN_DEBUG=1).

import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { redactSecrets } from '../node/config.js'
import type { CliActions } from './actions.js'
import { registerCluster } from './cluster.js'
import { EXIT, exitCodeFor, formatErrorLine } from './errors.js'
import { registerInit } from './init.js'
import type { CliIo } from './io.js'
import { registerKv } from './kv.js'
import { registerLease } from './lease.js'
import { EXIT_CODES_HELP } from './options.js'
import { registerOps } from './ops.js'
import { registerStart } from './start.js'

const ROOT_HELP = `
Start here:
  aspen init --data-dir ./n1 --node-id 1     write ./n1/config.toml with a fresh cluster cookie
  aspen start --data-dir ./n1                run the node in the foreground (another terminal)
  aspen cluster init --data-dir ./n1         make it a one-node cluster
  aspen kv put --data-dir ./n1 greeting hello
  aspen kv get --data-dir ./n1 greeting
Run \`aspen <command> --help\` for the options of each command.

Environment:
  ASPEN_DATA_DIR, ASPEN_TICKET, ASPEN_COOKIE, ASPEN_COOKIE_FILE  where commands find the cluster
  ASPEN_NODE_ID, ASPEN_LISTEN, ASPEN_BOOTSTRAP, ASPEN_HTTP, ASPEN_PROFILE, ASPEN_RELAY, ...
                                             override config.toml (flags override both)
  ASPEN_DEBUG=1                              print stack traces with errors`

/** What the commands are given. */
export interface CliDeps {
  readonly actions: CliActions
  readonly io: CliIo
}

/** Per-run state the commands share with the error handler. */
export interface RunState {
  /** Secrets seen during this run (cookies); scrubbed from any error line. */
  readonly secrets: string[]
  /** Exit code a command sets when it printed its result but must still fail (e.g. unhealthy, txn compare failed). */
  exitCode: number
  /** The command being parsed, for "run `aspen … --help`" hints. */
  current: Command | undefined
}

function packageVersion (): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'))
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') return pkg.version
  } catch {
    // A missing package.json only loses the version string.
  }
  return 'unknown'
}

/** "aspen cluster status" for a command. */
export function commandPath (cmd: Command | undefined): string {
  const names: string[] = []
  for (let c: Command | null | undefined = cmd; c !== null && c !== undefined; c = c.parent) names.unshift(c.name())
  return names.length === 0 ? 'aspen' : names.join(' ')
}

/** Records the command being dispatched to, so usage errors can point at its --help. */
export function trackSubcommands (cmd: Command, state: RunState): Command {
  return cmd.hook('preSubcommand', (_parent, sub) => { state.current = sub })
}

/** Builds the full command tree. */
export function buildProgram (deps: CliDeps, state: RunState): Command {
  const program = new Command('aspen')
  program
    .description('Aspen: a durable, replicated key-value cluster where every node is a libp2p peer.')
    .version(packageVersion(), '-V, --version', 'print the version of aspen')
    .helpOption('-h, --help', 'show help for a command')
    .configureOutput({
      writeOut: (s) => { deps.io.stdout.write(s) },
      // Commander's own error text is replaced by our one-line form in runCli.
      writeErr: () => {},
      outputError: () => {}
    })
    .exitOverride()
    .showSuggestionAfterError(true)
    .addHelpText('after', ROOT_HELP + '\n' + EXIT_CODES_HELP)
  trackSubcommands(program, state)
  registerInit(program, deps, state)
  registerStart(program, deps, state)
  registerCluster(program, deps, state)
  registerKv(program, deps, state)
  registerLease(program, deps, state)
  registerOps(program, deps, state)
  return program
}

/** One-line form of commander's own usage errors. */
function commanderLine (err: CommanderError, state: RunState): string {
  const path = commandPath(state.current)
  if (err.code === 'commander.help') {
    return `error: \`${path}\` needs a command — run \`${path} --help\` to see them`
  }
  const what = err.message.replace(/^error:\s*/i, '').replace(/\s*\n\s*/g, ' ').trim().replace(/\.$/, '')
  return `error: ${what} — run \`${path} --help\` for usage`
}

/** Runs the CLI on argv (without "node main.js") and returns the exit code. Never throws. */
export async function runCli (argv: readonly string[], deps: CliDeps): Promise<number> {
  const state: RunState = { secrets: [], exitCode: EXIT.ok, current: undefined }
  const debug = deps.io.env.ASPEN_DEBUG === '1'
  try {
    const program = buildProgram(deps, state)
    state.current = program
    await program.parseAsync([...argv], { from: 'user' })
    return state.exitCode
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return EXIT.ok
      deps.io.stderr.write(commanderLine(err, state) + '\n')
      return EXIT.usage
    }
    deps.io.stderr.write(formatErrorLine(err, state.secrets) + '\n')
    if (debug && err instanceof Error && err.stack !== undefined) {
      deps.io.stderr.write(redactSecrets(err.stack, state.secrets) + '\n')
    }
    return exitCodeFor(err)
  }
}
