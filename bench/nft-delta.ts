/**
 * The nft fast path's cost per catalog change at scale (issue 21, item 1), apart from the rest of the agent: a table of
 * `services` services × `per-service` endpoints (a VIP and one published TCP port each), then `changes` changes of one
 * endpoint each. Per change: the pure part (planNft + nftTable against the table in place + renderDelta: CPU ms of
 * this process) and `nft -f` of the delta in a throwaway network namespace (wall ms; the host's rules are never
 * touched, the namespace is deleted at the end). Also the first whole-table apply. Needs root, ip and nft for the
 * kernel part (without them: the pure part only).
 *
 *   node bench/nft-delta.ts [--services 1000] [--per-service 10] [--changes 50]
 */
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import type { CatalogService, CatalogSnapshot } from '../src/catalog/index.ts'
import { execCommand, nftTable, planNft, renderDelta, renderFull, type NftTable } from '../src/ingress/index.ts'
import { percentile } from './scale-io.ts'

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const services = arg('services', 1000)
const perService = arg('per-service', 10)
const changes = arg('changes', 50)
const stats = (xs: number[]) => ({ n: xs.length, p50: +percentile(xs, 50).toFixed(1), p99: +percentile(xs, 99).toFixed(1), max: +percentile(xs, 100).toFixed(1) })

const ip = (i: number, j: number) => `10.${100 + (i >> 8)}.${i & 255}.${j + 2}`
const all: CatalogService[] = Array.from({ length: services }, (_, i) => ({
  id: `s${i}`, name: `svc${i}`, shortName: `svc${i}`, endpointMode: 'vip', vip: `10.90.${i >> 8}.${i & 255}`, stopGracePeriodMs: 10_000,
  ports: [{ published: 20000 + i, target: 80, protocol: 'tcp', mode: 'ingress' }],
  endpoints: Array.from({ length: perService }, (_, j) => ({
    taskId: `t${i}.${j}`, slot: j + 1, taskName: `svc${i}.${j + 1}`, nodeId: `n${j % 10}`, node: `node${j % 10}`, ip: ip(i, j), state: 'running', health: 'none',
  })),
}))
const snap = (revision: number): CatalogSnapshot => ({ revision, nodes: [], services: [...all] })

const canNetns = process.getuid?.() === 0 && ['/usr/sbin/nft', '/usr/sbin/ip'].every(existsSync)
const ns = canNetns ? `mesh-nftdelta-${process.pid}` : null
const out: Record<string, unknown> = { services, perService, endpoints: services * perService, changes, load: loadavg()[0] }
try {
  if (ns) await execCommand('ip', ['netns', 'add', ns])
  const apply = (input: string) => (ns ? execCommand('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], input) : Promise.resolve(''))
  let table: NftTable = nftTable(planNft(snap(1)))
  const full = renderFull(table)
  let a = performance.now()
  await apply(full)
  out.full = { bytes: full.length, applyMs: +(performance.now() - a).toFixed(0) }
  const cpu: number[] = []
  const kernel: number[] = []
  const bytes: number[] = []
  for (let c = 0; c < changes; c++) {
    const i = (c * 7919) % services
    const s = all[i] as CatalogService
    all[i] = { ...s, endpoints: s.endpoints.map((e, j) => (j === c % perService ? { ...e, taskId: `x${c}`, ip: `10.${120 + (i >> 8)}.${i & 255}.${c % 250 + 2}` } : e)) }
    const c0 = process.cpuUsage()
    const next = nftTable(planNft(snap(c + 2)), {}, table)
    const delta = renderDelta(table, next) as string
    const u = process.cpuUsage(c0)
    cpu.push((u.user + u.system) / 1000)
    bytes.push(delta.length)
    a = performance.now()
    await apply(delta)
    kernel.push(performance.now() - a)
    table = next
  }
  out.perChange = { pureCpuMs: stats(cpu), deltaBytes: stats(bytes), nftApplyMs: ns ? stats(kernel) : 'skipped (needs root, ip, nft)' }
  out.loadAfter = loadavg()[0]
  console.log(JSON.stringify(out))
} finally {
  if (ns) await execCommand('ip', ['netns', 'delete', ns]).catch(() => undefined)
}
