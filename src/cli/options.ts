// Option parsers and the option sets several commands share. Parsers throw commander's InvalidArgumentError so
// a bad value becomes a one-line usage error (exit code 2) naming the option.

import { type Command, InvalidArgumentError, Option } from 'commander'
import { MAX_NODE_ID, MAX_VOTERS_LIMIT } from '../node/config.js'

/** Parses a strictly positive integer no larger than `max`. */
export function positiveInt (max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    if (!/^[0-9]{1,16}$/.test(value.trim())) throw new InvalidArgumentError('expected a positive integer.')
    const n = Number(value.trim())
    if (n < 1 || n > max) throw new InvalidArgumentError(`expected an integer from 1 to ${max}.`)
    return n
  }
}

/** Parses a non-negative integer no larger than `max`. */
export function nonNegativeInt (max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    if (!/^[0-9]{1,16}$/.test(value.trim())) throw new InvalidArgumentError('expected a non-negative integer.')
    const n = Number(value.trim())
    if (n > max) throw new InvalidArgumentError(`expected an integer from 0 to ${max}.`)
    return n
  }
}

/** Parses a node id (1 to 2^32-1). */
export const nodeIdArg = positiveInt(MAX_NODE_ID)

/** Parses "1,2,3" into distinct node ids (at most the voter limit). */
export function nodeIdList (value: string): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (parts.length === 0) throw new InvalidArgumentError('expected a comma-separated list of node ids, e.g. 1,2,3.')
  if (parts.length > MAX_VOTERS_LIMIT) throw new InvalidArgumentError(`at most ${MAX_VOTERS_LIMIT} node ids.`)
  const ids = parts.map((p) => nodeIdArg(p))
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError('a node id is listed twice.')
  return ids
}

/** Appends each use of a repeatable option to a list. */
export function collect (value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** Options shared by every command that talks to a cluster. */
export interface TargetOptions {
  dataDir?: string
  ticket?: string
  cookie?: string
  cookieFile?: string
  timeout?: number
  json?: boolean
}

/** Adds --data-dir | --ticket, the cookie options, --timeout and --json to a command. */
export function addTargetOptions (cmd: Command): Command {
  return cmd
    .addOption(new Option('--data-dir <dir>',
      'reach the node running from this data dir on this machine (reads DIR/run/node.json for its address and DIR/config.toml for the cookie); env ASPEN_DATA_DIR'))
    .addOption(new Option('--ticket <ticket>',
      'reach a cluster through an aspen1… ticket (from `aspen cluster ticket`); needs the cookie; env ASPEN_TICKET')
      .conflicts('dataDir'))
    .addOption(new Option('--cookie <cookie>',
      'cluster cookie (visible to other users in `ps`: prefer --cookie-file or ASPEN_COOKIE)').conflicts('cookieFile'))
    .addOption(new Option('--cookie-file <file>', 'file holding the cluster cookie; env ASPEN_COOKIE_FILE'))
    .addOption(new Option('--timeout <ms>',
      'deadline of each request in milliseconds (default: request_timeout_ms of the local config, else 5000)')
      .argParser(positiveInt(600_000)))
    .addOption(new Option('--json', 'print machine-readable JSON on stdout'))
}

/** Adds --force for cluster-control commands whose safety checks it overrides. */
export function addForceOption (cmd: Command, what: string): Command {
  return cmd.addOption(new Option('--force', `override the safety checks (${what}); the override is logged on the leader`))
}

/** Help text listing the exit codes, appended to commands. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  operational failure (no quorum, timeout, node not running, not available yet, ...)
  2  usage or configuration error (nothing was attempted)
  3  key not found (kv get)
  4  compare failed, nothing written (kv cas, kv txn)`

/** Help text on how a command finds the cluster. */
export const TARGET_HELP = `
Reaching a cluster:
  --data-dir DIR           a node started with \`aspen start --data-dir DIR\` on this machine
  --ticket T + cookie      any cluster: the cookie from --cookie-file F, ASPEN_COOKIE or --cookie C
Every request has a deadline (--timeout, default 5000 ms); on no quorum, no leader or timeout the command
fails with exit code 1 instead of hanging.`
