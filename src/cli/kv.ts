// `aspen kv …`: reads and writes. Keys are command-line text (UTF-8); values come from an argument, --file or
// stdin and are bytes end to end: `kv get` writes the value raw to stdout (or --out), JSON carries it as base64.

import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { type Command, Option } from 'commander'
import { MAX_KEY_BYTES, MAX_LEASE_TTL_SECONDS, MAX_REQUEST_BYTES, MAX_VALUE_BYTES } from '../api/limits.js'
import type { Consistency } from './actions.js'
import { CliFailure, CompareFailedError, EXIT, KeyNotFoundError, UsageError } from './errors.js'
import {
  humanBytes, kvJson, printJson, printJsonLine, printLine, txnResponseJson, txnResponseLines, watchEventJson, watchEventLine
} from './format.js'
import { readInputFile, readStdin, readValue, utf8 } from './io.js'
import { addTargetOptions, EXIT_CODES_HELP, nonNegativeInt, positiveInt, TARGET_HELP, type TargetOptions } from './options.js'
import type { CliDeps, RunState } from './program.js'
import { trackSubcommands } from './program.js'
import { requestContext } from './target.js'
import { parseTxnJson, TXN_FORMAT_HELP } from './txn-json.js'

/** Most keys `kv scan` returns in one run (the client pages through the store's 10 000-key pages). */
export const MAX_SCAN_LIMIT = 100_000
const CONSISTENCIES: readonly Consistency[] = ['linearizable', 'lease', 'stale']

/** The key argument as bytes: non-empty, at most MAX_KEY_BYTES. */
export function keyArg (key: string, what = 'key'): Uint8Array {
  const bytes = utf8(key)
  if (bytes.length === 0) throw new UsageError(`${what} is empty`, `give a non-empty ${what}`)
  if (bytes.length > MAX_KEY_BYTES) throw new UsageError(`${what} is ${bytes.length} bytes, over the ${MAX_KEY_BYTES}-byte limit`, `use a shorter ${what}`)
  return bytes
}

function consistencyOption (): Option {
  return new Option('--consistency <level>', 'linearizable: up to date, through the leader (ReadIndex); lease: leader ' +
    'lease read, no round trip; stale: local state of the reached node, works without quorum')
    .choices(CONSISTENCIES).default('linearizable')
}

