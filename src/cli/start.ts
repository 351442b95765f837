// `aspen start`: loads the node's config (config.toml, then ASPEN_* env, then these flags) and runs the node in
// the foreground through CliActions.startNode until SIGTERM/SIGINT stops it.

import { resolve } from 'node:path'
import { type Command, Option } from 'commander'
import { type ConfigFlags, loadConfig } from '../node/config.js'
import { RAFT_PROFILE_NAMES } from '../node/profiles.js'
import { UsageError } from './errors.js'
import { collect } from './options.js'
import type { CliDeps, RunState } from './program.js'

interface StartOptions {
  dataDir?: string
  bootstrap?: string[]
  listen?: string[]
  announce?: string[]
  relay?: boolean
  http?: string
  profile?: string
  logLevel?: string
  cookie?: string
  cookieFile?: string
}

/** Registers `aspen start`. */
export function registerStart (program: Command, deps: CliDeps, state: RunState): void {
  program.command('start')
    .summary('run a node in the foreground')
    .description('Run the node whose data directory is DATA_DIR in the foreground until SIGTERM or SIGINT ' +
      '(Ctrl-C) stops it gracefully: it stops taking requests, finishes those in flight, hands leadership over if ' +
      'it leads, and closes its database; a second signal exits at once.\n\n' +
      'Configuration comes from DATA_DIR/config.toml, overridden by ASPEN_* environment variables, overridden by ' +
      'the options below. While running, the node writes DATA_DIR/run/node.json (peer id, listen and http ' +
      'addresses) and DATA_DIR/run/ticket so local commands (`--data-dir DIR`) find it. Logs go to stderr ' +
      '(pretty on a terminal, JSON lines otherwise).\n' +
      'Restarting with the same data dir brings back the same node id, peer id and data; it rejoins on its own.')
    .addOption(new Option('--data-dir <dir>', 'data directory made by `aspen init` (required; env ASPEN_DATA_DIR)'))
    .addOption(new Option('--bootstrap <multiaddr|ticket>', 'peer to dial at start-up, repeatable; replaces ' +
      'bootstrap from config.toml (env ASPEN_BOOTSTRAP, comma-separated)').argParser(collect))
    .addOption(new Option('--listen <multiaddr>', 'address to listen on, repeatable; replaces listen from config.toml (env ASPEN_LISTEN)').argParser(collect))
    .addOption(new Option('--announce <multiaddr>', 'extra address to advertise, repeatable (env ASPEN_ANNOUNCE)').argParser(collect))
    .addOption(new Option('--relay', 'also serve as a circuit relay for nodes behind NAT (env ASPEN_RELAY=1)'))
    .addOption(new Option('--http <host:port>', 'address of /healthz /readyz /status /metrics; port 0 picks a free one, "off" disables (env ASPEN_HTTP)'))
    .addOption(new Option('--profile <name>', 'raft timing profile (env ASPEN_PROFILE)').choices(RAFT_PROFILE_NAMES))
    .addOption(new Option('--log-level <level>', 'log level (env ASPEN_LOG_LEVEL)').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']))
    .addOption(new Option('--cookie <cookie>', 'cluster cookie, overriding config.toml (visible in `ps`: prefer ASPEN_COOKIE)').conflicts('cookieFile'))
    .addOption(new Option('--cookie-file <file>', 'file holding the cluster cookie, overriding config.toml (env ASPEN_COOKIE_FILE)'))
    .addHelpText('after', '\nExit codes: 0 stopped cleanly, 1 failed to start or crashed (the log says why), ' +
      '2 bad option or configuration (the message names the key).\n\nExample:\n  aspen start --data-dir ./n1 --bootstrap aspen1…')
    .action(async (o: StartOptions) => {
      const { io } = deps
      const dataDir = o.dataDir ?? (io.env.ASPEN_DATA_DIR === '' ? undefined : io.env.ASPEN_DATA_DIR)
      if (dataDir === undefined) throw new UsageError('start needs --data-dir', 'pass --data-dir DIR of a node made with `aspen init`')
      if (o.cookie !== undefined) state.secrets.push(o.cookie)
      const flags: ConfigFlags = {
        bootstrap: o.bootstrap,
        listen: o.listen,
        announce: o.announce,
        relay: o.relay,
        http: o.http,
        profile: o.profile,
        logLevel: o.logLevel,
        cookie: o.cookie,
        cookieFile: o.cookieFile
      }
      const config = loadConfig(resolve(io.cwd, dataDir), io.env, flags, io.cwd)
      state.secrets.push(config.cookie)
      for (const w of config.warnings) io.stderr.write(`warning: ${w}\n`)
      await deps.actions.startNode(config, { prettyLogs: io.stderr.isTTY })
    })
}
