// `aspen init`: writes DATA_DIR/config.toml (mode 0600) and creates the node identity. Fully implemented here;
// only identity creation comes from the rest of Aspen, through CliActions.createIdentity.

import { resolve } from 'node:path'
import { type Command, Option } from 'commander'
import {
  multiaddrProblem, parseHttpAddress, readCookieFile, ticketProblem, validateCookie, writeInitialConfig, MAX_NODE_ID
} from '../node/config.js'
import { RAFT_PROFILE_NAMES } from '../node/profiles.js'
import { UsageError } from './errors.js'
import { printJson, printLine } from './format.js'
import { collect, nonNegativeInt, positiveInt } from './options.js'
import type { CliDeps, RunState } from './program.js'

interface InitOptions {
  dataDir?: string
  nodeId: number
  cookie?: string
  cookieFile?: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  relay?: boolean
  profile?: string
  http?: string
  logLevel?: string
  cooldown?: number
  force?: boolean
  json?: boolean
}

/** Throws a UsageError naming the option when an address is not a multiaddr (or ticket, when allowed). */
function checkAddrs (option: string, items: readonly string[] | undefined, allowTickets: boolean): void {
  for (const s of items ?? []) {
    if (allowTickets && s.startsWith('aspen1')) {
      const problem = ticketProblem(s)
      if (problem !== undefined) throw new UsageError(`${option}: not a valid ticket (${problem})`, 'copy it again from `aspen cluster ticket`')
      continue
    }
    const problem = multiaddrProblem(s)
    if (problem !== undefined) {
      throw new UsageError(`${option} ${JSON.stringify(s)} is not a valid multiaddr (${problem})`, 'use a form like /ip4/127.0.0.1/tcp/4001')
    }
  }
}

