// `aspen … --help` for every command of the real executable, and completeness of the help texts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Command } from 'commander'
import { notWiredActions } from '../../../src/cli/actions.js'
import { buildProgram, type RunState } from '../../../src/cli/program.js'
import { fakeIo, pool, runInProcess, spawnAspen } from './helpers.js'

const COMMANDS: readonly string[][] = [
  [], ['init'], ['start'],
  ['cluster'], ['cluster', 'init'], ['cluster', 'status'], ['cluster', 'health'], ['cluster', 'add-learner'],
  ['cluster', 'promote'], ['cluster', 'change-membership'], ['cluster', 'remove'], ['cluster', 'transfer-leader'],
  ['cluster', 'snapshot'], ['cluster', 'ticket'], ['cluster', 'metrics'], ['cluster', 'backup'],
  ['cluster', 'alarm'], ['cluster', 'alarm', 'list'], ['cluster', 'alarm', 'disarm'],
  ['kv'], ['kv', 'put'], ['kv', 'get'], ['kv', 'del'], ['kv', 'scan'], ['kv', 'cas'], ['kv', 'txn'], ['kv', 'watch'],
  ['lease'], ['lease', 'grant'], ['lease', 'keep-alive'], ['lease', 'revoke'], ['lease', 'list'], ['lease', 'time-to-live'],
  ['restore'], ['recover']
]

function allCommands (cmd: Command, path: string[] = []): Array<{ path: string[], cmd: Command }> {
  return [{ path, cmd }, ...cmd.commands.flatMap((c) => allCommands(c, [...path, c.name()]))]
}

describe('aspen --help (real process)', () => {
  it('every command prints its help on stdout and exits 0', async () => {
    const results = await pool(COMMANDS, 4, async (path) => ({ path, ran: await spawnAspen([...path, '--help']) }))
    for (const { path, ran } of results) {
      const name = ['aspen', ...path].join(' ')
      assert.equal(ran.code, 0, `${name} --help exit code; stderr: ${ran.stderr}`)
      assert.equal(ran.stderr, '', `${name} --help wrote to stderr`)
      assert.ok(ran.stdout.startsWith(`Usage: ${name}`), `${name} --help: ${ran.stdout.slice(0, 80)}`)
      assert.match(ran.stdout, /Exit codes/, `${name} --help lists the exit codes`)
    }
  })

  it('`aspen help kv` and `aspen --version` work too', async () => {
    const help = await spawnAspen(['help', 'kv'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^Usage: aspen kv/)
    const version = await spawnAspen(['--version'])
    assert.equal(version.code, 0)
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/)
  })
})

describe('help texts are complete', () => {
  const state: RunState = { secrets: [], exitCode: 0, current: undefined }
  const program = buildProgram({ actions: notWiredActions(), io: fakeIo().io }, state)
  const commands = allCommands(program)

  it('the tree has exactly the documented commands', () => {
    const paths = commands.map((c) => c.path.join(' ')).filter((p) => !p.endsWith('help')).sort()
    assert.deepEqual(paths, COMMANDS.map((p) => p.join(' ')).sort())
  })

  it('every command and every option has a description', () => {
    for (const { path, cmd } of commands) {
      const name = ['aspen', ...path].join(' ')
      assert.ok(cmd.description().length > 20, `${name} has a description`)
      for (const opt of cmd.options) assert.ok(opt.description.length > 5, `${name} ${opt.flags} has a description`)
      for (const arg of cmd.registeredArguments) assert.ok(arg.description.length > 5, `${name} <${arg.name()}> has a description`)
    }
  })

  it('commands that talk to a cluster explain how to reach it', async () => {
    for (const path of COMMANDS.filter((p) => p[0] === 'cluster' || p[0] === 'kv' || p[0] === 'lease')) {
      const r = await runInProcess([...path, '--help'])
      assert.equal(r.code, 0)
      assert.match(r.stdout.toString(), /Reaching a cluster:/, path.join(' '))
    }
  })
})
