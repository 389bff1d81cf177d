/**
 * What a catalog change costs with DNS worker threads (`workers` > 1): one agent-sized catalog (default 1,000
 * services / 10,000 endpoints), a DnsServer with `--workers` responders on 127.0.0.87, and `--changes` changes of
 * one service each (its endpoints replaced, a new snapshot object as the catalog publishes). Per change it reports
 * a structured clone of the whole snapshot (what posting it whole would cost per worker; workers.ts posts only the
 * changed services), the main thread's zone update, and the hop: time from the change until every worker has rebuilt its zone (the delay before workers'
 * answers show the change; the main thread's are immediate).
 *
 *   node bench/dns-catalog-hop.ts [--services 1000] [--endpoints 10] [--workers 2] [--changes 20]
 */
import { loadavg } from 'node:os'
import type { CatalogService, CatalogSnapshot, CatalogView } from '../src/api/catalog.ts'
import { DnsServer } from '../src/dns/index.ts'

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}

function service(i: number, per: number, gen: number): CatalogService {
  return {
    id: `s${i}`, name: `svc${i}`, shortName: `svc${i}`, endpointMode: i % 5 === 0 ? 'dnsrr' : 'vip',
    vip: i % 5 === 0 ? undefined : `10.78.${i >> 8}.${i & 255}`, ports: [], stopGracePeriodMs: 10_000,
    endpoints: Array.from({ length: per }, (_, k) => {
      const n = i * per + k + gen
      return { taskId: `t${i}.${k}.${gen}`, slot: k + 1, taskName: `svc${i}.${k + 1}`, nodeId: 'n1', node: 'node1', ip: `10.77.${(n >> 8) & 255}.${n & 255}`, state: 'running' as const, health: 'none' as const }
    }),
  }
}

const median = (xs: number[]) => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1] as number }

const services = arg('services', 1000), per = arg('endpoints', 10), workers = arg('workers', 2), changes = arg('changes', 20)
let snap: CatalogSnapshot = { revision: 1, services: Array.from({ length: services }, (_, i) => service(i, per, 0)), nodes: [] }
const subs = new Set<(s: CatalogSnapshot) => void>()
const catalog: CatalogView = { current: () => snap, onChange: (fn) => { subs.add(fn); return () => subs.delete(fn) } }
const s = new DnsServer({ catalog, listen: [{ host: '127.0.0.87', port: 0 }], upstreams: [], workers, udp: 'auto' })
await s.start()
const w = s.workers
if (w === null) throw new Error('--workers must be ≥ 2')
let waiting: { revision: number; left: Set<number>; done: () => void } | null = null
w.onApplied = (id, rev) => {
  if (waiting === null || rev !== waiting.revision) return
  waiting.left.delete(id)
  if (waiting.left.size === 0) waiting.done()
}
const clone: number[] = [], zone: number[] = [], hop: number[] = []
for (let c = 0; c < changes; c++) {
  const i = (c * 37) % services
  const next: CatalogSnapshot = { ...snap, revision: snap.revision + 1, services: snap.services.slice() }
  next.services[i] = service(i, per, c + 1)
  let t = performance.now()
  structuredClone(next)
  clone.push(performance.now() - t)
  const applied = new Promise<void>((done) => { waiting = { revision: next.revision, left: new Set(w.list().map((x) => x.id)), done } })
  t = performance.now()
  snap = next
  for (const fn of subs) fn(next)
  await new Promise<void>((r) => setImmediate(r)) // the server updates its zone and posts to workers on the next turn
  const tz = performance.now()
  s.zoneRevision()
  zone.push(performance.now() - tz)
  await applied
  hop.push(performance.now() - t)
}
await s.stop()
console.log(`# dns-catalog-hop: ${services} services × ${per} endpoints, ${workers} responders, ${changes} one-service changes; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
console.log(`structured clone of the whole snapshot (not sent; per worker if it were): median ${median(clone).toFixed(1)} ms, max ${Math.max(...clone).toFixed(1)} ms`)
console.log(`main thread zone update after a change: median ${median(zone).toFixed(2)} ms`)
console.log(`change → every worker's zone rebuilt: median ${median(hop).toFixed(1)} ms, max ${Math.max(...hop).toFixed(1)} ms`)
console.log(JSON.stringify({ services, per, workers, changes, cloneMs: median(clone), zoneMs: median(zone), hopMs: median(hop), hopMaxMs: Math.max(...hop), load: loadavg() }))
