// Explicit limits of the KV API. Every request is checked against them before it is proposed and again before it is
// applied, so an over-limit command that reached the log anyway applies as a typed failure and changes nothing.

/** Largest key in bytes (keys are also non-empty). */
export const MAX_KEY_BYTES = 1024
/** Largest value in bytes. */
export const MAX_VALUE_BYTES = 1024 * 1024
/** Largest encoded command (one Raft entry payload), transaction included. */
export const MAX_REQUEST_BYTES = 1536 * 1024
/** Most operations in one transaction: compares + success ops + failure ops. */
export const MAX_TXN_OPS = 128
/** Most keys in one page of a scan, and most keys one transaction's deleteRange ops delete. */
export const MAX_PAGE_KEYS = 10_000
/** Most key+value bytes in one page of a scan, and in one transaction's response. */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024

/** Shortest and longest lease TTL. */
export const MIN_LEASE_TTL_SECONDS = 1
export const MAX_LEASE_TTL_SECONDS = 365 * 24 * 3600
/** Most leases the state machine holds. */
export const MAX_LEASES = 100_000
/** Most keys one lease-revoke entry deletes (the rest go in follow-up entries). */
export const MAX_LEASE_REVOKE_KEYS = 10_000
