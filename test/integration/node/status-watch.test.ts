// `aspen cluster status --watch` against a real 3-node cluster: it refreshes on its interval with every member's
// own role, term, commit/applied and lag, follows new writes, and stops cleanly on SIGINT.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { CLI, NODE_BIN, TestCluster, waitFor } from '../harness.js'

interface Row { node: number, role: string, term: number, commit: number, applied: number, lag: number }

/** The node rows of each complete refresh printed so far (blocks end with '---' when stdout is not a TTY). */
function refreshes (out: string): Row[][] {
  const blocks = out.split('\n---\n').slice(0, -1)
  return blocks.map(b => b.split('\n').flatMap((line): Row[] => {
    const m = /^(\d+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line)
    return m === null ? [] : [{ node: Number(m[1]), role: m[2], term: Number(m[3]), commit: Number(m[4]), applied: Number(m[5]), lag: Number(m[6]) }]
  }))
}

describe('cluster status --watch', () => {
  let cluster: TestCluster
  after(async () => { await cluster?.destroy() })

  it('refreshes every member\'s role, term, commit/applied and lag until SIGINT, then exits 0', async () => {
    cluster = await TestCluster.create(3)
    const c = await cluster.form()
    await c.put('before', 'x')
    const leader = await cluster.leader()
    const p = spawn(NODE_BIN, [CLI, 'cluster', 'status', '--watch', '--interval', '300', '--data-dir', cluster.node(1).dataDir],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ASPEN_COOKIE: cluster.cookie } })
    let stdout = ''
    let stderr = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const exited = new Promise<number | null>(resolve => p.on('exit', resolve))
    try {
      await cluster.explain(async () => {
        const first = await waitFor('a first refresh listing 3 nodes', () => refreshes(stdout).find(r => r.length === 3), 30_000)
        assert.deepEqual(first.map(r => r.node), [1, 2, 3])
        assert.deepEqual(first.filter(r => r.role === 'leader').map(r => r.node), [leader], stdout)
        assert.equal(new Set(first.map(r => r.term)).size, 1, 'every member reports the same term')
        const top = Math.max(...first.map(r => r.commit))
        for (const r of first) assert.equal(r.lag, top - r.applied)
        // New writes show up in a later refresh: the view is live, not printed once.
        for (let i = 0; i < 20; i++) await c.put(`k${i}`, 'v')
        const after = await waitFor('a refresh showing the new writes applied everywhere', () => {
          const last = refreshes(stdout).at(-1)
          return last !== undefined && last.length === 3 && last.every(r => r.applied >= first[0].applied + 20) ? last : undefined
        }, 30_000)
        assert.ok(after.every(r => r.lag < 20), "members stay within 20 entries once the writes are applied")
        assert.match(stdout, new RegExp(`^\\d\\d:\\d\\d:\\d\\d  leader ${leader}, term \\d+, voters 1,2,3 \\(asked node 1\\)$`, 'm'))
        // It keeps refreshing on its interval (the writes may already show in the second refresh).
        const seen = refreshes(stdout).length
        await waitFor(`a refresh after the ${seen} seen so far`, () => refreshes(stdout).length > seen, 30_000)
      })
      p.kill('SIGINT')
      const code = await Promise.race([exited, new Promise<'hung'>(resolve => setTimeout(() => { resolve('hung') }, 10_000).unref())])
      assert.equal(code, 0, `exit after SIGINT (stderr: ${stderr})`)
      assert.equal(stderr, '', 'no error output')
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL')
    }
  })
})
