/**
 * What a V8 heap snapshot holds, by kind: shallow bytes and counts per (node type, constructor or string), largest
 * first, plus duplicate strings (the same text held more than once). For bench/agent-scale.ts --heap-snapshot.
 *
 *   node bench/heap-summary.ts FILE.heapsnapshot [--top 30]
 */
import { readFileSync } from 'node:fs'

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

const file = process.argv[2]
if (file === undefined) {
  console.error('usage: node bench/heap-summary.ts FILE.heapsnapshot [--top 30]')
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
