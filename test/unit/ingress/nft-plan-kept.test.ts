/**
 * planNft keeps each unchanged (frozen) service's part of the plan from one catalog change to the next, and nftTable
 * each entry's chain: through random churn, ejections and network changes the plan and the table equal those made
 * from scratch (from unfrozen copies, which are never kept), and an unchanged service's entries are the same objects.
 */
import t from 'tap'
import { seededRandom } from '../../../src/base/index.ts'
import { Catalog, type CatalogSnapshot } from '../../../src/catalog/index.ts'
import { nftTable, planNft } from '../../../src/ingress/nft-rules.ts'
import { renderFull } from '../../../src/ingress/nft-table.ts'
import { ejectionFilter, type EjectionSource } from '../../../src/ingress/serving.ts'
import { ScaleCatalog } from '../../../bench/scale-catalog.ts'

const fresh = (snap: CatalogSnapshot): CatalogSnapshot => structuredClone(snap)

t.test('the kept plan and table equal a fresh one through churn and ejections', async (t) => {
  const sc = new ScaleCatalog({ services: 60, perService: 4, portBase: 30_000 })
  const catalog = new Catalog({})
  catalog.apply(sc.snapshot())
  const random = seededRandom(7)
  // Ejections on a few services' published ports: those services are made again while one lasts.
  const ejected = new Map<string, Map<string, { ejectedUntil: number; failures: number }>>()
  const sources = (): EjectionSource[] => catalog.current().services.map((s) => {
    const m = ejected.get(s.name) ?? new Map()
    return { service: s.name, balancer: { get: (k: string) => m.get(k), backends: () => [...m.values()] } }
  })
  let table = nftTable(planNft(catalog.current()), {}, null)
  for (let round = 0; round < 80; round++) {
    catalog.apply(sc.churn(1 + Math.floor(random.next() * 5)).snap)
    const snap = catalog.current()
    if (round % 7 === 3) {
      const s = snap.services[Math.floor(random.next() * snap.services.length)]
      const e = s?.endpoints[0]
      if (s && e) ejected.set(s.name, new Map([[`${e.ip}:80`, { ejectedUntil: round + 5, failures: 1 }]]))
    }
    const now = round
    const kept = planNft(snap, ejectionFilter(sources(), now))
    const scratch = planNft(fresh(snap), ejectionFilter(sources(), now))
    t.same(kept, scratch, `round ${round}: plan`)
    const next = nftTable(kept, {}, table)
    t.equal(renderFull(next), renderFull(nftTable(scratch)), `round ${round}: table`)
    table = next
  }
  t.ok(ejected.size > 0, 'some rounds had ejections')
})

t.test('an unchanged service keeps its entries; a changed one, a network change or an ejection makes them again', async (t) => {
  const sc = new ScaleCatalog({ services: 3, perService: 2, portBase: 31_000 })
  const catalog = new Catalog({})
  catalog.apply(sc.snapshot())
  const a = planNft(catalog.current())
  const b = planNft(catalog.current())
  t.equal(b.vips[0], a.vips[0], 'same snapshot: same entry objects')
  const web = catalog.current().services[0]?.name as string
  const e = catalog.current().services[0]?.endpoints[0]
  const eject: EjectionSource = { service: web, balancer: { get: (k) => (k === `${e?.ip}:80` ? { ejectedUntil: 10 } : undefined), backends: () => [{ ejectedUntil: 10 }] } }
  const c = planNft(catalog.current(), ejectionFilter([eject], 5))
  t.equal(c.ports.find((p) => p.published === 31_000)?.backends.length, 1, 'the ejected endpoint is out')
  t.equal(planNft(catalog.current(), ejectionFilter([eject], 20)).ports.find((p) => p.published === 31_000), a.ports.find((p) => p.published === 31_000),
    'the ejection over: the kept entry again')
  const unlisted: EjectionSource = { service: web, balancer: { get: () => undefined } }
  t.not(planNft(catalog.current(), ejectionFilter([unlisted], 0)).ports[0], a.ports[0], 'a balancer that cannot list its backends: made again')
  t.same(planNft(catalog.current(), ejectionFilter([unlisted], 0)), a, 'with the same content')
})
