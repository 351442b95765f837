// Node configuration: DATA_DIR/config.toml parsed with smol-toml, then ASPEN_* environment variables, then CLI
// flags, into one typed NodeConfig with every default filled in. Resolution is a pure function (file text, env
// and flags in; config or one ConfigError out) so it is table-testable; reading and writing files is kept to
// loadConfig and writeInitialConfig. Every error names the key and what to do, and never echoes a secret.

import { randomBytes } from 'node:crypto'
import { lstatSync, readFileSync, statSync } from 'node:fs'
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { parse as parseToml, TomlDate, TomlError } from 'smol-toml'
import { AspenError, invariant } from '../errors.js'
import {
  DEFAULT_RAFT_PROFILE, profileTiming, RAFT_PROFILE_NAMES,
  type RaftProfileName, type RaftTiming
} from './profiles.js'

// ---------------------------------------------------------------------------------------------------------
// Errors

/** The configuration is invalid or missing; names the offending key. Exit code 2. */
export class ConfigError extends AspenError {
  readonly code = 'CONFIG'
  /** Dotted key path (`raft.profile`), env variable or flag the problem is about, when there is one. */
  readonly key: string | undefined
  /** What the user should do about it, one short clause. */
  readonly hint: string
  constructor (message: string, options: { key?: string, hint: string }) {
    super(message)
    this.key = options.key
    this.hint = options.hint
  }
}

/** `aspen init` found a config.toml already there and was not told to overwrite it. Exit code 2. */
export class ConfigExistsError extends AspenError {
  readonly code = 'CONFIG_EXISTS'
  readonly path: string
  readonly hint: string
  constructor (path: string) {
    super(`${path} already exists`)
    this.path = path
    this.hint = 'pass --force to overwrite it (the node keeps its identity and data), or use another --data-dir'
  }
}

// ---------------------------------------------------------------------------------------------------------
// Types

/** Log levels accepted by `log_level` (pino's names). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
/** All log levels, most verbose first. */
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])

/** Where the HTTP endpoints (/healthz, /readyz, /status, /metrics) listen; port 0 means pick a free port. */
export type HttpConfig =
  | { readonly enabled: false }
  | { readonly enabled: true, readonly host: string, readonly port: number, readonly address: string }

/** The fully resolved configuration of one node. Holds the cookie: never log it whole (see redactedConfig). */
export interface NodeConfig {
  readonly nodeId: number
  /** Absolute path of the data directory. */
  readonly dataDir: string
  /** The cluster cookie (from `cookie` or the contents of `cookie_file`). Secret. */
  readonly cookie: string
  /** Absolute path the cookie was read from, or null when it was given inline. */
  readonly cookieFile: string | null
  /** Hex-encoded private key that takes precedence over DATA_DIR/identity.key, or null. Secret. */
  readonly secretKey: string | null
  readonly listen: readonly string[]
  readonly announce: readonly string[]
  /** Multiaddrs and `aspen1…` tickets to dial at start-up. */
  readonly bootstrap: readonly string[]
  /** Serve as a circuit relay for other nodes. */
  readonly relay: boolean
  /** Relay multiaddrs to reserve a slot on. */
  readonly relays: readonly string[]
  readonly raft: {
    readonly profile: RaftProfileName
    readonly timing: RaftTiming
    /** Take a snapshot (and compact the log) every this many applied entries. */
    readonly snapshotEvery: number
    /** Entries kept behind a snapshot so slightly lagging followers catch up without one. */
    readonly logRetain: number
  }
  readonly http: HttpConfig
  readonly safety: {
    /** Seconds between voter-set changes. */
    readonly cooldownS: number
    readonly maxVoters: number
    /** A learner further behind than this many entries is not promoted without --force. */
    readonly promoteMaxLag: number
  }
  readonly requestTimeoutMs: number
  readonly quotaBytes: number
  readonly logLevel: LogLevel
  /** Test-only switches; all false unless the environment has ASPEN_TESTING=1. */
  readonly testing: {
    readonly enabled: boolean
    readonly faultInjection: boolean
    readonly unsafeLocalReads: boolean
  }
  /** Things worth a warning log line at start-up (never secrets); empty when all is well. */
  readonly warnings: readonly string[]
}

/** CLI flag overrides, as commander hands them over (strings, string lists, booleans). */
export interface ConfigFlags {
  nodeId?: string | number
  dataDir?: string
  cookie?: string
  cookieFile?: string
  listen?: readonly string[]
  announce?: readonly string[]
  bootstrap?: readonly string[]
  relay?: boolean
  relays?: readonly string[]
  http?: string
  profile?: string
  logLevel?: string
  requestTimeoutMs?: string | number
}

/** The process environment (or a test's stand-in for it). */
export type Env = Readonly<Record<string, string | undefined>>

/** Inputs of resolveConfig. */
export interface ResolveConfigInput {
  /** Contents of config.toml, if there is one. */
  fileText?: string
  /** How to name the file in messages (its path); defaults to "config.toml". */
  fileLabel?: string
  env: Env
  flags: ConfigFlags
  /** Base for relative paths given in env or flags; without it such paths are errors. */
  cwd?: string
  /** Reads a cookie_file; injected so resolution stays pure. Without it cookie_file is an error. */
  readFile?: (path: string) => string
}

