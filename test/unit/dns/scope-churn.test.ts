import t from 'tap'
import type { CatalogService, CatalogSnapshot } from '../../../src/api/catalog.ts'
import type { CatalogNetwork } from '../../../src/api/network.ts'
import { parseCidr } from '../../../src/base/cidr.ts'
import { buildScopes, type Scopes } from '../../../src/dns/scope.ts'
import type { Zone, ZoneService } from '../../../src/dns/zone.ts'
import { ZoneGen, zoneData } from './zone-gen.ts'

/**
 * Zones with networks follow the catalog per changed service (scope.ts hands each network's ZoneState on to the next
 * snapshot's scopes): through random churn of services, their networks, aliases, VIPs and task addresses, and of the
 * catalog's networks themselves, the scopes built from the scopes before hold exactly what scopes built fresh from the
 * same snapshot hold: every network's zone, the whole-catalog zone, who sees which zones, and the known names.
 */
const OPTS = { domain: 'mesh.', ttlSec: 5, reverseCidrs: [], defaultCidrs: [parseCidr('10.77.0.0/16', 'test', 'clear')] }

const NETWORKS: CatalogNetwork[] = [
  { id: 'na', name: 'a_default', subnet: '10.80.0.0/16', encrypted: true, internal: false, attachable: false, vni: 4097, slices: [{ nodeId: 'n1', subnet: '10.80.1.0/24' }] },
  { id: 'nb', name: 'b_default', subnet: '10.81.0.0/16', encrypted: false, internal: false, attachable: false, vni: 4098, slices: [{ nodeId: 'n1', subnet: '10.81.1.0/24' }] },
  { id: 'nf', name: 'front', subnet: '10.82.0.0/24', encrypted: false, internal: false, attachable: true, vni: 4099, slices: [{ nodeId: 'n1', subnet: '10.82.0.0/26' }] },
]
const SUBNET: Record<string, string> = { mesh: '10.77.1', na: '10.80.1', nb: '10.81.1', nf: '10.82.0' }

/** A ZoneGen service put on 1–3 random networks, each with maybe a VIP and an alias, its tasks addressed on most. */
function onNetworks(g: ZoneGen, s: ZoneService): CatalogService {
  const ids = ['mesh', 'na', 'nb', 'nf'].filter(() => g.r.next() < 0.45)
  if (ids.length === 0) return s // no `networks`: the default network, as before networks existed
  const octet = () => Math.floor(g.r.next() * 12) + 2
  const networks = ids.map((network) => ({
    network,
    ...(g.r.next() < 0.6 ? { vip: `${SUBNET[network]}.${200 + octet()}` } : {}),
    aliases: g.r.next() < 0.25 ? [g.pick(['web', 'shop', 'db', 'gateway'])] : [],
  }))
  const endpoints = s.endpoints.map((e) => ({
    ...e,
    addresses: ids.filter(() => g.r.next() < 0.85).map((network) => ({ network, ip: `${SUBNET[network]}.${octet()}` })),
  }))
  const { vip: _vip, ...rest } = s
  return { ...rest, networks, endpoints }
}

function edit(g: ZoneGen, services: CatalogService[]): CatalogService[] {
  const out = services.slice()
  const op = g.r.next()
  const at = (n: number) => Math.floor(g.r.next() * n)
  if (op < 0.4 && out.length) { const i = at(out.length); out[i] = onNetworks(g, g.change(out[i] as ZoneService)) }
  else if (op < 0.55 && out.length) { const i = at(out.length); out[i] = onNetworks(g, { ...(out[i] as ZoneService) }) } // same tasks, other networks
  else if (op < 0.7) out.splice(at(out.length + 1), 0, onNetworks(g, g.service()))
  else if (op < 0.85 && out.length) out.splice(at(out.length), 1)
  else if (op < 0.9 && out.length) out.push(out[at(out.length)] as CatalogService)
  else if (out.length > 1) { const [x] = out.splice(at(out.length), 1); out.splice(at(out.length), 0, x as CatalogService) }
  return out
}

