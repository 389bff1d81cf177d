/**
 * What a V8 heap snapshot holds, by kind: shallow bytes and counts per (node type, constructor or string), largest
 * first, plus duplicate strings (the same text held more than once). For bench/agent-scale.ts --heap-snapshot.
 * `--retained DnsServer,Ingress,...`: what objects of those constructors keep alive (retained size: their dominator
 * subtree, weak edges ignored) and their largest children, e.g. the DNS zone's share of the heap.
 *
 *   node bench/heap-summary.ts FILE.heapsnapshot [--top 30] [--retained Name,Name]
 */
import { readFileSync } from 'node:fs'

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

const file = process.argv[2]
if (file === undefined) {
  console.error('usage: node bench/heap-summary.ts FILE.heapsnapshot [--top 30] [--retained Name,Name]')
  process.exit(1)
}
const i = process.argv.indexOf('--top')
const top = i > 0 ? Number(process.argv[i + 1]) : 30
const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
const f = s.snapshot.meta.node_fields
const types = s.snapshot.meta.node_types[0]
const [T, N, SIZE, W] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size'), f.length]
const byKind = new Map<string, { bytes: number; count: number }>()
const strings = new Map<string, { bytes: number; count: number }>()
let total = 0
for (let o = 0; o < s.nodes.length; o += W) {
  const type = types[s.nodes[o + T] as number] as string
  const name = s.strings[s.nodes[o + N] as number] as string
  const size = s.nodes[o + SIZE] as number
  total += size
  const key = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${name}` : type
  const k = byKind.get(key) ?? { bytes: 0, count: 0 }
  k.bytes += size
  k.count++
  byKind.set(key, k)
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') {
    const d = strings.get(name) ?? { bytes: 0, count: 0 }
    d.bytes += size
    d.count++
    strings.set(name, d)
  }
}
const mb = (b: number) => (b / 1024 / 1024).toFixed(2)
console.log(`total shallow ${mb(total)} MB, ${s.nodes.length / W} nodes`)
for (const [k, v] of [...byKind].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) console.log(`${mb(v.bytes).padStart(8)} MB ${String(v.count).padStart(9)}  ${k}`)
let dupBytes = 0
for (const v of strings.values()) if (v.count > 1) dupBytes += v.bytes - v.bytes / v.count
console.log(`duplicate strings: ${mb(dupBytes)} MB could be saved; most duplicated:`)
for (const [k, v] of [...strings].filter(([, v]) => v.count > 1).sort((a, b) => (b[1].bytes - b[1].bytes / b[1].count) - (a[1].bytes - a[1].bytes / a[1].count)).slice(0, 15)) {
  console.log(`${mb(v.bytes).padStart(8)} MB ${String(v.count).padStart(9)}× ${JSON.stringify(k.slice(0, 60))}`)
}

const r = process.argv.indexOf('--retained')
if (r > 0) retained(s, (process.argv[r + 1] ?? '').split(','))

/** Retained sizes by dominators (Cooper, Harvey & Kennedy's iterative algorithm over a DFS post-order from the root). */
function retained(s: Snapshot, names: string[]): void {
  const m = s.snapshot.meta
  const ef = m.edge_fields
  const EW = ef.length
  const [ET, EN, ETO, EC] = [ef.indexOf('type'), ef.indexOf('name_or_index'), ef.indexOf('to_node'), f.indexOf('edge_count')]
  const etypes = m.edge_types[0]
  const n = s.nodes.length / W
  const first = new Int32Array(n + 1)
  for (let v = 0, e = 0; v < n; v++) { first[v] = e; e += s.nodes[v * W + EC] as number }
  first[n] = s.edges.length / EW
  const strong = (e: number) => { const t = etypes[s.edges[e * EW + ET] as number]; return t !== 'weak' && t !== 'shortcut' }
  const to = (e: number) => (s.edges[e * EW + ETO] as number) / W
  const order = new Int32Array(n).fill(-1)
  const post: number[] = []
  const next = Int32Array.from(first.subarray(0, n))
  const seen = new Uint8Array(n)
  const stack = [0]
  seen[0] = 1
  while (stack.length > 0) {
    const v = stack[stack.length - 1] as number
    const e = next[v] as number
    if (e < (first[v + 1] as number)) {
      next[v] = e + 1
      const w = to(e)
      if (strong(e) && !seen[w]) { seen[w] = 1; stack.push(w) }
    } else { stack.pop(); order[v] = post.length; post.push(v) }
  }
  const preds: number[][] = Array.from({ length: n }, () => [])
  for (let v = 0; v < n; v++) if (seen[v]) for (let e = first[v] as number; e < (first[v + 1] as number); e++) if (strong(e)) preds[to(e)]?.push(v)
  const idom = new Int32Array(n).fill(-1)
  idom[0] = 0
  const meet = (a: number, b: number) => { while (a !== b) { while ((order[a] as number) < (order[b] as number)) a = idom[a] as number; while ((order[b] as number) < (order[a] as number)) b = idom[b] as number } return a }
  for (let changed = true; changed;) {
    changed = false
    for (let k = post.length - 2; k >= 0; k--) {
      const v = post[k] as number
      let d = -1
      for (const p of preds[v] as number[]) if (idom[p] !== -1) d = d === -1 ? p : meet(p, d)
      if (d !== idom[v]) { idom[v] = d; changed = true }
    }
  }
  const size = new Float64Array(n)
  for (let v = 0; v < n; v++) size[v] = s.nodes[v * W + SIZE] as number
  for (const v of post) {
    const d = idom[v] as number
    if (v !== 0 && d >= 0) size[d] = (size[d] as number) + (size[v] as number)
  }
  const label = (v: number) => `${types[s.nodes[v * W + T] as number]} ${s.strings[s.nodes[v * W + N] as number]}`
  console.log(`retained (dominator tree), root ${mb(size[0] as number)} MB:`)
  for (let v = 0; v < n; v++) {
    if (types[s.nodes[v * W + T] as number] !== 'object' || !names.includes(s.strings[s.nodes[v * W + N] as number] as string)) continue
    console.log(`${mb(size[v] as number).padStart(8)} MB  ${label(v)}`)
    const kids: Array<[string, number]> = []
    for (let e = first[v] as number; e < (first[v + 1] as number); e++) {
      const w = to(e)
      if (idom[w] === v) kids.push([String(s.strings[s.edges[e * EW + EN] as number] ?? s.edges[e * EW + EN]), size[w] as number])
    }
    for (const [k, b] of kids.sort((a, b) => b[1] - a[1]).slice(0, 5)) if (b > 64 * 1024) console.log(`${mb(b).padStart(14)} MB    .${k}`)
  }
}