// ---------------------------------------------------------------------------------------------------------
// Limits and defaults

/** Largest config.toml we read. */
export const MAX_CONFIG_BYTES = 1024 * 1024
/** Largest cookie file we read. */
export const MAX_COOKIE_FILE_BYTES = 4096
export const MIN_COOKIE_CHARS = 16
export const MAX_COOKIE_CHARS = 1024
export const MAX_NODE_ID = 0xffff_ffff
/** The hard ceiling on voters the cluster controller enforces; config can only lower it. */
export const MAX_VOTERS_LIMIT = 100
const MAX_ADDRS = 64
const MAX_ADDR_CHARS = 1024
const MAX_TICKET_CHARS = 16 * 1024
const MAX_PATH_CHARS = 4096

export const DEFAULT_LISTEN: readonly string[] = Object.freeze(['/ip4/127.0.0.1/tcp/0'])
export const DEFAULT_HTTP_ADDRESS = '127.0.0.1:0'
export const DEFAULT_SNAPSHOT_EVERY = 10_000
export const DEFAULT_LOG_RETAIN = 5_000
export const DEFAULT_COOLDOWN_S = 300
export const DEFAULT_MAX_VOTERS = 100
export const DEFAULT_PROMOTE_MAX_LAG = 100
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024
export const CONFIG_FILE_NAME = 'config.toml'

/** The keys config.toml may contain, by table ('' is the top level). */
const SCHEMA: Readonly<Record<string, readonly string[]>> = {
  '': ['node_id', 'data_dir', 'cookie', 'cookie_file', 'secret_key', 'listen', 'announce', 'bootstrap', 'relay',
    'relays', 'raft', 'http', 'safety', 'request_timeout_ms', 'quota_bytes', 'log_level', 'testing'],
  raft: ['profile', 'snapshot_every', 'log_retain'],
  http: ['address'],
  safety: ['cooldown_s', 'max_voters', 'promote_max_lag'],
  testing: ['fault_injection', 'unsafe_local_reads']
}
const TABLES = new Set(Object.keys(SCHEMA).filter((t) => t !== ''))
const ALL_KEY_PATHS: readonly string[] = Object.entries(SCHEMA).flatMap(([table, keys]) =>
  keys.filter((k) => !(table === '' && TABLES.has(k))).map((k) => table === '' ? k : `${table}.${k}`))

/** Environment variables that override config keys. */
export const ENV_OVERRIDES: Readonly<Record<string, string>> = Object.freeze({
  ASPEN_NODE_ID: 'node_id',
  ASPEN_DATA_DIR: 'data_dir',
  ASPEN_COOKIE: 'cookie',
  ASPEN_COOKIE_FILE: 'cookie_file',
  ASPEN_SECRET_KEY: 'secret_key',
  ASPEN_LISTEN: 'listen',
  ASPEN_ANNOUNCE: 'announce',
  ASPEN_BOOTSTRAP: 'bootstrap',
  ASPEN_RELAY: 'relay',
  ASPEN_RELAYS: 'relays',
  ASPEN_PROFILE: 'raft.profile',
  ASPEN_SNAPSHOT_EVERY: 'raft.snapshot_every',
  ASPEN_HTTP: 'http.address',
  ASPEN_REQUEST_TIMEOUT_MS: 'request_timeout_ms',
  ASPEN_QUOTA_BYTES: 'quota_bytes',
  ASPEN_LOG_LEVEL: 'log_level'
})
/** ASPEN_* variables that are not config overrides but are known, so they draw no "unknown variable" warning. */
const OTHER_ENV = new Set(['ASPEN_TESTING', 'ASPEN_DEBUG', 'ASPEN_TICKET'])

/** Flags that override config keys, with the option name used in messages. */
const FLAG_OVERRIDES: Readonly<Record<string, { key: keyof ConfigFlags, option: string }>> = {
  node_id: { key: 'nodeId', option: '--node-id' },
  data_dir: { key: 'dataDir', option: '--data-dir' },
  cookie: { key: 'cookie', option: '--cookie' },
  cookie_file: { key: 'cookieFile', option: '--cookie-file' },
  listen: { key: 'listen', option: '--listen' },
  announce: { key: 'announce', option: '--announce' },
  bootstrap: { key: 'bootstrap', option: '--bootstrap' },
  relay: { key: 'relay', option: '--relay' },
  relays: { key: 'relays', option: '--relays' },
  'raft.profile': { key: 'profile', option: '--profile' },
  'http.address': { key: 'http', option: '--http' },
  request_timeout_ms: { key: 'requestTimeoutMs', option: '--timeout' },
  log_level: { key: 'logLevel', option: '--log-level' }
}

// ---------------------------------------------------------------------------------------------------------
// Layered lookup

type Layer = 'file' | 'env' | 'flag'

/** One value found for a key, with how to name its source in an error. */
interface Found {
  readonly path: string
  readonly raw: unknown
  readonly layer: Layer
  /** Key as the user wrote it: `raft.profile`, `ASPEN_PROFILE (raft.profile)`, `--profile (raft.profile)`. */
  readonly label: string
  /** What to do about a bad value from this source. */
  readonly hint: string
}

type Table = Record<string, unknown>

interface Ctx {
  readonly table: Table
  readonly fileLabel: string
  readonly env: Env
  readonly flags: ConfigFlags
  readonly cwd: string | undefined
  readonly readFile: ((path: string) => string) | undefined
  readonly warnings: string[]
}

