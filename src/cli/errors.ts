// The CLI's error vocabulary and its single mapping to exit codes and the one line printed on stderr:
// "error: <what went wrong> — <what to do>". Everything the CLI prints for a failure goes through here.

import { AspenError } from '../errors.js'
import { redactSecrets } from '../node/config.js'

/** Exit codes of `aspen`; scripts may rely on them. */
export const EXIT = Object.freeze({
  ok: 0,
  /** Operational failure: no quorum, timeout, node not running, not available in this build, ... */
  failure: 1,
  /** Bad usage or bad configuration: nothing was attempted. */
  usage: 2,
  /** `kv get`: the key does not exist. */
  notFound: 3,
  /** `kv cas` / `kv txn`: the compare did not hold, nothing was written. */
  compareFailed: 4,
  /** Interrupted by SIGINT/SIGTERM. */
  interrupted: 130
})
export type ExitCode = typeof EXIT[keyof typeof EXIT]

/** The command line is wrong (missing/extra/conflicting arguments). Exit code 2. */
export class UsageError extends AspenError {
  readonly code = 'USAGE'
  readonly hint: string
  constructor (message: string, hint: string) {
    super(message)
    this.hint = hint
  }
}

/** The command exists but this build does not have it wired to a node/client yet. Exit code 1. */
export class NotAvailableError extends AspenError {
  readonly code = 'NOT_AVAILABLE'
  readonly hint = 'this build of aspen does not implement it yet; see `aspen --help` for what works'
  constructor (command: string) {
    super(`\`aspen ${command}\` is not available yet`)
  }
}

/** A local command could not find what it needs (running node, file, ...). Exit code 1. */
export class CliFailure extends AspenError {
  readonly code = 'CLI_FAILURE'
  readonly hint: string
  constructor (message: string, hint: string) {
    super(message)
    this.hint = hint
  }
}

/** `kv get` found no such key. Exit code 3. */
export class KeyNotFoundError extends AspenError {
  readonly code = 'KEY_NOT_FOUND'
  readonly hint = 'check the key, or list keys with `aspen kv scan <prefix>`'
}

/** `kv cas` / `kv txn` compare did not hold. Exit code 4. */
export class CompareFailedError extends AspenError {
  readonly code = 'COMPARE_FAILED'
  readonly hint: string
  constructor (message: string, hint: string) {
    super(message)
    this.hint = hint
  }
}

/** What to do, for error codes of other layers that carry no hint of their own. */
const HINTS_BY_CODE: Readonly<Record<string, string>> = {
  NO_QUORUM: 'check that a majority of the voters is running and reachable (`aspen cluster status`)',
  NOT_LEADER: 'retry; if it persists check `aspen cluster status` for the leader',
  TIMEOUT: 'retry, or raise --timeout; check `aspen cluster health`',
  KEY_TOO_LARGE: 'keys are at most 1 KiB',
  VALUE_TOO_LARGE: 'values are at most 1 MiB',
  REQUEST_TOO_LARGE: 'split the request',
  TOO_MANY_OPS: 'a transaction has at most 128 operations; split it',
  PAGE_TOO_LARGE: 'lower --limit',
  INVALID_REQUEST: 'check the command arguments',
  CONFIG: 'fix the configuration',
  CONFIG_EXISTS: 'pass --force to overwrite it',
  INVARIANT: 'this is a bug; rerun with ASPEN_DEBUG=1 and report the output'
}

function codeOf (err: unknown): string | undefined {
  if (err instanceof AspenError) return err.code
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return undefined
}

function isAbort (err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || codeOf(err) === 'ABORT_ERR')
}

/** The exit code for an error that reached the top-level handler. */
export function exitCodeFor (err: unknown): ExitCode {
  if (isAbort(err)) return EXIT.interrupted
  switch (codeOf(err)) {
    case 'USAGE':
    case 'CONFIG':
    case 'CONFIG_EXISTS':
      return EXIT.usage
    case 'KEY_NOT_FOUND':
      return EXIT.notFound
    case 'COMPARE_FAILED':
      return EXIT.compareFailed
    default:
      return EXIT.failure
  }
}

/** Collapses whitespace so a message always fits on one line. */
function oneLine (s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').replace(/\s+/g, ' ').trim()
}

/**
 * The single stderr line for an error: "error: <what went wrong> — <what to do>". Known secrets are scrubbed
 * as a last line of defence (messages are built not to contain them in the first place).
 */
export function formatErrorLine (err: unknown, secrets: readonly string[] = []): string {
  let what: string
  let hint: string | undefined
  if (isAbort(err)) {
    what = 'interrupted'
    hint = 'nothing more was sent; a request already sent may still have been applied'
  } else if (err instanceof Error) {
    what = err.message
    const own = (err as { hint?: unknown }).hint
    hint = typeof own === 'string' ? own : HINTS_BY_CODE[codeOf(err) ?? ''] ?? 'rerun with ASPEN_DEBUG=1 for details'
    if (!(err instanceof AspenError) && codeOf(err) === undefined) {
      what = `unexpected failure: ${err.message}`
      hint = 'this is a bug; rerun with ASPEN_DEBUG=1 and report the output'
    }
  } else {
    what = `unexpected failure: ${String(err)}`
    hint = 'this is a bug; rerun with ASPEN_DEBUG=1 and report the output'
  }
  const line = `error: ${oneLine(what)}${hint === undefined || hint === '' ? '' : ` — ${oneLine(hint)}`}`
  return redactSecrets(line, secrets)
}
