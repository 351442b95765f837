// What the Docker tests share: running commands with a deadline, a private dockerd in its own network namespace
// (scripts/docker/start-dockerd.sh), the registry-free base images, and a docker-compose project to drive.
// Everything runs against the daemon this harness starts; nothing touches the host's network or another daemon.
import { spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as pause } from 'node:timers/promises'

/** The repository root (this file runs from dist/test/docker/). */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..')
export const SCRIPTS = join(REPO_ROOT, 'scripts', 'docker')
export const DOCKER_DIR = join(REPO_ROOT, 'docker')

/** Largest output kept from one command; more is a sign of a runaway and is cut. */
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024
/** Pause between two polls of a condition. */
const POLL_MS = 500

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
  /** Kill the command (its whole process group) after this long; counts as exit code 124. */
  readonly timeoutMs: number
}

/** A command failed; carries its output so the assertion message shows why. */
export class CommandError extends Error {
  readonly code: number
  readonly stderr: string
  constructor (what: string, r: RunResult) {
    super(`${what} exited with ${r.code}: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-15).join('\n')}`)
    this.code = r.code
    this.stderr = r.stderr
  }
}

/** Runs a command to completion (never rejects for a non-zero exit), killing it at the deadline. */
export async function run (cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return await new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let bytes = 0
    const keep = (into: Buffer[]) => (b: Buffer): void => {
      if (bytes + b.length <= MAX_OUTPUT_BYTES) { into.push(b); bytes += b.length }
    }
    child.stdout.on('data', keep(out))
    child.stderr.on('data', keep(err))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      // Only the group this call started: the command and whatever it spawned.
      if (child.pid !== undefined) { try { process.kill(-child.pid, 'SIGKILL') } catch { /* already gone */ } }
    }, opts.timeoutMs)
    child.on('error', (e) => { clearTimeout(timer); reject(e) })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolveRun({
        code: timedOut ? 124 : (code ?? 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (timedOut ? `\n(killed after ${opts.timeoutMs} ms)` : '')
      })
    })
  })
}

/** Runs a command and throws CommandError unless it exits 0; returns its stdout. */
export async function mustRun (cmd: string, args: readonly string[], opts: RunOptions): Promise<string> {
  const r = await run(cmd, args, opts)
  if (r.code !== 0) throw new CommandError(`${cmd} ${args.join(' ')}`, r)
  return r.stdout
}

/** Polls `check` until it returns a value other than undefined, or throws naming `what` at the deadline. */
export async function waitFor<T> (what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (e) {
      last = e
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: last error: ${last.message}` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`)
    }
    await pause(POLL_MS)
  }
}

/**
 * Why Docker cannot run here at all, or undefined when it can. Installs the Debian packages when they are
 * missing (scripts/docker/install-docker.sh: idempotent, quiet when everything is there).
 */
export async function dockerUnavailableReason (): Promise<string | undefined> {
  if (process.platform !== 'linux') return `docker tests need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'docker tests need root (a private dockerd in its own network namespace)'
  const r = await run('bash', [join(SCRIPTS, 'install-docker.sh')], { timeoutMs: 10 * 60_000 })
  if (r.code === 3) return `docker cannot be installed here: ${r.stderr.trim()}`
  if (r.code !== 0) throw new CommandError('scripts/docker/install-docker.sh', r)
  return undefined
}

/** A dockerd of our own (scripts/docker/start-dockerd.sh), with its state under a temp dir. */
export class PrivateDocker {
  readonly stateDir: string
  readonly env: NodeJS.ProcessEnv

  private constructor (stateDir: string) {
    this.stateDir = stateDir
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${join(stateDir, 'docker.sock')}` }
    // Compose settings from the caller's shell must not redirect the tests to other files or projects.
    for (const k of ['COMPOSE_FILE', 'COMPOSE_PROJECT_NAME', 'COMPOSE_PROFILES', 'DOCKER_CONTEXT', 'DOCKER_BUILDKIT']) delete env[k]
    this.env = env
  }

  /** Starts the daemon; stop() must follow, also on failure. */
  static async start (): Promise<PrivateDocker> {
    const d = new PrivateDocker(await mkdtemp(join(tmpdir(), 'aspen-docker-test-')))
    await mustRun('bash', [join(SCRIPTS, 'start-dockerd.sh'), d.stateDir], { timeoutMs: 90_000 })
    return d
  }

  /** Builds node:24-bookworm-slim and aspen-router:bookworm without a registry (cached rootfs after the first run). */
  async buildBaseImages (): Promise<void> {
    await mustRun('bash', [join(SCRIPTS, 'build-base-image.sh')], { env: this.env, timeoutMs: 15 * 60_000 })
  }

  async docker (args: readonly string[], timeoutMs = 60_000): Promise<string> {
    return await mustRun('docker', args, { env: this.env, timeoutMs })
  }

  /** Stops the daemon and removes its namespace, mounts and state dir. */
  async stop (): Promise<void> {
    await run('bash', [join(SCRIPTS, 'stop-dockerd.sh'), this.stateDir], { timeoutMs: 120_000 })
  }
}