function isTable (v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof TomlDate)
}

function fileValue (table: Table, path: string): unknown {
  const dot = path.indexOf('.')
  if (dot < 0) return table[path]
  const sub = table[path.slice(0, dot)]
  return isTable(sub) ? sub[path.slice(dot + 1)] : undefined
}

function envNameFor (path: string): string | undefined {
  return Object.keys(ENV_OVERRIDES).find((name) => ENV_OVERRIDES[name] === path)
}

/** The per-layer values of one key, highest precedence (flag, env, file) first. */
function layersOf (ctx: Ctx, path: string): Found[] {
  const out: Found[] = []
  const flag = FLAG_OVERRIDES[path]
  if (flag !== undefined) {
    const raw = ctx.flags[flag.key]
    if (raw !== undefined) out.push({ path, raw, layer: 'flag', label: `${flag.option} (${path})`, hint: `fix the ${flag.option} option` })
  }
  const envName = envNameFor(path)
  if (envName !== undefined) {
    const raw = ctx.env[envName]
    if (raw !== undefined && raw !== '') {
      out.push({ path, raw, layer: 'env', label: `${envName} (${path})`, hint: `fix or unset the ${envName} environment variable` })
    }
  }
  const raw = fileValue(ctx.table, path)
  if (raw !== undefined) out.push({ path, raw, layer: 'file', label: path, hint: `fix ${path} in ${ctx.fileLabel}` })
  return out
}

function lookup (ctx: Ctx, path: string): Found | undefined {
  return layersOf(ctx, path)[0]
}

function fail (f: Found, problem: string): never {
  throw new ConfigError(`${f.label}: ${problem}`, { key: f.path, hint: f.hint })
}

/** Type name of a raw value for "expected X, got Y" messages. */
function typeName (v: unknown): string {
  if (Array.isArray(v)) return 'an array'
  if (v instanceof TomlDate) return 'a date'
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float'
  if (typeof v === 'bigint') return 'an integer'
  if (typeof v === 'boolean') return 'a boolean'
  if (typeof v === 'string') return 'a string'
  if (isTable(v)) return 'a table'
  return typeof v
}

/** A short, quoted rendering of a non-secret value for messages. */
function show (v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v)
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

/** True when the raw value came from env or a flag as text that still needs parsing. */
function isText (f: Found): f is Found & { raw: string } {
  return f.layer !== 'file' && typeof f.raw === 'string'
}

// ---------------------------------------------------------------------------------------------------------
// Value parsers (each takes one Found and returns a typed value or throws ConfigError)

function parseInteger (f: Found, min: number, max: number): number {
  let n: number
  if (isText(f)) {
    if (!/^[0-9]{1,16}$/.test(f.raw.trim())) fail(f, `expected an integer, got ${show(f.raw)}`)
    n = Number(f.raw.trim())
  } else if (typeof f.raw === 'number' && Number.isInteger(f.raw)) {
    n = f.raw
  } else {
    fail(f, `expected an integer, got ${typeName(f.raw)}`)
  }
  if (n < min || n > max) fail(f, `expected an integer from ${min} to ${max}, got ${n}`)
  return n
}

function parseBool (f: Found): boolean {
  if (typeof f.raw === 'boolean') return f.raw
  if (isText(f)) {
    const t = f.raw.trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(t)) return true
    if (['0', 'false', 'no', 'off'].includes(t)) return false
    fail(f, `expected true or false, got ${show(f.raw)}`)
  }
  return fail(f, `expected a boolean (true or false), got ${typeName(f.raw)}`)
}

function parseString (f: Found, secret = false): string {
  if (typeof f.raw !== 'string') fail(f, `expected a string, got ${typeName(f.raw)}`)
  if (f.raw.includes('\0')) fail(f, secret ? 'must not contain NUL characters' : `must not contain NUL characters, got ${show(f.raw)}`)
  return f.raw
}

function parseOneOf<T extends string> (f: Found, allowed: readonly T[]): T {
  const s = parseString(f).trim()
  if (!(allowed as readonly string[]).includes(s)) fail(f, `expected one of ${allowed.join(', ')}, got ${show(s)}`)
  return s as T
}

function parsePath (ctx: Ctx, f: Found, fileBase: string | undefined): string {
  const p = parseString(f).trim()
  if (p === '') fail(f, 'expected a path, got an empty string')
  if (p.length > MAX_PATH_CHARS) fail(f, `path longer than ${MAX_PATH_CHARS} characters`)
  if (isAbsolute(p)) return resolve(p)
  const base = f.layer === 'file' ? fileBase : ctx.cwd
  if (base === undefined) fail(f, `expected an absolute path, got ${show(p)}`)
  return resolve(base, p)
}

/** A list of strings: a TOML array, or comma-separated text from env/flags (flag lists may repeat too). */
function parseList (f: Found, maxItems: number): string[] {
  let items: string[]
  if (isText(f)) {
    items = f.raw.split(',')
  } else if (Array.isArray(f.raw)) {
    items = f.raw.map((v: unknown, i) => typeof v === 'string' ? v : fail(f, `expected an array of strings, but item ${i} is ${typeName(v)}`))
    if (f.layer !== 'file') items = items.flatMap((v) => v.split(','))
  } else {
    fail(f, `expected an array of strings, got ${typeName(f.raw)}`)
  }
  items = items.map((s) => s.trim())
  // An empty entry in a file is a mistake worth reporting; in "a,b," from env or flags it is just a trailing comma.
  if (f.layer !== 'file') items = items.filter((s) => s !== '')
  if (items.length > maxItems) fail(f, `at most ${maxItems} entries allowed, got ${items.length}`)
  return items
}