/** Registers `aspen init`. */
export function registerInit (program: Command, deps: CliDeps, state: RunState): void {
  program.command('init')
    .summary('create a node: write DATA_DIR/config.toml and the node identity')
    .description('Create a new node in a data directory: writes DATA_DIR/config.toml (mode 0600, because it holds ' +
      'the cluster cookie) and the node identity (an Ed25519 key, DATA_DIR/identity.key).\n\n' +
      'Without --cookie or --cookie-file a strong random cookie (32 bytes) is generated; every node of a cluster ' +
      'needs the same cookie. Refuses to overwrite an existing config.toml unless --force is given (exit code 2).\n' +
      'Nothing starts: run `aspen start --data-dir DIR` next.')
    .addOption(new Option('--data-dir <dir>', 'data directory to create (required; env ASPEN_DATA_DIR)'))
    .addOption(new Option('--node-id <n>', 'this node\'s id in the cluster, a positive integer unique in the cluster')
      .argParser(positiveInt(MAX_NODE_ID)).default(1))
    .addOption(new Option('--cookie <cookie>', 'cluster cookie to use (at least 16 characters; visible in `ps`: ' +
      'prefer --cookie-file); default: generate one; env ASPEN_COOKIE').conflicts('cookieFile'))
    .addOption(new Option('--cookie-file <file>', 'file holding the cluster cookie; config.toml then refers to the ' +
      'file instead of holding the cookie; env ASPEN_COOKIE_FILE'))
    .addOption(new Option('--listen <multiaddr>', 'libp2p address to listen on, repeatable ' +
      '(default: /ip4/127.0.0.1/tcp/0, a free port on loopback)').argParser(collect))
    .addOption(new Option('--announce <multiaddr>', 'extra address to advertise to peers, repeatable').argParser(collect))
    .addOption(new Option('--bootstrap <multiaddr|ticket>', 'peer to dial at start-up: a multiaddr or an aspen1… ticket, repeatable').argParser(collect))
    .addOption(new Option('--relay', 'act as a circuit relay for nodes behind NAT (default: off)'))
    .addOption(new Option('--profile <name>', 'raft timing: fast (heartbeat 30 ms, election 100–200 ms; loopback tests), ' +
      'balanced (100 ms, 500–1000 ms), conservative (500 ms, 1500–3000 ms; WAN and relays)')
      .choices(RAFT_PROFILE_NAMES).default('balanced'))
    .addOption(new Option('--http <host:port>', 'address of /healthz /readyz /status /metrics; port 0 picks a free port, ' +
      '"off" disables').default('127.0.0.1:0'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'))
    .addOption(new Option('--cooldown <seconds>', 'minimum seconds between voter-set changes (safety.cooldown_s; ' +
      'tests that change voters often use 0)').argParser(nonNegativeInt(30 * 24 * 3600)).default(300))
    .addOption(new Option('--force', 'overwrite an existing config.toml (a new cookie is generated unless --cookie or --cookie-file is given)'))
    .addOption(new Option('--json', 'print the result as JSON'))
    .addHelpText('after', '\nExit codes: 0 created, 2 bad option or config.toml already exists (use --force), 1 other failure.\n\n' +
      'Example:\n  aspen init --data-dir ./n1 --node-id 1 --profile fast')
    .action(async (o: InitOptions) => {
      const { io } = deps
      const dataDir = o.dataDir ?? (io.env.ASPEN_DATA_DIR === '' ? undefined : io.env.ASPEN_DATA_DIR)
      if (dataDir === undefined) throw new UsageError('init needs --data-dir', 'pass --data-dir DIR (the directory to create)')
      const dir = resolve(io.cwd, dataDir)

      let cookie: string | undefined
      let cookieFile: string | undefined
      if (o.cookie !== undefined) {
        state.secrets.push(o.cookie)
        cookie = validateCookie(o.cookie, '--cookie', 'pass a cookie of at least 16 characters, or omit it to generate one')
      } else if (o.cookieFile !== undefined) {
        cookieFile = resolve(io.cwd, o.cookieFile)
        state.secrets.push(readCookieFile(cookieFile, '--cookie-file'))
      } else if (io.env.ASPEN_COOKIE !== undefined && io.env.ASPEN_COOKIE !== '') {
        state.secrets.push(io.env.ASPEN_COOKIE)
        cookie = validateCookie(io.env.ASPEN_COOKIE, 'ASPEN_COOKIE', 'fix or unset the ASPEN_COOKIE environment variable')
      } else if (io.env.ASPEN_COOKIE_FILE !== undefined && io.env.ASPEN_COOKIE_FILE !== '') {
        cookieFile = resolve(io.cwd, io.env.ASPEN_COOKIE_FILE)
        state.secrets.push(readCookieFile(cookieFile, 'ASPEN_COOKIE_FILE'))
      }
      checkAddrs('--listen', o.listen, false)
      checkAddrs('--announce', o.announce, false)
      checkAddrs('--bootstrap', o.bootstrap, true)
      if (o.http !== undefined && parseHttpAddress(o.http) === undefined) {
        throw new UsageError(`--http ${JSON.stringify(o.http)} is not HOST:PORT or "off"`, 'use e.g. 127.0.0.1:8080 (port 0 picks a free port)')
      }

      const result = await writeInitialConfig(dir, {
        nodeId: o.nodeId,
        cookie,
        cookieFile,
        listen: o.listen,
        announce: o.announce,
        bootstrap: o.bootstrap,
        relay: o.relay === true,
        profile: o.profile,
        http: o.http,
        logLevel: o.logLevel,
        cooldownS: o.cooldown,
        force: o.force === true
      })
      state.secrets.push(result.config.cookie)


      // mode 0600) so `aspen init` creates the identity now and prints the peer id. While it is null the node
      // creates its identity on first start.
      const identity = deps.actions.createIdentity === null ? null : await deps.actions.createIdentity(dir)

      if (o.json === true) {
        printJson(io, {
          nodeId: result.config.nodeId,
          dataDir: dir,
          configPath: result.path,
          peerId: identity?.peerId ?? null,
          cookieGenerated: result.cookieGenerated,
          cookieFile: result.config.cookieFile,
          overwritten: result.overwritten
        })
        return
      }
      printLine(io, `Initialised node ${result.config.nodeId} in ${dir}`)
      printLine(io, `  config   ${result.path} (mode 0600)${result.overwritten ? ', replaced the old one' : ''}`)
      printLine(io, `  peer id  ${identity?.peerId ?? 'created on first start'}`)
      printLine(io, `  raft     ${result.config.raft.profile} profile; http ${result.config.http.enabled ? result.config.http.address : 'off'}`)
      if (result.cookieGenerated) {
        printLine(io, '')
        printLine(io, 'A new random cluster cookie was generated and saved in config.toml (the `cookie = "…"` line).')
        printLine(io, 'Every node of this cluster needs the same cookie, and anyone who has it can join: keep it secret.')
        printLine(io, 'To share it, copy that value into a file (mode 0600) on the other machine and run there:')
        printLine(io, '  aspen init --data-dir DIR --node-id N --cookie-file FILE')
        printLine(io, 'Clients use it the same way: --cookie-file FILE or the ASPEN_COOKIE environment variable.')
      }
      printLine(io, '')
      printLine(io, `Next: aspen start --data-dir ${dir}`)
    })
}