/** A docker-compose (v1 CLI, v2 behaves the same) project over one of the demo files. */
export class ComposeProject {
  readonly docker: PrivateDocker
  readonly file: string
  readonly project: string
  private readonly profiles: readonly string[]

  constructor (docker: PrivateDocker, file: string, project: string, profiles: readonly string[] = []) {
    this.docker = docker
    this.file = file
    this.project = project
    this.profiles = profiles
  }

  private base (): string[] {
    return ['-p', this.project, '-f', this.file, ...this.profiles.flatMap((p) => ['--profile', p])]
  }

  /** Runs `docker-compose ARGS` for this project; resolves the result whatever the exit code. */
  async compose (args: readonly string[], timeoutMs = 300_000): Promise<RunResult> {
    return await run('docker-compose', [...this.base(), ...args], { env: this.docker.env, timeoutMs, cwd: DOCKER_DIR })
  }

  /** Runs `docker-compose ARGS` and throws unless it exits 0; returns stdout. */
  async must (args: readonly string[], timeoutMs = 300_000): Promise<string> {
    const r = await this.compose(args, timeoutMs)
    if (r.code !== 0) throw new CommandError(`docker-compose ${args.join(' ')}`, r)
    return r.stdout
  }

  /**
   * Runs a command in a running service container, like `docker-compose exec -T` but through the docker CLI
   * (a Go binary: ~10x quicker to start than docker-compose v1, which matters for hundreds of calls).
   */
  async exec (service: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    const id = await this.containerId(service)
    if (id === undefined) return { code: 1, stdout: '', stderr: `service ${service} has no container` }
    return await run('docker', ['exec', id, ...args], { env: this.docker.env, timeoutMs })
  }

  /** Runs a command with `docker-compose exec -T`, exactly as the walk-through does. */
  async composeExec (service: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return await this.compose(['exec', '-T', service, ...args], timeoutMs)
  }

  /** `aspen ARGS` inside `service`, which must succeed; returns stdout. */
  async aspen (service: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const r = await this.exec(service, ['aspen', ...args], timeoutMs)
    if (r.code !== 0) throw new CommandError(`${service}: aspen ${args.join(' ')}`, r)
    return r.stdout
  }

  /** The container id of a service (running or not), or undefined when it has none; found by Compose's labels. */
  async containerId (service: string): Promise<string | undefined> {
    const id = (await this.docker.docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${this.project}`,
      '--filter', `label=com.docker.compose.service=${service}`])).trim()
    return id === '' ? undefined : id.split('\n')[0]
  }

  /** Waits until a one-shot service's container has exited and returns its exit code. */
  async waitExited (service: string, timeoutMs: number): Promise<number> {
    return await waitFor(`service ${service} to finish`, timeoutMs, async () => {
      const id = await this.containerId(service)
      if (id === undefined) return undefined
      const state = JSON.parse(await this.docker.docker(['inspect', '--format', '{{json .State}}', id])) as { Status: string, ExitCode: number }
      return state.Status === 'exited' ? state.ExitCode : undefined
    })
  }

  /** The last lines of a service's log, for failure messages. */
  async logs (service: string, lines = 40): Promise<string> {
    const r = await this.compose(['logs', '--no-color', '--tail', String(lines), service], 60_000)
    return r.stdout + r.stderr
  }

  /** `down` (and -v removes the volumes); never throws, for clean-up paths. */
  async down (removeVolumes: boolean): Promise<RunResult> {
    return await this.compose(['down', '--remove-orphans', ...(removeVolumes ? ['-v'] : [])], 300_000)
  }
}