/**
 * Textual peer id: base58btc multihash (Qm…, 12D3Koo…, 16Uiu2…) or a base32 CIDv1 (b…). A shape check only, so
 * the CLI need not load the crypto stack (~100 ms per run); p2p/ parses the id properly when it dials.
 */
const PEER_ID_TEXT = /^(?:[1-9A-HJ-NP-Za-km-z]{46,60}|b[a-z2-7]{50,100})$/

/** Why `s` is not a usable multiaddr, or undefined when it is one. */
export function multiaddrProblem (s: string): string | undefined {
  if (s.length > MAX_ADDR_CHARS) return `longer than ${MAX_ADDR_CHARS} characters`
  if (!s.startsWith('/') || s === '/') return 'a multiaddr starts with "/", e.g. /ip4/127.0.0.1/tcp/4001'
  try {
    for (const c of multiaddr(s).getComponents()) {
      if (c.name === 'p2p' && (c.value === undefined || !PEER_ID_TEXT.test(c.value))) return `"${c.value ?? ''}" is not a peer id`
    }
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message.split('\n')[0] : 'unparseable'
  }
}

/** Why `s` is not an `aspen1…` ticket, or undefined when it looks like one (p2p/ decodes it properly). */
export function ticketProblem (s: string): string | undefined {
  if (s.length > MAX_TICKET_CHARS) return `ticket longer than ${MAX_TICKET_CHARS} characters`
  if (!/^aspen1[A-Za-z0-9=]+$/.test(s)) return 'a ticket is "aspen1" followed by base32 characters'
  return undefined
}

function parseAddrList (f: Found, maxItems: number, allowTickets: boolean): string[] {
  const items = parseList(f, maxItems)
  items.forEach((s, i) => {
    const where = Array.isArray(f.raw) && f.layer === 'file' ? `item ${i} ` : ''
    if (allowTickets && s.startsWith('aspen1')) {
      const problem = ticketProblem(s)
      if (problem !== undefined) fail(f, `${where}is not a valid ticket (${problem})`)
      return
    }
    const problem = multiaddrProblem(s)
    if (problem !== undefined) {
      fail(f, `${where}${show(s)} is not a valid multiaddr${allowTickets ? ' or aspen1… ticket' : ''} (${problem})`)
    }
  })
  return items
}

/** Parses `host:port` or `off` for http.address. */
export function parseHttpAddress (s: string): HttpConfig | undefined {
  const t = s.trim()
  if (t === 'off') return { enabled: false }
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(t)
  if (m === null) return undefined
  const port = Number(m[2])
  if (port > 65535) return undefined
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1]
  return { enabled: true, host, port, address: t }
}

function isLoopbackHost (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host)
}

// ---------------------------------------------------------------------------------------------------------
// Unknown keys

/** Levenshtein distance, bounded input (key names are short). */
function editDistance (a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = up
    }
  }
  return prev[b.length]
}

/** Every name an unknown key could have been meant as: the key paths and the table names. */
const SUGGESTIBLE: readonly string[] = [...ALL_KEY_PATHS, ...TABLES]

/** The known key path closest to `path`, if one is close enough to be a plausible typo. */
export function suggestKey (path: string, candidates: readonly string[] = SUGGESTIBLE): string | undefined {
  const norm = path.replaceAll('-', '_').toLowerCase()
  const dot = norm.lastIndexOf('.')
  const table = dot < 0 ? '' : norm.slice(0, dot)
  const leaf = norm.slice(dot + 1)
  let best: { key: string, rank: number } | undefined
  for (const key of candidates) {
    const keyDot = key.lastIndexOf('.')
    const keyTable = keyDot < 0 ? '' : key.slice(0, keyDot)
    const distance = Math.min(editDistance(norm, key), editDistance(leaf, key.slice(keyDot + 1)))
    if (distance > Math.max(2, Math.ceil(leaf.length / 3))) continue
    // Prefer the closest name, then one in the same table.
    const rank = distance * 2 + (keyTable === table ? 0 : 1)
    if (best === undefined || rank < best.rank) best = { key, rank }
  }
  return best?.key
}

function checkKeys (ctx: Ctx): void {
  const unknown = (path: string): never => {
    const suggestion = suggestKey(path)
    throw new ConfigError(`${path}: unknown key${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`,
      { key: path, hint: `remove or rename it in ${ctx.fileLabel}` })
  }
  for (const [key, value] of Object.entries(ctx.table)) {
    if (!SCHEMA[''].includes(key)) unknown(key)
    if (!TABLES.has(key)) continue
    if (!isTable(value)) {
      throw new ConfigError(`${key}: expected a table ([${key}]), got ${typeName(value)}`,
        { key, hint: `write it as a [${key}] section in ${ctx.fileLabel}` })
    }
    for (const sub of Object.keys(value)) {
      if (!SCHEMA[key].includes(sub)) unknown(`${key}.${sub}`)
    }
  }
}

