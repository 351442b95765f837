// Public API of the package: `import { connect } from 'aspen-ts'`.
export { connect, AspenClient, ClusterError, UnreachableError, KeyNotFoundError, WatchCompactedError } from './client.js'
export type { ConnectOptions, ReadConsistency, Bytes, WatchEvent, WatchOptions, LeaseStatus } from './client.js'
export type { KeyValue, Txn, TxnResponse, Compare, RequestOp, OpResponse, RangeResponse } from '../api/kv.js'
export { ops, prefixRange, prefixEnd } from '../api/kv.js'
export type { BackupOptions, BackupResult, BackupProgress } from './backup.js'
export { BackupFailedError } from './backup.js'
export { readBackup, BackupFormatError, BackupTruncatedError, BackupChecksumError } from '../api/backup-format.js'
export type { BackupHeader } from '../api/backup-format.js'
