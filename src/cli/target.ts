// Turns the shared options (--data-dir | --ticket, cookie, --timeout) into the RequestContext every cluster
// call gets. A local data dir gives the cookie (config.toml) and the running node's address (run/node.json);
// a ticket needs the cookie from --cookie, --cookie-file, ASPEN_COOKIE or ASPEN_COOKIE_FILE.

import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import {
  DEFAULT_REQUEST_TIMEOUT_MS, loadConfig, readCookieFile, ticketProblem, validateCookie
} from '../node/config.js'
import { runInfoPath } from '../node/run-info.js'
import type { ClusterTarget, RequestContext } from './actions.js'
import { CliFailure, UsageError } from './errors.js'
import type { CliIo } from './io.js'
import type { TargetOptions } from './options.js'

export { runInfoPath }

/** The cookie from --cookie, --cookie-file, ASPEN_COOKIE or ASPEN_COOKIE_FILE (first given wins), validated. */
function cookieFromOptions (io: CliIo, o: TargetOptions): string | undefined {
  if (o.cookie !== undefined) return validateCookie(o.cookie, '--cookie', 'pass the cluster cookie (at least 16 characters)')
  if (o.cookieFile !== undefined) return readCookieFile(resolve(io.cwd, o.cookieFile), '--cookie-file')
  const envCookie = io.env.ASPEN_COOKIE
  if (envCookie !== undefined && envCookie !== '') return validateCookie(envCookie, 'ASPEN_COOKIE', 'fix or unset the ASPEN_COOKIE environment variable')
  const envFile = io.env.ASPEN_COOKIE_FILE
  if (envFile !== undefined && envFile !== '') return readCookieFile(resolve(io.cwd, envFile), 'ASPEN_COOKIE_FILE')
  return undefined
}

/** Resolves the target; `secrets` collects the cookie so the error handler can scrub it from any message. */
export function resolveTarget (io: CliIo, o: TargetOptions, secrets: string[]): { target: ClusterTarget, timeoutMs: number } {
  let dataDir = o.dataDir
  let ticket = o.ticket
  if (dataDir === undefined && ticket === undefined) {
    const envDir = io.env.ASPEN_DATA_DIR
    const envTicket = io.env.ASPEN_TICKET
    if (envDir !== undefined && envDir !== '' && envTicket !== undefined && envTicket !== '') {
      throw new UsageError('both ASPEN_DATA_DIR and ASPEN_TICKET are set', 'unset one, or pass --data-dir or --ticket')
    }
    if (envDir !== undefined && envDir !== '') dataDir = envDir
    else if (envTicket !== undefined && envTicket !== '') ticket = envTicket
  }
  if (dataDir === undefined && ticket === undefined) {
    throw new UsageError('no cluster to talk to', 'pass --data-dir DIR of a node running here, or --ticket TICKET with the cookie')
  }

  if (dataDir !== undefined) {
    const dir = resolve(io.cwd, dataDir)
    const flags = { cookie: o.cookie, cookieFile: o.cookieFile }
    if (o.cookie !== undefined) secrets.push(o.cookie)
    const config = loadConfig(dir, io.env, flags, io.cwd)
    secrets.push(config.cookie)
    const info = runInfoPath(dir)
    if (!existsSync(info)) {
      throw new CliFailure(`no running node found in ${dir} (${info} is missing)`,
        `start it with \`aspen start --data-dir ${dir}\`, or reach the cluster with --ticket`)
    }
    return {
      target: { kind: 'local', dataDir: dir, runInfoPath: info, cookie: config.cookie },
      timeoutMs: o.timeout ?? config.requestTimeoutMs
    }
  }

  const t = (ticket ?? '').trim()
  const problem = ticketProblem(t)
  if (problem !== undefined) throw new UsageError(`--ticket is not a valid ticket (${problem})`, 'copy it again from `aspen cluster ticket`')
  if (o.cookie !== undefined) secrets.push(o.cookie)
  if (io.env.ASPEN_COOKIE !== undefined) secrets.push(io.env.ASPEN_COOKIE)
  const cookie = cookieFromOptions(io, o)
  if (cookie === undefined) {
    throw new UsageError('--ticket needs the cluster cookie', 'pass --cookie-file FILE, set ASPEN_COOKIE, or pass --cookie COOKIE')
  }
  secrets.push(cookie)
  return { target: { kind: 'ticket', ticket: t, cookie }, timeoutMs: o.timeout ?? DEFAULT_REQUEST_TIMEOUT_MS }
}

/** The RequestContext for a command: target, deadline and the interrupt signal. */
export function requestContext (io: CliIo, o: TargetOptions, secrets: string[]): RequestContext {
  const { target, timeoutMs } = resolveTarget(io, o, secrets)
  return { target, timeoutMs, signal: io.interruptSignal() }
}
