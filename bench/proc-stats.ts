// CPU time and resident memory of server processes, read from /proc (Linux): the fairest cost figures when the
// load generator and both systems share two cores with other work.
import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/PID/stat times (USER_HZ; 100 on every Linux this runs on). */
const CLK_TCK = 100

/** utime + stime of `pid` in seconds (all its threads); 0 when the process is gone. */
export function cpuSeconds (pid: number): number {
  let text: string
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return 0 }
  // Field 2 (comm) may hold spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state): utime is field 14, stime field 15.
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK
}

/** Resident set size of `pid` in MiB (VmRSS); 0 when the process is gone. */
export function rssMb (pid: number): number {
  let text: string
  try { text = readFileSync(`/proc/${pid}/status`, 'utf8') } catch { return 0 }
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(text)
  return m === null ? 0 : Number(m[1]) / 1024
}

/** Sum of cpuSeconds over `pids`. */
export function totalCpuSeconds (pids: readonly number[]): number {
  return pids.reduce((s, p) => s + cpuSeconds(p), 0)
}

/** Sum of rssMb over `pids`. */
export function totalRssMb (pids: readonly number[]): number {
  return pids.reduce((s, p) => s + rssMb(p), 0)
}

/** The 1-minute load average now (the machine is shared: every report carries it). */
export function loadAverage1 (): number {
  try { return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]) } catch { return Number.NaN }
}