function warnUnknownEnv (ctx: Ctx): void {
  const known = Object.keys(ENV_OVERRIDES)
  for (const name of Object.keys(ctx.env)) {
    if (!name.startsWith('ASPEN_') || name in ENV_OVERRIDES || OTHER_ENV.has(name)) continue
    const best = known.map((k) => ({ k, d: editDistance(name, k) })).sort((a, b) => a.d - b.d)[0]
    ctx.warnings.push(`environment variable ${name} is not used by aspen` +
      (best !== undefined && best.d <= 3 ? ` (did you mean ${best.k}?)` : ''))
  }
}

// ---------------------------------------------------------------------------------------------------------
// Resolution

function parseFile (text: string, fileLabel: string): Table {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    throw new ConfigError(`${fileLabel} is larger than ${MAX_CONFIG_BYTES} bytes`, { hint: 'check that it is the right file' })
  }
  try {
    return parseToml(text)
  } catch (e) {
    if (e instanceof TomlError) {
      // Only the first line of smol-toml's message: the rest quotes the surrounding lines, which may hold the cookie.
      const what = e.message.replace(/^Invalid TOML document: /, '').split('\n')[0]
      throw new ConfigError(`${fileLabel} line ${e.line}, column ${e.column}: ${what}`, { hint: `fix the TOML syntax in ${fileLabel}` })
    }
    throw e
  }
}

function resolveCookie (ctx: Ctx, dataDir: string): { cookie: string, cookieFile: string | null } {
  const inline = layersOf(ctx, 'cookie')
  const fromFile = layersOf(ctx, 'cookie_file')
  const fileLayerBoth = inline.some((f) => f.layer === 'file') && fromFile.some((f) => f.layer === 'file')
  if (fileLayerBoth) {
    throw new ConfigError('cookie and cookie_file are both set', { key: 'cookie', hint: `keep only one of them in ${ctx.fileLabel}` })
  }
  const rank = (f: Found | undefined): number => f === undefined ? -1 : { file: 0, env: 1, flag: 2 }[f.layer]
  const c = inline[0]
  const cf = fromFile[0]
  if (c === undefined && cf === undefined) {
    throw new ConfigError('cookie: missing', {
      key: 'cookie',
      hint: `set cookie (at least ${MIN_COOKIE_CHARS} characters) or cookie_file in ${ctx.fileLabel}, or ASPEN_COOKIE / ASPEN_COOKIE_FILE`
    })
  }
  if (c !== undefined && cf !== undefined && rank(c) === rank(cf) && c.layer !== 'file') {
    throw new ConfigError(`${c.label} and ${cf.label} are both set`, { key: 'cookie', hint: 'give the cookie one way only' })
  }
  if (cf !== undefined && rank(cf) > rank(c)) {
    const path = parsePath(ctx, cf, dataDir)
    if (ctx.readFile === undefined) fail(cf, 'cannot read a cookie file here')
    return { cookie: readCookieFile(path, cf.label, ctx.readFile), cookieFile: path }
  }
  invariant(c !== undefined, 'cookie resolution found neither cookie nor cookie_file after checking for both')
  return { cookie: checkCookie(c), cookieFile: null }
}

/**
 * Validates a cookie given outside config.toml (e.g. `--cookie` next to `--ticket`); `label` names where it came
 * from. Throws ConfigError that never contains the cookie.
 */
export function validateCookie (cookie: string, label: string, hint: string): string {
  return checkCookie({ path: 'cookie', raw: cookie, layer: 'flag', label, hint })
}

/** Reads and validates a cookie file (trailing newline allowed). Throws ConfigError naming the file, never its content. */
export function readCookieFile (path: string, label: string, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): string {
  const hint = `put a cookie of ${MIN_COOKIE_CHARS} to ${MAX_COOKIE_CHARS} characters on one line in ${path}`
  let text: string
  try {
    text = readFile(path)
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'unreadable'
    throw new ConfigError(`${label}: cannot read ${path} (${code})`, { key: 'cookie_file', hint: 'check the path and its permissions' })
  }
  if (Buffer.byteLength(text) > MAX_COOKIE_FILE_BYTES) {
    throw new ConfigError(`${label}: ${path} is larger than ${MAX_COOKIE_FILE_BYTES} bytes`, { key: 'cookie_file', hint })
  }
  return checkCookie({ path: 'cookie', raw: text.trim(), layer: 'flag', label: `cookie in ${path}`, hint })
}

