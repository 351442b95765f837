// Bulk-loading a store through persist() for snapshot tests: `keys` small values in 128-op transactions.
import type { Txn } from '../../../src/api/kv.js'
import type { RaftStore } from '../../../src/store/index.js'
import { commit } from './helpers.js'

/** Key i of a bulk load. */
export function bulkKey (i: number): Uint8Array {
  return Buffer.from(`bulk/${String(i).padStart(8, '0')}`)
}

/** Puts keys [0, keys) with small values, 128 per entry, `entriesPerBatch` entries per synced batch. */
export async function bulkLoad (store: RaftStore, keys: number, entriesPerBatch = 100): Promise<void> {
  let i = 0
  while (i < keys) {
    const txns: Txn[] = []
    while (txns.length < entriesPerBatch && i < keys) {
      const success = []
      for (let j = 0; j < 128 && i < keys; j++, i++) success.push({ type: 'put' as const, key: bulkKey(i), value: Buffer.from(`v${i}`) })
      txns.push({ compare: [], success, failure: [] })
    }
    await commit(store, txns)
  }
}
