#!/usr/bin/env node
// The `aspen` executable: runs the CLI against the real process and exits with its code.

import { processIo } from './io.js'
import { runCli } from './program.js'
import { wiredActions } from './wired-actions.js'

const code = await runCli(process.argv.slice(2), { actions: wiredActions(), io: processIo() })
// Exit explicitly once stdout has drained, so a library handle left open cannot keep the process alive.
process.stdout.write('', () => process.exit(code))
