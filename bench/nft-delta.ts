/**
 * The nft fast path's cost per catalog change at scale (issue 21, item 1), apart from the rest of the agent: a table of
 * `services` services × `per-service` endpoints (a VIP and one published TCP port each), then `changes` changes of one
 * endpoint each. Per change: the pure part (planNft + nftTable against the table in place + renderDelta: CPU ms of
 * this process) and the delta applied in a throwaway network namespace (the bench re-runs itself under `unshare -n`:
 * the host's rules are never touched, the namespace goes with the process), wall ms, by each way src/base/nft.ts
 * has, the changes taking turns: `process` (`nft -f -`, one process per change), `lib` (libnftables in-process, one
 * context kept: its cache survives between changes) and `lib-fresh` (a new context per change: the runner's default). Also the first
 * whole-table apply by each. Needs root, unshare and nft for the kernel part (without them: the pure part only).
 *
 *   node bench/nft-delta.ts [--services 1000] [--per-service 10] [--changes 60]
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { CatalogService, CatalogSnapshot } from '../src/catalog/index.ts'
import { LibNft, ProcessNft, loadNftAddon, nftErrorLine, type NftRunner } from '../src/base/index.ts'
import { nftTable, planNft, renderDelta, renderFull, type NftTable } from '../src/ingress/index.ts'
import { percentile } from './scale-io.ts'

// Root with unshare and nft: run again inside a new network namespace (gone when that process ends).
const canNetns = process.getuid?.() === 0 && ['/usr/sbin/nft', '/usr/bin/unshare'].every(existsSync)
if (canNetns && process.env.MESH_BENCH_NETNS !== '1') {
  const r = spawnSync('unshare', ['-n', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { env: { ...process.env, MESH_BENCH_NETNS: '1' }, stdio: 'inherit', timeout: 30 * 60_000 })
  process.exit(r.status ?? 1)
}
const inNetns = process.env.MESH_BENCH_NETNS === '1'

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const services = arg('services', 1000)
const perService = arg('per-service', 10)
const changes = arg('changes', 60)
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

const out: Record<string, unknown> = { services, perService, endpoints: services * perService, changes, load: loadavg()[0] }
const addon = loadNftAddon()
const ways: Array<{ name: string; runner: () => NftRunner }> = inNetns ? [
  { name: 'process', runner: (() => { const p = new ProcessNft(); return () => p })() },
  ...('addon' in addon ? [
    { name: 'lib', runner: (() => { const l = new LibNft(addon.addon, { keep: true }); return () => l })() },
    { name: 'lib-fresh', runner: () => new LibNft(addon.addon) },
  ] : []),
] : []
if ('error' in addon) out.lib = `unavailable: ${addon.error}`
const apply = async (runner: NftRunner, text: string): Promise<number> => {
  const a = performance.now()
  const r = await runner.run(text)
  const ms = performance.now() - a
  if (!r.ok) throw new Error(`nft: ${nftErrorLine(r)}`)
  return ms
}
let table: NftTable = nftTable(planNft(snap(1)))
const full = renderFull(table)
out.full = { bytes: full.length, applyMs: Object.fromEntries(await Promise.all(ways.map(async (w) => {
  const r = w.runner()
  const ms = await apply(r, full)
  if (w.name === 'lib-fresh') await r.close()
  return [w.name, +ms.toFixed(0)]
}))) }
const cpu: number[] = []
const bytes: number[] = []
const kernel = new Map<string, number[]>(ways.map((w) => [w.name, []]))
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
  const w = ways[c % Math.max(1, ways.length)]
  if (w) {
    const r = w.runner()
    kernel.get(w.name)?.push(await apply(r, delta))
    if (w.name === 'lib-fresh') await r.close()
  }
  table = next
}
out.perChange = {
  pureCpuMs: stats(cpu), deltaBytes: stats(bytes),
  nftApplyMs: inNetns ? Object.fromEntries([...kernel].map(([k, v]) => [k, stats(v)])) : 'skipped (needs root, unshare, nft)',
}
out.loadAfter = loadavg()[0]
console.log(JSON.stringify(out))
