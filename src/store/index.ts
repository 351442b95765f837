// The durable storage layer: unified Raft log + KV state machine (DATA_DIR/raft) and node registry (DATA_DIR/meta).
export { RaftStore, FORMAT_VERSION, DEFAULT_EVENT_WINDOW, DEFAULT_LOG_RETAIN, MAX_READ_ENTRIES } from './raft-store.js'
export type { RaftStoreOptions, StoreSnapshotMetadata, Recovered, PersistInput, ApplyResult } from './raft-store.js'
export { SnapshotReader } from './snapshot-reader.js'
export { NodeRegistry } from './node-registry.js'
export type { NodeInfo } from './node-registry.js'
export * from './errors.js'
