// The CLI's view of the process: streams, environment, working directory and interrupts, injected so commands
// can run in-process in tests. Also reads binary-safe input (argument, file or stdin) under an explicit limit.

import { open, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { AspenError } from '../errors.js'
import type { Env } from '../node/config.js'
import { CliFailure, UsageError } from './errors.js'

/** A stream the CLI writes to. */
export interface OutStream {
  write (chunk: string | Uint8Array): void
  readonly isTTY: boolean
}

/** Everything the CLI touches of the process. */
export interface CliIo {
  readonly stdout: OutStream
  readonly stderr: OutStream
  readonly stdin: {
    readonly isTTY: boolean
    /** Reads stdin to its end; rejects with the byte count seen so far once more than maxBytes arrive. */
    readAll (maxBytes: number): Promise<Uint8Array>
  }
  readonly env: Env
  readonly cwd: string
  /** A signal aborted on the first SIGINT/SIGTERM (handlers installed on first call; a second signal exits). */
  interruptSignal (): AbortSignal
}

/** Input larger than the allowed limit (raised by readAll, turned into a UsageError by readStdin). */
export class InputTooLargeError extends AspenError {
  readonly code = 'INPUT_TOO_LARGE'
  constructor (readonly limit: number) {
    super(`input larger than ${limit} bytes`)
  }
}

/** The real process. */
export function processIo (): CliIo {
  let controller: AbortController | undefined
  return {
    stdout: { write: (c) => { process.stdout.write(c) }, isTTY: process.stdout.isTTY === true },
    stderr: { write: (c) => { process.stderr.write(c) }, isTTY: process.stderr.isTTY === true },
    stdin: {
      isTTY: process.stdin.isTTY === true,
      readAll: async (maxBytes) => {
        const chunks: Buffer[] = []
        let total = 0
        for await (const chunk of process.stdin) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer
          total += buf.length
          if (total > maxBytes) {
            process.stdin.destroy()
            throw new InputTooLargeError(maxBytes)
          }
          chunks.push(buf)
        }
        return new Uint8Array(Buffer.concat(chunks, total))
      }
    },
    env: process.env,
    cwd: process.cwd(),
    interruptSignal: () => {
      if (controller === undefined) {
        const c = new AbortController()
        controller = c
        const onSignal = (sig: NodeJS.Signals): void => {
          // The first signal asks the running command to stop; a second one means "now".
          if (c.signal.aborted) process.exit(130)
          c.abort(new DOMException(`received ${sig}`, 'AbortError'))
        }
        process.on('SIGINT', onSignal)
        process.on('SIGTERM', onSignal)
      }
      return controller.signal
    }
  }
}

/** Copies bytes into a plain Uint8Array (not a Buffer, not a view into a shared pool). */
export function toBytes (b: Uint8Array): Uint8Array {
  return new Uint8Array(b)
}

/** UTF-8 bytes of a command-line argument. */
export function utf8 (s: string): Uint8Array {
  return toBytes(Buffer.from(s, 'utf8'))
}

/** Reads a whole file (or stdin for "-") as bytes, refusing anything over maxBytes. */
export async function readInputFile (io: CliIo, file: string, maxBytes: number, what: string): Promise<Uint8Array> {
  if (file === '-') return await readStdin(io, maxBytes, what)
  const path = resolve(io.cwd, file)
  let size: number
  try {
    const st = await stat(path)
    if (!st.isFile()) throw new CliFailure(`${path} is not a regular file`, `pass a file for ${what}`)
    size = st.size
  } catch (e) {
    if (e instanceof CliFailure) throw e
    throw new CliFailure(`cannot read ${path} (${errCode(e)})`, `check the path given for ${what}`)
  }
  if (size > maxBytes) throw new UsageError(`${what} in ${path} is ${size} bytes, over the ${maxBytes}-byte limit`, 'use a smaller input')
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(maxBytes + 1)
    let n = 0
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n)
      if (bytesRead === 0) break
      n += bytesRead
    }
    if (n > maxBytes) throw new UsageError(`${what} in ${path} is over the ${maxBytes}-byte limit`, 'use a smaller input')
    return toBytes(buf.subarray(0, n))
  } finally {
    await fh.close()
  }
}

/** Reads stdin to its end as bytes, refusing anything over maxBytes. */
export async function readStdin (io: CliIo, maxBytes: number, what: string): Promise<Uint8Array> {
  try {
    return toBytes(await io.stdin.readAll(maxBytes))
  } catch (e) {
    if (e instanceof InputTooLargeError) throw new UsageError(`${what} on stdin is over the ${maxBytes}-byte limit`, 'use a smaller input')
    throw e
  }
}

/**
 * The value of a write: the argument, else --file (or "-" for stdin), else piped stdin. Binary-safe; at most
 * maxBytes. Usage error when it is given twice or not at all.
 */
export async function readValue (io: CliIo, opts: { arg?: string, file?: string, maxBytes: number, what: string }): Promise<Uint8Array> {
  if (opts.arg !== undefined && opts.file !== undefined) {
    throw new UsageError(`${opts.what} given both as an argument and with --file`, 'give it one way only')
  }
  if (opts.arg !== undefined) {
    const bytes = utf8(opts.arg)
    if (bytes.length > opts.maxBytes) throw new UsageError(`${opts.what} is ${bytes.length} bytes, over the ${opts.maxBytes}-byte limit`, 'use a smaller value')
    return bytes
  }
  if (opts.file !== undefined) return await readInputFile(io, opts.file, opts.maxBytes, opts.what)
  if (io.stdin.isTTY) {
    throw new UsageError(`missing ${opts.what}`, 'give it as an argument, with --file FILE, or pipe it on stdin')
  }
  return await readStdin(io, opts.maxBytes, opts.what)
}

function errCode (e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'unreadable'
}
