// `aspen lease …`: leases with a TTL. Keys put with a lease (`kv put --lease ID`, or `kv put --ttl S` which grants
// one) are deleted when it expires; the leader decides expiry and replicates it as a log entry.

import { type Command, Option } from 'commander'
import { MAX_LEASE_TTL_SECONDS } from '../api/limits.js'
import { printJson, printJsonLine, printLine } from './format.js'
import { addTargetOptions, EXIT_CODES_HELP, positiveInt, TARGET_HELP, type TargetOptions } from './options.js'
import type { CliDeps, RunState } from './program.js'
import { trackSubcommands } from './program.js'
import { requestContext } from './target.js'

const leaseId = positiveInt()

/** Registers `aspen lease` and its subcommands. */
export function registerLease (program: Command, deps: CliDeps, state: RunState): void {
  const { io, actions } = deps
  const lease = program.command('lease')
    .summary('leases with a TTL: grant, keep-alive, revoke, list, time-to-live')
    .description('Leases: a key put with a lease is deleted when the lease expires (no keep-alive within its TTL) or ' +
      'is revoked. The leader keeps the deadlines and replicates each expiry as a log entry, so every replica deletes ' +
      'the same keys; a new leader gives every lease at least its full TTL again.')
    .addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)
  trackSubcommands(lease, state)

  const sub = (name: string, summary: string, description: string): Command =>
    addTargetOptions(lease.command(name).summary(summary).description(description))
      .addHelpText('after', TARGET_HELP + '\n' + EXIT_CODES_HELP)

  sub('grant', 'create a lease with a TTL in seconds and print its id',
    'Create a lease that lives TTL seconds after its last keep-alive. Prints the lease id (attach keys with ' +
    '`aspen kv put --lease ID`).')
    .argument('<ttl>', `seconds (1 to ${MAX_LEASE_TTL_SECONDS})`, positiveInt(MAX_LEASE_TTL_SECONDS))
    .addOption(new Option('--id <id>', 'use this lease id instead of one the cluster picks').argParser(leaseId))
    .action(async (ttl: number, o: TargetOptions & { id?: number }) => {
      const r = await actions.lease.grant(requestContext(io, o, state.secrets), { ttlSeconds: ttl, id: o.id })
      if (o.json === true) printJson(io, r)
      else printLine(io, `lease ${r.id} granted with TTL ${r.ttlSeconds}s`)
    })

  sub('keep-alive', 'keep a lease alive until interrupted (or once)',
    'Send keep-alives for lease ID every third of its TTL until Ctrl-C, printing each renewal; with --once send ' +
    'one. Fails when the lease has expired or was revoked.')
    .argument('<id>', 'lease id', leaseId)
    .addOption(new Option('--once', 'send a single keep-alive and exit'))
    .action(async (id: number, o: TargetOptions & { once?: boolean }) => {
      const ctx = requestContext(io, o, state.secrets)
      try {
        await actions.lease.keepAlive(ctx, {
          id,
          once: o.once === true,
          onRenew: (r) => { if (o.json === true) printJsonLine(io, r); else printLine(io, `lease ${r.id} kept alive (TTL ${r.ttlSeconds}s)`) }
        })
      } catch (e) {
        // Ctrl-C is how a keep-alive loop ends; it is not a failure.
        if (ctx.signal.aborted) return
        throw e
      }
    })

  sub('revoke', 'end a lease now and delete its keys', 'Revoke lease ID: it ends at once and every key attached to it is deleted.')
    .argument('<id>', 'lease id', leaseId)
    .action(async (id: number, o: TargetOptions) => {
      const r = await actions.lease.revoke(requestContext(io, o, state.secrets), { id })
      if (o.json === true) printJson(io, r)
      else printLine(io, `lease ${r.id} revoked (${r.deleted} key${r.deleted === 1 ? '' : 's'} deleted)`)
    })

  sub('list', 'list leases with their remaining time', 'List every lease: id, TTL and the time left before the leader ends it.')
    .action(async (o: TargetOptions) => {
      const leases = await actions.lease.list(requestContext(io, o, state.secrets))
      if (o.json === true) { printJson(io, { leases }); return }
      if (leases.length === 0) printLine(io, 'no leases')
      for (const l of leases) printLine(io, `${l.id}\tTTL ${l.ttlSeconds}s\tremaining ${(l.remainingMs / 1000).toFixed(1)}s`)
    })

  sub('time-to-live', 'show one lease (and its keys with --keys)', 'Show lease ID: TTL, time left and, with --keys, up to 1000 attached keys.')
    .argument('<id>', 'lease id', leaseId)
    .addOption(new Option('--keys', 'also list the keys attached to it'))
    .action(async (id: number, o: TargetOptions & { keys?: boolean }) => {
      const l = await actions.lease.timeToLive(requestContext(io, o, state.secrets), { id, keys: o.keys === true })
      if (o.json === true) { printJson(io, l); return }
      printLine(io, `lease ${l.id}: TTL ${l.ttlSeconds}s, remaining ${(l.remainingMs / 1000).toFixed(1)}s, granted at revision ${l.grantRevision}`)
      for (const k of l.keys ?? []) printLine(io, `  ${Buffer.from(k, 'base64').toString('utf8')}`)
    })
}
