// Shared helpers of the CLI tests: run the built `aspen` as a real process, or runCli in-process with a fake io.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import type { CliActions } from '../../../src/cli/actions.js'
import { notWiredActions } from '../../../src/cli/actions.js'
import type { CliIo } from '../../../src/cli/io.js'
import { InputTooLargeError } from '../../../src/cli/io.js'
import { runCli } from '../../../src/cli/program.js'

/** Repository root (this file runs from dist/test/unit/cli/). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
/** Node 24 from node_modules (the system node may be older). */
export const NODE = join(ROOT, 'node_modules', '.bin', 'node')
export const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js')

export interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `node dist/src/cli/main.js ...args` with a clean ASPEN_* environment; kills it after 20 s. */
export async function spawnAspen (args: readonly string[], opts: { cwd?: string, env?: Record<string, string>, stdin?: string } = {}): Promise<Ran> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('ASPEN_')) env[k] = v
  return await new Promise((resolve, reject) => {
    const child = spawn(NODE, [MAIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    child.stdin.end(opts.stdin ?? '')
  })
}

/** Runs async jobs with at most `limit` in flight, preserving order of results. */
export async function pool<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** What an in-process run printed. */
export interface InProcess {
  code: number
  stdout: Buffer
  stderr: string
}

export interface FakeIoOptions {
  stdin?: Uint8Array
  stdinIsTTY?: boolean
  stdoutIsTTY?: boolean
  env?: Record<string, string>
  cwd?: string
}

/** An in-memory CliIo and what was written to it. */
export function fakeIo (opts: FakeIoOptions = {}): { io: CliIo, stdout: () => Buffer, stderr: () => string } {
  const out: Buffer[] = []
  let err = ''
  const controller = new AbortController()
  const io: CliIo = {
    stdout: { write: (c) => { out.push(Buffer.from(c)) }, isTTY: opts.stdoutIsTTY ?? false },
    stderr: { write: (c) => { err += Buffer.from(c).toString() }, isTTY: false },
    stdin: {
      isTTY: opts.stdinIsTTY ?? opts.stdin === undefined,
      readAll: async (maxBytes) => {
        const data = opts.stdin ?? new Uint8Array(0)
        if (data.length > maxBytes) throw new InputTooLargeError(maxBytes)
        return data
      }
    },
    env: opts.env ?? {},
    cwd: opts.cwd ?? ROOT,
    interruptSignal: () => controller.signal
  }
  return { io, stdout: () => Buffer.concat(out), stderr: () => err }
}

/** Runs runCli in-process with the given actions overrides, stdin bytes and environment. */
export async function runInProcess (argv: readonly string[], opts: FakeIoOptions & { actions?: Partial<CliActions> } = {}): Promise<InProcess> {
  const { io, stdout, stderr } = fakeIo(opts)
  const actions: CliActions = { ...notWiredActions(), ...opts.actions }
  const code = await runCli(argv, { actions, io })
  return { code, stdout: stdout(), stderr: stderr() }
}

/** A ticket target usable in-process (the cookie is only checked for length). */
export const TICKET_ARGS: readonly string[] = ['--ticket', 'aspen1testticket', '--cookie', 'cli-test-cookie-0123456789']