/** Every name key some zone of these scopes holds (names and stacks' short names). */
function keysOf(sc: Scopes): string[] {
  const out = new Set<string>()
  for (const z of sc.byNetwork.values()) {
    for (const k of z.names.keys()) out.add(k)
    for (const m of z.byStack.values()) for (const k of m.keys()) out.add(k)
  }
  return [...out]
}

/**
 * Everything the scopes answer from, as plain data (zones by network id, askers by the ids of their zones), and which
 * of `probe` (name keys) they know.
 */
function scopesData(sc: Scopes, probe: readonly string[]): unknown {
  const idOf = new Map<Zone, string>([...sc.byNetwork].map(([id, z]) => [z, id]))
  const sorted = <T>(m: Iterable<[string, T]>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1))
  return {
    flat: sc.flat,
    byNetwork: sorted(sc.byNetwork).map(([id, z]) => [id, zoneData(z)]),
    all: zoneData(sc.all),
    askers: sorted(sc.askers).map(([ip, a]) => [ip, a.stack ?? null, a.zones.map((z) => idOf.get(z) ?? '?')]),
    known: probe.filter((k) => sc.known.has(k)).sort(),
  }
}

t.test('scopes with networks followed through churn equal scopes built fresh from each snapshot', async (t) => {
  let checked = 0
  let withNetworks = 0
  for (let seed = 1; seed <= 80; seed++) {
    const g = new ZoneGen(seed)
    let services = Array.from({ length: 1 + Math.floor(g.r.next() * 10) }, () => onNetworks(g, g.service()))
    let networks = NETWORKS.slice()
    let prev: Scopes | undefined
    for (let rev = 1; rev <= 12; rev++) {
      const snap: CatalogSnapshot = { revision: rev, nodes: [], services, networks }
      const followed = buildScopes(snap, OPTS, prev)
      const fresh = buildScopes(snap, OPTS)
      // Names of this snapshot and of the one before (some of them gone now), plus one no zone has.
      const probe = [...new Set([...keysOf(fresh), ...(prev ? keysOf(prev) : []), 'nowhere\u0001'])]
      const a = JSON.stringify(scopesData(followed, probe))
      if (a !== JSON.stringify(scopesData(fresh, probe))) {
        t.same(scopesData(followed, probe), scopesData(fresh, probe), `seed ${seed} revision ${rev}`)
        return
      }
      checked++
      if (!followed.flat) withNetworks++
      prev = followed
      services = edit(g, services)
      // Now and then the catalog's networks change (the zones' reverse ranges with them) or go away entirely.
      const n = g.r.next()
      if (n < 0.08) networks = NETWORKS.slice(0, 2)
      else if (n < 0.12) networks = []
      else if (n < 0.3) networks = NETWORKS.slice()
    }
  }
  t.equal(checked, 80 * 12, 'every followed scopes equals its fresh build')
  t.ok(withNetworks > checked / 2, `most snapshots had networks (${withNetworks})`)
})

t.test('an unchanged service costs its zones nothing: the next snapshot reuses its projections', async (t) => {
  const g = new ZoneGen(7)
  const services = Array.from({ length: 20 }, () => onNetworks(g, g.service()))
  const first = buildScopes({ revision: 1, nodes: [], services, networks: NETWORKS }, OPTS)
  const changed = services.slice()
  changed[3] = onNetworks(g, g.change(changed[3] as ZoneService))
  const second = buildScopes({ revision: 2, nodes: [], services: changed, networks: NETWORKS }, OPTS, first)
  for (const [id, zone] of second.byNetwork) t.equal(zone, first.byNetwork.get(id) ?? zone, `network ${id}: the same zone, updated in place`)
  const fresh = buildScopes({ revision: 2, nodes: [], services: changed, networks: NETWORKS }, OPTS)
  t.same(scopesData(second, keysOf(fresh)), scopesData(fresh, keysOf(fresh)), 'and it equals a fresh build')
})
