// libp2p modules built on different majors of @libp2p/interface start fine and then silently deliver nothing
// (see NOTES: gossipsub 14 on libp2p 3). This fails as soon as two majors are installed anywhere in the tree.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface NpmNode {
  version?: string
  dependencies?: Record<string, NpmNode>
}

/** Every version of `name` anywhere in an `npm ls --json` tree. */
function versionsOf (name: string, node: NpmNode, out = new Set<string>()): Set<string> {
  for (const [dep, child] of Object.entries(node.dependencies ?? {})) {
    if (dep === name && child.version !== undefined) out.add(child.version)
    versionsOf(name, child, out)
  }
  return out
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

describe('dependency tree', () => {
  it('has exactly one major version of @libp2p/interface', async () => {
    const stdout = await new Promise<string>((resolve, reject) => {
      // npm ls exits non-zero for unrelated tree problems (extraneous packages): its JSON is still complete.
      execFile('npm', ['ls', '@libp2p/interface', '--all', '--json'], { cwd: root, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, out) => {
        if (out.trim().startsWith('{')) resolve(out)
        else reject(err ?? new Error('npm ls printed no JSON'))
      })
    })
    const versions = versionsOf('@libp2p/interface', JSON.parse(stdout) as NpmNode)
    assert.ok(versions.size > 0, '@libp2p/interface not found in the tree')
    const majors = new Set([...versions].map((v) => v.split('.')[0]))
    assert.equal(majors.size, 1, `several majors of @libp2p/interface installed: ${[...versions].join(', ')}`)
  })

  it('the version check itself notices two majors', () => {
    const tree: NpmNode = { dependencies: { a: { version: '1.0.0', dependencies: { '@libp2p/interface': { version: '3.1.0' } } }, '@libp2p/interface': { version: '2.9.0' } } }
    const majors = new Set([...versionsOf('@libp2p/interface', tree)].map((v) => v.split('.')[0]))
    assert.equal(majors.size, 2)
  })
})