/** Registers `aspen kv` and its subcommands. */
export function registerKv (program: Command, deps: CliDeps, state: RunState): void {
  const { io, actions } = deps
  const kv = program.command('kv')
    .summary('read and write keys: put, get, del, scan, cas, txn, watch')
    .description('Read and write keys. Keys are given as text (UTF-8, at most 1 KiB); values are bytes (at most ' +
      '1 MiB) from an argument, a file or stdin. Writes are acknowledged once committed by a quorum and applied.')
    .addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)
  trackSubcommands(kv, state)

  const sub = (name: string, summary: string, description: string): Command =>
    addTargetOptions(kv.command(name).summary(summary).description(description))
      .addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)

  sub('put', 'set a key to a value',
    'Set KEY to VALUE. The value is the VALUE argument, else the contents of --file FILE ("-" for stdin), else ' +
    'whatever is piped on stdin; binary-safe, at most 1 MiB.')
    .argument('<key>', 'key to set')
    .argument('[value]', 'value as text (omit to use --file or stdin)')
    .addOption(new Option('--file <file>', 'read the value from FILE ("-" = stdin)'))
    .addOption(new Option('--ttl <seconds>', 'grant a lease of this many seconds and attach the key: it is deleted when the lease expires')
      .argParser(positiveInt(MAX_LEASE_TTL_SECONDS)).conflicts('lease'))
    .addOption(new Option('--lease <id>', 'attach the key to this lease (from `aspen lease grant`)').argParser(positiveInt()))
    .addHelpText('after', '\nExamples:\n  aspen kv put --data-dir ./n1 greeting hello\n  aspen kv put --data-dir ./n1 logo --file logo.png\n' +
      '  tar c dir | aspen kv put --data-dir ./n1 archive')
    .action(async (key: string, valueArg: string | undefined, o: TargetOptions & { file?: string, ttl?: number, lease?: number }) => {
      const k = keyArg(key)
      const value = await readValue(io, { arg: valueArg, file: o.file, maxBytes: MAX_VALUE_BYTES, what: 'value' })
      const r = await actions.kv.put(requestContext(io, o, state.secrets), { key: k, value, ttlS: o.ttl, ...(o.lease !== undefined ? { lease: o.lease } : {}) })
      if (o.json === true) printJson(io, r)
      else printLine(io, `OK (revision ${r.revision}${r.lease !== undefined ? `, lease ${r.lease}` : ''})`)
    })

  sub('get', 'print the value of a key (exit 3 if it does not exist)',
    'Print the value of KEY: raw bytes on stdout (a newline is added only on a terminal), or into --out FILE. ' +
    'With --json: the key, its value in base64, and its revisions. Exit code 3 when the key does not exist.')
    .argument('<key>', 'key to read')
    .addOption(consistencyOption())
    .addOption(new Option('--out <file>', 'write the value to FILE instead of stdout'))
    .action(async (key: string, o: TargetOptions & { consistency: Consistency, out?: string }) => {
      const k = keyArg(key)
      const kvp = await actions.kv.get(requestContext(io, o, state.secrets), { key: k, consistency: o.consistency })
      if (kvp === undefined) throw new KeyNotFoundError(`key ${JSON.stringify(key)} not found`)
      if (o.out !== undefined) await writeFile(resolve(io.cwd, o.out), kvp.value)
      if (o.json === true) { printJson(io, kvJson(kvp)); return }
      if (o.out !== undefined) return
      io.stdout.write(kvp.value)
      if (io.stdout.isTTY && kvp.value[kvp.value.length - 1] !== 0x0a) io.stdout.write('\n')
    })

  sub('del', 'delete a key',
    'Delete KEY. Deleting a key that does not exist is not an error (deleted: 0).')
    .argument('<key>', 'key to delete')
    .action(async (key: string, o: TargetOptions) => {
      const r = await actions.kv.del(requestContext(io, o, state.secrets), { key: keyArg(key) })
      if (o.json === true) printJson(io, r)
      else printLine(io, r.deleted > 0 ? `deleted (revision ${r.revision})` : 'no such key, nothing deleted')
    })

  sub('scan', 'list keys with a prefix and their values',
    'List the keys starting with PREFIX in key order, one "key<TAB>value" line each (values that are not ' +
    'printable text are shown as base64:…). Use "" for all keys. At most --limit keys.')
    .argument('<prefix>', 'key prefix ("" for every key)')
    .addOption(new Option('--limit <n>', `most keys to return (max ${MAX_SCAN_LIMIT})`).argParser(positiveInt(MAX_SCAN_LIMIT)).default(1000))
    .addOption(consistencyOption())
    .action(async (prefix: string, o: TargetOptions & { limit: number, consistency: Consistency }) => {
      const p = utf8(prefix)
      if (p.length > MAX_KEY_BYTES) throw new UsageError(`prefix is over the ${MAX_KEY_BYTES}-byte limit`, 'use a shorter prefix')
      const r = await actions.kv.scan(requestContext(io, o, state.secrets), { prefix: p, limit: o.limit, consistency: o.consistency })
      if (o.json === true) { printJson(io, { kvs: r.kvs.map(kvJson), more: r.more }); return }
      for (const e of r.kvs) printLine(io, `${humanBytes(e.key)}\t${humanBytes(e.value)}`)
      if (r.more) io.stderr.write(`note: more keys match; raise --limit (now ${o.limit}) to see them\n`)
    })

  sub('cas', 'compare-and-set: write only if the current value is as expected (exit 4 if not)',
    'Set KEY to --new VALUE only if its current value is --expect OLD, or, with --absent, only if KEY does not ' +
    'exist. Atomic. Exit code 4 when the compare fails (nothing is written).')
    .argument('<key>', 'key to set')
    .requiredOption('--new <value>', 'the value to write')
    .addOption(new Option('--expect <old>', 'write only if the current value is exactly this').conflicts('absent'))
    .addOption(new Option('--absent', 'write only if the key does not exist'))
    .action(async (key: string, o: TargetOptions & { new: string, expect?: string, absent?: boolean }) => {
      if (o.expect === undefined && o.absent !== true) throw new UsageError('cas needs --expect OLD or --absent', 'say what the current state must be')
      const k = keyArg(key)
      const value = await readValue(io, { arg: o.new, maxBytes: MAX_VALUE_BYTES, what: '--new value' })
      const expected = o.expect === undefined ? undefined : await readValue(io, { arg: o.expect, maxBytes: MAX_VALUE_BYTES, what: '--expect value' })
      const r = await actions.kv.cas(requestContext(io, o, state.secrets), { key: k, expected, value })
      if (o.json === true) {
        printJson(io, { succeeded: r.succeeded, revision: r.revision, current: r.current === undefined ? null : kvJson(r.current) })
      } else if (r.succeeded) {
        printLine(io, `OK (revision ${r.revision})`)
      }
      if (!r.succeeded) {
        const why = o.absent === true ? 'the key already exists' : r.current === undefined ? 'the key does not exist' : 'its current value differs'
        throw new CompareFailedError(`compare failed for ${JSON.stringify(key)}: ${why}; nothing was written`,
          `read it with \`aspen kv get ${JSON.stringify(key)}\` and retry`)
      }
    })

  sub('txn', 'run a transaction: compares, then success or failure ops, atomically',
    'Run a transaction read as JSON from --file FILE or stdin (format below). Prints SUCCESS or FAILURE and the ' +
    'result of each op; exit code 4 when the compares failed.')
    .addOption(new Option('--file <file>', 'read the transaction JSON from FILE ("-" = stdin, the default)'))
    .addHelpText('after', TXN_FORMAT_HELP)
    .action(async (o: TargetOptions & { file?: string }) => {
      // JSON with base64 needs room beyond the request limit for its own syntax.
      const limit = MAX_REQUEST_BYTES * 2
      let text: Uint8Array
      if (o.file !== undefined) text = await readInputFile(io, o.file, limit, 'transaction')
      else if (io.stdin.isTTY) throw new UsageError('missing transaction', 'pipe the JSON on stdin or pass --file FILE')
      else text = await readStdin(io, limit, 'transaction')
      const txn = parseTxnJson(Buffer.from(text).toString('utf8'))
      const r = await actions.kv.txn(requestContext(io, o, state.secrets), txn)
      if (o.json === true) printJson(io, txnResponseJson(r))
      else for (const l of txnResponseLines(r)) printLine(io, l)
      if (!r.succeeded) state.exitCode = EXIT.compareFailed
    })

  sub('watch', 'print changes under a prefix as they happen, until interrupted',
    'Print every put and delete of a key starting with PREFIX as it is applied, in revision order, until Ctrl-C. ' +
    'With --from-revision R, first replay the changes since revision R (if still retained; else exit 1 naming the ' +
    'oldest revision available). If the node serving the watch stops, it continues on another member with no gap.')
    .argument('<prefix>', 'key prefix ("" for every key)')
    .addOption(new Option('--from-revision <r>', 'replay changes from this revision on').argParser(nonNegativeInt()))
    .action(async (prefix: string, o: TargetOptions & { fromRevision?: number }) => {
      const p = utf8(prefix)
      if (p.length > MAX_KEY_BYTES) throw new UsageError(`prefix is over the ${MAX_KEY_BYTES}-byte limit`, 'use a shorter prefix')
      const ctx = requestContext(io, o, state.secrets)
      try {
        await actions.kv.watch(ctx, {
          prefix: p,
          fromRevision: o.fromRevision,
          onEvent: (ev) => { if (o.json === true) printJsonLine(io, watchEventJson(ev)); else printLine(io, watchEventLine(ev)) }
        })
      } catch (e) {
        // Ctrl-C is how a watch ends; it is not a failure.
        if (ctx.signal.aborted) return
        const oldest = (e as { oldestRevision?: unknown }).oldestRevision
        if ((e as { code?: unknown }).code === 'COMPACTED' && typeof oldest === 'number') {
          throw new CliFailure(`revision ${o.fromRevision ?? 0} is no longer kept (compacted); the oldest available is ${oldest}`,
            `read the current keys with \`aspen kv scan\`, then watch with --from-revision ${oldest} or later`)
        }
        throw e
      }
    })
}