/** Validates a cookie without ever putting its value (or length) in a message. */
function checkCookie (f: Found): string {
  const cookie = parseString(f, true)
  if (cookie.length < MIN_COOKIE_CHARS) fail(f, `too short: a cookie needs at least ${MIN_COOKIE_CHARS} characters`)
  if (cookie.length > MAX_COOKIE_CHARS) fail(f, `too long: a cookie has at most ${MAX_COOKIE_CHARS} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(cookie)) fail(f, 'must not contain control characters or line breaks')
  return cookie
}

function resolveSecretKey (ctx: Ctx): string | null {
  const f = lookup(ctx, 'secret_key')
  if (f === undefined) return null
  const s = parseString(f, true).trim()
  if (!/^(?:[0-9a-fA-F]{2}){32,2048}$/.test(s)) {
    fail(f, 'expected a hex-encoded private key (an even number of hex digits, at least 64)')
  }
  return s.toLowerCase()
}

function resolveTesting (ctx: Ctx): NodeConfig['testing'] {
  const enabled = ctx.env.ASPEN_TESTING === '1'
  const fi = lookup(ctx, 'testing.fault_injection')
  const ul = lookup(ctx, 'testing.unsafe_local_reads')
  const faultInjection = fi === undefined ? false : parseBool(fi)
  const unsafeLocalReads = ul === undefined ? false : parseBool(ul)
  if (!enabled && (faultInjection || unsafeLocalReads)) {
    ctx.warnings.push('[testing] settings are ignored because ASPEN_TESTING is not set to 1')
  }
  return { enabled, faultInjection: enabled && faultInjection, unsafeLocalReads: enabled && unsafeLocalReads }
}

function resolveHttp (ctx: Ctx): HttpConfig {
  const f = lookup(ctx, 'http.address')
  if (f === undefined) return { enabled: true, host: '127.0.0.1', port: 0, address: DEFAULT_HTTP_ADDRESS }
  const address = parseString(f)
  const http = parseHttpAddress(address)
  if (http === undefined) {
    fail(f, `expected HOST:PORT (e.g. 127.0.0.1:8080; port 0 picks a free one) or "off", got ${show(address)}`)
  }
  if (http.enabled && !isLoopbackHost(http.host)) {
    ctx.warnings.push(`http.address ${http.address} is not a loopback address: /status and /metrics are reachable from the network`)
  }
  return http
}

/** Collects every value a user could have given as a secret, so a last check can scrub them from messages. */
function secretsIn (ctx: Ctx): string[] {
  const out: string[] = []
  for (const path of ['cookie', 'secret_key']) {
    for (const f of layersOf(ctx, path)) if (typeof f.raw === 'string' && f.raw.length >= 8) out.push(f.raw, f.raw.trim())
  }
  return out
}

/** Replaces every occurrence of the given secrets in `text` with [redacted]. */
export function redactSecrets (text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[redacted]')
  return out
}

/**
 * Resolves the node configuration from config.toml text, ASPEN_* env and CLI flags (flags > env > file >
 * defaults). Pure except for the injected readFile. Throws ConfigError naming the key on the first problem.
 */
export function resolveConfig (input: ResolveConfigInput): NodeConfig {
  const fileLabel = input.fileLabel ?? CONFIG_FILE_NAME
  const table = input.fileText === undefined ? {} : parseFile(input.fileText, fileLabel)
  const ctx: Ctx = { table, fileLabel, env: input.env, flags: input.flags, cwd: input.cwd, readFile: input.readFile, warnings: [] }
  try {
    return resolveParsed(ctx)
  } catch (e) {
    if (e instanceof ConfigError) {
      const secrets = secretsIn(ctx)
      const message = redactSecrets(e.message, secrets)
      if (message !== e.message) throw new ConfigError(message, { key: e.key, hint: redactSecrets(e.hint, secrets) })
    }
    throw e
  }
}

function resolveParsed (ctx: Ctx): NodeConfig {
  checkKeys(ctx)
  warnUnknownEnv(ctx)

  const nodeIdF = lookup(ctx, 'node_id')
  if (nodeIdF === undefined) {
    throw new ConfigError('node_id: missing', { key: 'node_id', hint: `add node_id = <positive integer> to ${ctx.fileLabel}, or set ASPEN_NODE_ID / --node-id` })
  }
  const nodeId = parseInteger(nodeIdF, 1, MAX_NODE_ID)

  const dataDirF = lookup(ctx, 'data_dir')
  if (dataDirF === undefined) {
    throw new ConfigError('data_dir: missing', { key: 'data_dir', hint: `add data_dir = "/absolute/path" to ${ctx.fileLabel}, or pass --data-dir` })
  }
  const dataDir = parsePath(ctx, dataDirF, undefined)
  const fileDataDir = fileValue(ctx.table, 'data_dir')
  if (dataDirF.layer !== 'file' && typeof fileDataDir === 'string' && isAbsolute(fileDataDir) && resolve(fileDataDir) !== dataDir) {
    ctx.warnings.push(`data_dir in ${ctx.fileLabel} is ${fileDataDir} but the node runs from ${dataDir}; using ${dataDir}`)
  }

  const { cookie, cookieFile } = resolveCookie(ctx, dataDir)
  const secretKey = resolveSecretKey(ctx)

  const list = (path: string, fallback: readonly string[], max: number, tickets = false): string[] => {
    const f = lookup(ctx, path)
    return f === undefined ? [...fallback] : parseAddrList(f, max, tickets)
  }
  const listen = list('listen', DEFAULT_LISTEN, MAX_ADDRS)
  if (listen.length === 0) {
    const f = lookup(ctx, 'listen')
    if (f !== undefined) fail(f, 'needs at least one address to listen on, e.g. /ip4/127.0.0.1/tcp/0')
  }
  const announce = list('announce', [], MAX_ADDRS)
  const bootstrap = list('bootstrap', [], MAX_ADDRS, true)
  const relaysList = list('relays', [], 16)
  const relayF = lookup(ctx, 'relay')
  const relay = relayF === undefined ? false : parseBool(relayF)

  const int = (path: string, fallback: number, min: number, max: number): number => {
    const f = lookup(ctx, path)
    return f === undefined ? fallback : parseInteger(f, min, max)
  }
  const profileF = lookup(ctx, 'raft.profile')
  const profile = profileF === undefined ? DEFAULT_RAFT_PROFILE : parseOneOf(profileF, RAFT_PROFILE_NAMES)
  const snapshotEvery = int('raft.snapshot_every', DEFAULT_SNAPSHOT_EVERY, 1, 10_000_000)
  const logRetain = int('raft.log_retain', DEFAULT_LOG_RETAIN, 0, 10_000_000)

  const http = resolveHttp(ctx)
  const cooldownS = int('safety.cooldown_s', DEFAULT_COOLDOWN_S, 0, 30 * 24 * 3600)
  const maxVoters = int('safety.max_voters', DEFAULT_MAX_VOTERS, 1, MAX_VOTERS_LIMIT)
  const promoteMaxLag = int('safety.promote_max_lag', DEFAULT_PROMOTE_MAX_LAG, 0, 10_000_000)
  const requestTimeoutMs = int('request_timeout_ms', DEFAULT_REQUEST_TIMEOUT_MS, 1, 600_000)
  const quotaBytes = int('quota_bytes', DEFAULT_QUOTA_BYTES, 1024 * 1024, 2 ** 50)
  const logLevelF = lookup(ctx, 'log_level')
  const logLevel = logLevelF === undefined ? 'info' : parseOneOf(logLevelF, LOG_LEVELS)
  const testing = resolveTesting(ctx)

  return {
    nodeId,
    dataDir,
    cookie,
    cookieFile,
    secretKey,
    listen,
    announce,
    bootstrap,
    relay,
    relays: relaysList,
    raft: { profile, timing: profileTiming(profile), snapshotEvery, logRetain },
    http,
    safety: { cooldownS, maxVoters, promoteMaxLag },
    requestTimeoutMs,
    quotaBytes,
    logLevel,
    testing,
    warnings: ctx.warnings
  }
}

/** A copy of the config safe to log: secrets replaced by "[redacted]". */
export function redactedConfig (config: NodeConfig): NodeConfig {
  return { ...config, cookie: '[redacted]', secretKey: config.secretKey === null ? null : '[redacted]' }
}

// ---------------------------------------------------------------------------------------------------------
// Files

/** A strong random cluster cookie: 32 random bytes as 64 hex characters. */
export function generateCookie (random: (n: number) => Uint8Array = randomBytes): string {
  return Buffer.from(random(32)).toString('hex')
}

/** Path of config.toml inside a data dir. */
export function configPath (dataDir: string): string {
  return join(dataDir, CONFIG_FILE_NAME)
}

/**
 * Reads DATA_DIR/config.toml and resolves it with env and flag overrides. `dataDir` is the directory in use
 * (it overrides data_dir in the file). Throws ConfigError telling the user to run `aspen init` when the data
 * dir or its config is missing.
 */
export function loadConfig (dataDir: string, env: Env, flags: ConfigFlags, cwd: string = process.cwd()): NodeConfig {
  const dir = resolve(cwd, dataDir)
  const initHint = `create it with \`aspen init --data-dir ${dir} --node-id <N>\``
  let st: ReturnType<typeof statSync>
  try {
    st = statSync(dir)
  } catch {
    throw new ConfigError(`data dir ${dir} does not exist`, { key: 'data_dir', hint: initHint })
  }
  if (!st.isDirectory()) throw new ConfigError(`data dir ${dir} is not a directory`, { key: 'data_dir', hint: 'pass the directory `aspen init` created' })
  const file = configPath(dir)
  let text: string
  let mode: number
  try {
    const fst = lstatSync(file)
    if (!fst.isFile()) throw new ConfigError(`${file} is not a regular file`, { hint: 'replace it with the config.toml written by `aspen init`' })
    if (fst.size > MAX_CONFIG_BYTES) throw new ConfigError(`${file} is larger than ${MAX_CONFIG_BYTES} bytes`, { hint: 'check that it is the right file' })
    mode = fst.mode & 0o777
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if (e instanceof ConfigError) throw e
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'unreadable'
    if (code === 'ENOENT') throw new ConfigError(`${file} not found`, { key: 'data_dir', hint: `run \`aspen init --data-dir ${dir} --node-id <N>\` first` })
    throw new ConfigError(`cannot read ${file} (${code})`, { hint: 'check its permissions' })
  }
  const config = resolveConfig({
    fileText: text,
    fileLabel: file,
    env,
    flags: { ...flags, dataDir: dir },
    cwd,
    readFile: (p) => readFileSync(p, 'utf8')
  })
  if ((mode & 0o077) !== 0) {
    const warning = `${file} has mode 0${mode.toString(8)} but holds the cluster cookie; run \`chmod 600 ${file}\``
    return { ...config, warnings: [...config.warnings, warning] }
  }
  return config
}

/** What `aspen init` writes. */
export interface InitialConfigOptions {
  nodeId: number
  /** Inline cookie; when neither cookie nor cookieFile is given a fresh one is generated. */
  cookie?: string
  /** Path of a file holding the cookie (written as cookie_file; the cookie stays out of config.toml). */
  cookieFile?: string
  listen?: readonly string[]
  announce?: readonly string[]
  bootstrap?: readonly string[]
  relay?: boolean
  profile?: string
  /** http.address: HOST:PORT or "off". */
  http?: string
  logLevel?: string
  cooldownS?: number
  /** Overwrite an existing config.toml. */
  force?: boolean
  /** Randomness for the generated cookie (tests). */
  random?: (n: number) => Uint8Array
}

/** What writeInitialConfig did. */
export interface InitialConfigResult {
  path: string
  config: NodeConfig
  cookieGenerated: boolean
  overwritten: boolean
}

function tomlStr (s: string): string {
  // A JSON string literal is a valid TOML basic string (same escapes).
  return JSON.stringify(s)
}

function tomlList (items: readonly string[]): string {
  return `[${items.map(tomlStr).join(', ')}]`
}

/** Renders the commented config.toml `aspen init` writes. */
export function renderInitialConfig (dataDir: string, o: InitialConfigOptions & { cookie?: string }): string {
  const lines = [
    '# Aspen node configuration, written by `aspen init`.',
    o.cookieFile !== undefined
      ? '# The cluster cookie is read from cookie_file; keep that file private (mode 0600).'
      : '# Holds the cluster cookie: keep this file private (mode 0600).',
    '# ASPEN_* environment variables and command-line flags override these values.',
    '',
    `node_id = ${o.nodeId}`,
    `data_dir = ${tomlStr(dataDir)}`,
    o.cookieFile !== undefined ? `cookie_file = ${tomlStr(o.cookieFile)}` : `cookie = ${tomlStr(o.cookie ?? '')}`,
    '',
    '# libp2p multiaddrs to listen on; tcp/0 picks a free port.',
    `listen = ${tomlList(o.listen ?? DEFAULT_LISTEN)}`,
    '# Extra addresses to advertise (e.g. a public address behind port forwarding).',
    `announce = ${tomlList(o.announce ?? [])}`,
    '# Peers to dial at start-up: multiaddrs or aspen1… tickets.',
    `bootstrap = ${tomlList(o.bootstrap ?? [])}`,
    '# Act as a circuit relay for nodes behind NAT.',
    `relay = ${o.relay === true ? 'true' : 'false'}`,
    `relays = []`,
    `request_timeout_ms = ${DEFAULT_REQUEST_TIMEOUT_MS}`,
    `quota_bytes = ${DEFAULT_QUOTA_BYTES}`,
    `log_level = ${tomlStr(o.logLevel ?? 'info')}`,
    '',
    '[raft]',
    '# fast: heartbeat 30 ms, election 100-200 ms (loopback tests)',
    '# balanced: 100 ms, 500-1000 ms (default); conservative: 500 ms, 1500-3000 ms (WAN, relays)',
    `profile = ${tomlStr(o.profile ?? DEFAULT_RAFT_PROFILE)}`,
    `snapshot_every = ${DEFAULT_SNAPSHOT_EVERY}`,
    `log_retain = ${DEFAULT_LOG_RETAIN}`,
    '',
    '[http]',
    '# /healthz /readyz /status /metrics; port 0 picks a free port, "off" disables.',
    `address = ${tomlStr(o.http ?? DEFAULT_HTTP_ADDRESS)}`,
    '',
    '[safety]',
    '# Seconds between voter-set changes (learner additions are not limited).',
    `cooldown_s = ${o.cooldownS ?? DEFAULT_COOLDOWN_S}`,
    `max_voters = ${DEFAULT_MAX_VOTERS}`,
    '# A learner further behind than this is not promoted without --force.',
    `promote_max_lag = ${DEFAULT_PROMOTE_MAX_LAG}`,
    ''
  ]
  return lines.join('\n')
}

/**
 * Writes DATA_DIR/config.toml (mode 0600, atomically via a temp file and rename, fsynced), creating the data
 * dir (0700) if needed. Refuses to replace an existing config unless `force`. The content is validated by
 * resolving it before anything is written.
 */
export async function writeInitialConfig (dataDir: string, opts: InitialConfigOptions): Promise<InitialConfigResult> {
  const dir = resolve(dataDir)
  const path = configPath(dir)
  const cookieGenerated = opts.cookie === undefined && opts.cookieFile === undefined
  const cookie = cookieGenerated ? generateCookie(opts.random) : opts.cookie
  const cookieFile = opts.cookieFile === undefined ? undefined : resolve(opts.cookieFile)
  const text = renderInitialConfig(dir, { ...opts, cookie, cookieFile })
  const config = resolveConfig({ fileText: text, fileLabel: path, env: {}, flags: {}, readFile: (p) => readFileSync(p, 'utf8') })

  try {
    const st = await lstat(dir)
    if (!st.isDirectory()) throw new ConfigError(`data dir ${dir} is not a directory`, { key: 'data_dir', hint: 'choose a directory path for --data-dir' })
  } catch (e) {
    if (e instanceof ConfigError) throw e
    await mkdir(dir, { recursive: true, mode: 0o700 })
  }
  let overwritten = false
  try {
    await lstat(path)
    if (opts.force !== true) throw new ConfigExistsError(path)
    overwritten = true
  } catch (e) {
    if (e instanceof ConfigExistsError) throw e
  }

  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(text, 'utf8')
      await fh.chmod(0o600)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
  // The rename is durable only once the directory entry is synced.
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
  return { path, config, cookieGenerated, overwritten }
}
