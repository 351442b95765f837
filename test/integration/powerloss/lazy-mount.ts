// Drives scripts/fault/lazyfs.py: a FUSE mount over a backing directory that forgets every write not yet fsynced
// when the "power" is cut (see the model in lazyfs.py). One LazyMount = one mount lifetime: mount → cut → unmount.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '../../../..')
/** The FUSE filesystem script (run by Debian's python, which has python3-fusepy). */
export const LAZYFS = resolve(ROOT, 'scripts/fault/lazyfs.py')
const PYTHON = '/usr/bin/python3'
const MOUNT_TIMEOUT_MS = 20_000
const REPLY_TIMEOUT_MS = 20_000

/** Why power-loss tests cannot run here (no /dev/fuse, no fusermount, no fusepy), or undefined when they can. */
export function fuseUnavailable (): string | undefined {
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing (FUSE not available in this kernel/container)'
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`
  if (fusermount() === undefined) return 'fusermount/fusermount3 missing (apt-get install fuse3; scripts/install-system-deps.sh)'
  const r = spawnSync(PYTHON, ['-c', 'import fusepy'], { encoding: 'utf8' })
  if (r.status !== 0) return 'python3-fusepy is not installed for /usr/bin/python3 (scripts/install-system-deps.sh installs it)'
  return undefined
}

function fusermount (): string | undefined {
  return ['/usr/bin/fusermount', '/bin/fusermount', '/usr/bin/fusermount3', '/bin/fusermount3'].find(p => existsSync(p))
}

/** What the filesystem rolled back at a cut. */
export interface CutStats { files: number, restoredBytes: number, removed: number }

/** A live lazyfs mount. */
export class LazyMount {
  private lines: string[] = []
  private waiters: Array<() => void> = []
  private stderr = ''
  private exited = false

  private constructor (readonly backing: string, readonly mountpoint: string, private readonly proc: ChildProcess) {
    let partial = ''
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      partial += d
      const parts = partial.split('\n')
      partial = parts.pop() as string
      this.lines.push(...parts)
      for (const w of this.waiters.splice(0)) w()
    })
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-4000) })
    proc.on('exit', () => { this.exited = true; for (const w of this.waiters.splice(0)) w() })
  }

  /** Mounts `backing` at `mountpoint`; with ignoreFsync, fsync makes nothing durable (the can-fail mode). */
  static async mount (backing: string, mountpoint: string, opts: { ignoreFsync?: boolean } = {}): Promise<LazyMount> {
    const args = [LAZYFS, backing, mountpoint, ...(opts.ignoreFsync === true ? ['--ignore-fsync'] : [])]
    const proc = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const m = new LazyMount(backing, mountpoint, proc)
    await m.nextLine(l => l === 'mounted', MOUNT_TIMEOUT_MS)
    return m
  }

  private async nextLine (match: (l: string) => boolean, timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const i = this.lines.findIndex(match)
      if (i >= 0) return this.lines.splice(0, i + 1)[i]
      if (this.exited) throw new Error(`lazyfs exited: ${this.stderr}`)
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`lazyfs did not answer within ${timeoutMs} ms: ${this.stderr}`)
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
  }

  /** Cuts the power: the backing dir returns to its durable state; the mount refuses writes from now on. */
  async cut (): Promise<CutStats> {
    this.proc.stdin?.write('cut\n')
    const l = await this.nextLine(x => x.startsWith('cut ') || x.startsWith('error'), REPLY_TIMEOUT_MS)
    const m = /^cut files=(\d+) restored_bytes=(\d+) removed=(\d+)$/.exec(l)
    if (m === null) throw new Error(`lazyfs: ${l}`)
    return { files: Number(m[1]), restoredBytes: Number(m[2]), removed: Number(m[3]) }
  }

  /** Unmounts (lazily if busy) and waits for the filesystem process to exit. */
  async unmount (): Promise<void> {
    if (this.exited) return
    const bin = fusermount() as string
    const r = spawnSync(bin, ['-u', this.mountpoint], { encoding: 'utf8' })
    if (r.status !== 0) spawnSync(bin, ['-u', '-z', this.mountpoint])
    const deadline = performance.now() + MOUNT_TIMEOUT_MS
    while (!this.exited && performance.now() < deadline) {
      await new Promise<void>(resolve => { const t = setTimeout(resolve, 50); this.waiters.push(() => { clearTimeout(t); resolve() }) })
    }
    if (!this.exited) {
      this.proc.kill('SIGKILL')
      spawnSync(bin, ['-u', '-z', this.mountpoint])
    }
  }
}
