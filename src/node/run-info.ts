// The files a running node leaves in DATA_DIR/run/ so local commands find it: node.json (peer id, addresses,
// http address; no secrets) and ticket. Removed on a clean stop; a stale file after a crash is overwritten.
import { mkdir, rename, rm, writeFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** What DATA_DIR/run/node.json holds. */
export interface RunInfo {
  nodeId: number
  peerId: string
  clusterId: string
  /** Multiaddrs including /p2p/<peer id>. */
  addrs: string[]
  http?: string
  pid: number
  startedAt: string
}

/** Path of the run info a running node writes into its data dir. */
export function runInfoPath (dataDir: string): string {
  return join(dataDir, 'run', 'node.json')
}

/** Path of the ticket a running node writes into its data dir. */
export function runTicketPath (dataDir: string): string {
  return join(dataDir, 'run', 'ticket')
}

async function writeAtomic (path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, text, { mode: 0o644 })
  await rename(tmp, path)
}

/** Writes run/node.json and run/ticket atomically. */
export async function writeRunInfo (dataDir: string, info: RunInfo, ticket: string): Promise<void> {
  await mkdir(join(dataDir, 'run'), { recursive: true })
  await writeAtomic(runInfoPath(dataDir), JSON.stringify(info, null, 2) + '\n')
  await writeAtomic(runTicketPath(dataDir), ticket + '\n')
}

/** Reads run/node.json; throws the fs error when missing. */
export async function readRunInfo (dataDir: string): Promise<RunInfo> {
  return JSON.parse(await readFile(runInfoPath(dataDir), 'utf8')) as RunInfo
}

/** Removes the run files (on a clean stop). */
export async function removeRunInfo (dataDir: string): Promise<void> {
  await rm(runInfoPath(dataDir), { force: true })
  await rm(runTicketPath(dataDir), { force: true })
}
