// The comparison report: one row per system/workload/clients in the JSON shape, a text table with the
// Aspen/etcd ratios, and an SVG chart of throughput vs concurrency (hand-written SVG, no dependency).
import type { Workload } from './load-generator.js'

export type SystemName = 'aspen' | 'etcd'

/** One measured cell, exactly the shape issue 9 asks for (plus errors and the load average during the run). */
export interface ResultRow {
  system: SystemName
  workload: Workload
  clients: number
  ops_per_s: number
  p50_ms: number
  p99_ms: number
  p999_ms: number
  cpu_s_per_kop: number
  rss_mb: number
  errors: number
  load_avg: number
}

const r1 = (x: number): number => Math.round(x * 10) / 10
const r3 = (x: number): number => Math.round(x * 1000) / 1000

/** Rounds a row for printing and JSON. */
export function roundRow (r: ResultRow): ResultRow {
  return { ...r, ops_per_s: Math.round(r.ops_per_s), p50_ms: r3(r.p50_ms), p99_ms: r3(r.p99_ms), p999_ms: r3(r.p999_ms), cpu_s_per_kop: r3(r.cpu_s_per_kop), rss_mb: r1(r.rss_mb), load_avg: r1(r.load_avg) }
}

export interface Ratio {
  workload: Workload
  clients: number
  /** aspen / etcd for throughput (higher is better for Aspen). */
  ops: number
  /** aspen / etcd for p99 and CPU per op (lower is better for Aspen). */
  p99: number
  cpu: number
}

/** Aspen/etcd ratios for every workload/clients measured on both systems. */
export function ratios (rows: readonly ResultRow[]): Ratio[] {
  const out: Ratio[] = []
  for (const a of rows.filter(r => r.system === 'aspen')) {
    const e = rows.find(r => r.system === 'etcd' && r.workload === a.workload && r.clients === a.clients)
    if (e === undefined) continue
    out.push({ workload: a.workload, clients: a.clients, ops: a.ops_per_s / e.ops_per_s, p99: a.p99_ms / e.p99_ms, cpu: a.cpu_s_per_kop / e.cpu_s_per_kop })
  }
  return out
}

const pad = (s: string, n: number): string => s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length)
const lpad = (s: string, n: number): string => s.length >= n ? s + ' ' : ' '.repeat(n - s.length) + s + ' '

/** The human table: one line per row, then the ratios. */
export function tableLines (rows: readonly ResultRow[]): string[] {
  const head = pad('system', 7) + pad('workload', 9) + lpad('clients', 8) + lpad('ops/s', 9) + lpad('p50 ms', 9) + lpad('p99 ms', 9) +
    lpad('p99.9 ms', 9) + lpad('cpu s/kop', 10) + lpad('rss MB', 8) + lpad('errors', 7) + lpad('load', 6)
  const lines = [head, '-'.repeat(head.length)]
  for (const raw of rows) {
    const r = roundRow(raw)
    lines.push(pad(r.system, 7) + pad(r.workload, 9) + lpad(String(r.clients), 8) + lpad(String(r.ops_per_s), 9) + lpad(r.p50_ms.toFixed(2), 9) +
      lpad(r.p99_ms.toFixed(2), 9) + lpad(r.p999_ms.toFixed(2), 9) + lpad(r.cpu_s_per_kop.toFixed(3), 10) + lpad(r.rss_mb.toFixed(0), 8) +
      lpad(String(r.errors), 7) + lpad(r.load_avg.toFixed(1), 6))
  }
  const rs = ratios(rows)
  if (rs.length > 0) {
    lines.push('', 'Aspen/etcd: ops/s ratio (≥ 2 is the target), p99 ratio and CPU-per-op ratio (≤ 1 is the target)')
    for (const x of rs) lines.push(`  ${pad(x.workload, 7)}${lpad(String(x.clients), 4)} clients: ops ×${x.ops.toFixed(2)}  p99 ×${x.p99.toFixed(2)}  cpu/op ×${x.cpu.toFixed(2)}`)
  }
  return lines
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** An SVG line chart of ops/s vs clients, one line per system and workload. */
export function chartSvg (rows: readonly ResultRow[], title: string): string {
  const W = 720
  const H = 420
  const m = { l: 70, r: 190, t: 40, b: 50 }
  const clients = [...new Set(rows.map(r => r.clients))].sort((a, b) => a - b)
  const maxOps = Math.max(1, ...rows.map(r => r.ops_per_s))
  const x = (c: number): number => clients.length === 1 ? m.l + (W - m.l - m.r) / 2 : m.l + (W - m.l - m.r) * clients.indexOf(c) / (clients.length - 1)
  const y = (v: number): number => H - m.b - (H - m.t - m.b) * v / (maxOps * 1.1)
  const colors: Record<SystemName, string> = { aspen: '#1b7f3b', etcd: '#3b5bdb' }
  const dash: Record<Workload, string> = { write: '', read: '6 4', mixed: '2 3' }
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${(W - m.r + m.l) / 2}" y="${H - 12}" text-anchor="middle">concurrent clients</text>`,
    `<text x="16" y="${(H - m.b + m.t) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(H - m.b + m.t) / 2})">ops/s</text>`
  ]
  for (let i = 0; i <= 5; i++) {
    const v = maxOps * 1.1 * i / 5
    parts.push(`<line x1="${m.l - 4}" y1="${y(v).toFixed(1)}" x2="${W - m.r}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${m.l - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`)
  }
  for (const c of clients) parts.push(`<text x="${x(c).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${c}</text>`)
  let legendY = m.t + 10
  for (const sys of ['aspen', 'etcd'] as const) {
    for (const wl of ['write', 'read', 'mixed'] as const) {
      const pts = rows.filter(r => r.system === sys && r.workload === wl).sort((a, b) => a.clients - b.clients)
      if (pts.length === 0) continue
      const d = pts.map(p => `${x(p.clients).toFixed(1)},${y(p.ops_per_s).toFixed(1)}`).join(' ')
      parts.push(`<polyline points="${d}" fill="none" stroke="${colors[sys]}" stroke-width="2" stroke-dasharray="${dash[wl]}"/>`)
      for (const p of pts) parts.push(`<circle cx="${x(p.clients).toFixed(1)}" cy="${y(p.ops_per_s).toFixed(1)}" r="3" fill="${colors[sys]}"><title>${sys} ${wl} ${p.clients}: ${Math.round(p.ops_per_s)} ops/s</title></circle>`)
      parts.push(`<line x1="${W - m.r + 15}" y1="${legendY}" x2="${W - m.r + 45}" y2="${legendY}" stroke="${colors[sys]}" stroke-width="2" stroke-dasharray="${dash[wl]}"/>`,
        `<text x="${W - m.r + 52}" y="${legendY + 4}">${sys} ${wl}</text>`)
      legendY += 20
    }
  }
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
