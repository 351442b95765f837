// The backup file format on its own (no processes): a file cut at ANY byte is refused as truncated (or, before the
// magic is complete, as not a backup), any single flipped bit is refused as damaged, and an intact file reads back
// exactly what was written.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  BackupChecksumError, BackupEncoder, BackupFormatError, BackupTruncatedError, readBackup, type BackupHeader, type BackupItem
} from '../../../src/api/backup-format.js'

const header: BackupHeader = {
  format: 1,
  clusterId: '0123456789abcdef',
  sourceNodeId: 2,
  index: 42,
  term: 3,
  confState: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
  chainHash: 'aa'.repeat(32),
  stateHash: 'bb'.repeat(32),
  createdAt: '2026-01-01T00:00:00.000Z'
}

function build (chunks: Uint8Array[]): Buffer {
  const e = new BackupEncoder()
  return Buffer.concat([e.preamble(header), ...chunks.map(c => e.chunk(c)), e.trailer()])
}

/** Reads `bytes` delivered in pieces of `piece` bytes (the reader must not depend on how reads are split). */
async function read (bytes: Uint8Array, piece = 7): Promise<BackupItem[]> {
  async function * source (): AsyncGenerator<Uint8Array> { for (let i = 0; i < bytes.length; i += piece) yield bytes.subarray(i, i + piece) }
  const out: BackupItem[] = []
  for await (const item of readBackup(source())) out.push(item)
  return out
}

const chunks = [Buffer.from('first chunk'), Buffer.alloc(300, 9), Buffer.from([0, 1, 2, 3])]
const file = build(chunks)

describe('backup file format', () => {
  it('an intact file reads back its header and chunks, however the reads are split', async () => {
    for (const piece of [1, 5, 64, file.length]) {
      const items = await read(file, piece)
      assert.deepEqual(items[0], { kind: 'header', header })
      assert.deepEqual(items.slice(1).map(i => i.kind === 'chunk' ? Buffer.from(i.bytes) : undefined), chunks)
    }
  })

  it('a file cut at any byte is refused as truncated (or as not a backup before the magic)', async () => {
    for (let n = 0; n < file.length; n++) {
      await assert.rejects(read(file.subarray(0, n)), (err: unknown) => n < 8 ? err instanceof BackupFormatError : err instanceof BackupTruncatedError, `cut at ${n}`)
    }
  })

  it('any flipped bit is refused as damaged (or, in the magic or version, as not a backup)', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: file.length * 8 - 1 }), async (bit) => {
      const bad = Buffer.from(file)
      bad[bit >> 3] ^= 1 << (bit & 7)
      await assert.rejects(read(bad), (err: unknown) => err instanceof BackupChecksumError || err instanceof BackupFormatError || err instanceof BackupTruncatedError)
    }), { numRuns: 300 })
  })

  it('bytes after the trailer are refused', async () => {
    await assert.rejects(read(Buffer.concat([file, Buffer.from([0])])), BackupChecksumError)
  })
})
