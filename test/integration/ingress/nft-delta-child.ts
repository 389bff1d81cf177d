// Runs inside a throwaway network namespace (`unshare -n`), started by nft-delta-netns.test.ts with
// NFT_DELTA_CHILD=1 (started any other way it does nothing and says why). Applies a sequence of ingress tables to
// the real kernel, each as a delta from the one before, and after each compares `nft list table` with what the whole
// table gives. Prints one JSON line: per step, the delta's size and whether the kernel's table matched.
import { execFileSync } from 'node:child_process'
import { nftTable, planNft, renderDelta, renderFull, type NftTable } from '../../../src/ingress/index.ts'
import type { CatalogService } from '../../../src/catalog/index.ts'
import { Catalog } from '../../../src/catalog/index.ts'
import { ScaleCatalog } from '../../../bench/scale-catalog.ts'
import { ep, svc } from '../../unit/ingress/helpers.ts'

if (process.env.NFT_DELTA_CHILD !== '1') {
  process.stderr.write('nft-delta-child.ts: nft-delta-netns.test.ts starts it under `unshare -n`\n')
  process.exit(0)
}
const web = (ips: string[]) => svc([{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], ips.map((ip, i) => ep(i + 1, ip)), { vip: '10.78.0.2' })
const api = (ips: string[]) => svc([{ published: 9090, target: 90, protocol: 'udp', mode: 'ingress' }], ips.map((ip, i) => ep(i + 1, ip)),
  { id: 's2', name: 'api', shortName: 'api', vip: '10.78.0.3' })
const table = (...services: CatalogService[]): NftTable => nftTable(planNft({ revision: 1, nodes: [], services }), { snatAddr: '10.77.1.1' })
const steps = [
  table(web(['10.77.1.2'])),
  table(web(['10.77.1.2', '10.77.1.3']), api(['10.77.2.2'])), // an endpoint and a service added
  table(web([]), api(['10.77.2.2', '10.77.2.3'])), // web's last endpoint gone: its VIP refuses
  table(api([])), // web removed, api refuses
  table(web(['10.77.1.9'])), // and back
]
const nft = (input: string) => execFileSync('nft', ['-f', '-'], { input })
const list = () => execFileSync('nft', ['list', 'table', 'ip', 'mesh-ingress']).toString()
// Order-free and without counter values: the same rules, chains, sets and elements.
const norm = (s: string) => s.replace(/ counter packets \d+ bytes \d+/g, '').split(/[\n,{}]/).map((l) => l.trim()).filter(Boolean).sort().join('\n')
const out: Array<{ deltaBytes: number; same: boolean }> = []
nft(renderFull(steps[0] as NftTable))
for (let i = 1; i < steps.length; i++) {
  const delta = renderDelta(steps[i - 1] as NftTable, steps[i] as NftTable) as string
  nft(delta)
  const afterDelta = list()
  nft(renderFull(steps[i] as NftTable))
  out.push({ deltaBytes: delta.length, same: norm(afterDelta) === norm(list()) })
}
// The agent's way: frozen snapshots from a Catalog (planNft keeps unchanged services' entries) and each table built
// against the one in place (`prev`), through churn of a 30-service catalog.
const catalog = new Catalog({})
const sc = new ScaleCatalog({ services: 30, perService: 3, portBase: 31_000 })
catalog.apply(sc.snapshot())
let kept = nftTable(planNft(catalog.current()), { snatAddr: '10.77.1.1' })
nft(renderFull(kept))
for (let i = 0; i < 10; i++) {
  catalog.apply(sc.churn(1 + (i % 3)).snap)
  const next = nftTable(planNft(catalog.current()), { snatAddr: '10.77.1.1' }, kept)
  const delta = renderDelta(kept, next) as string
  nft(delta)
  const afterDelta = list()
  nft(renderFull(next))
  out.push({ deltaBytes: delta.length, same: norm(afterDelta) === norm(list()) })
  kept = next
}
process.stdout.write(`${JSON.stringify(out)}\n`)
