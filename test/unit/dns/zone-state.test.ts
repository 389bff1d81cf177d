import t from 'tap'
import dnsPacket from 'dns-packet'
import type { CatalogSnapshot } from '../../../src/api/catalog.ts'
import { FORWARD, Responder, dnsConfig } from '../../../src/dns/index.ts'
import { ZoneState, buildZone, type ZoneService } from '../../../src/dns/zone.ts'
import { keyToName } from '../../../src/dns/wire.ts'
import { FakeCatalog } from './fixtures.ts'
import { ZoneGen, zoneData } from './zone-gen.ts'

const OPTS = { domain: 'mesh.', ttlSec: 5, reverseCidrs: [] }

/** One random catalog edit, as the manager's snapshots make them (a changed service is a new object). */
function edit(g: ZoneGen, services: ZoneService[]): ZoneService[] {
  const out = services.slice()
  const op = g.r.next()
  const at = (n: number) => Math.floor(g.r.next() * n)
  if (op < 0.5 && out.length) { const i = at(out.length); out[i] = g.change(out[i] as ZoneService) }
  else if (op < 0.7) out.splice(at(out.length + 1), 0, g.service())
  else if (op < 0.85 && out.length) out.splice(at(out.length), 1)
  else if (op < 0.92 && out.length) out.push(out[at(out.length)] as ZoneService) // the same object twice
  else if (out.length > 1) { const [x] = out.splice(at(out.length), 1); out.splice(at(out.length), 0, x as ZoneService) }
  return out
}

t.test('a zone updated through churn holds exactly the records of one built from the last snapshot', async (t) => {
  let checked = 0
  for (let seed = 1; seed <= 150; seed++) {
    const g = new ZoneGen(seed)
    let services = Array.from({ length: 1 + Math.floor(g.r.next() * 12) }, () => g.service())
    const state = new ZoneState(OPTS)
    for (let rev = 1; rev <= 12; rev++) {
      const churned = zoneData(state.update({ revision: rev, services }))
      const rebuilt = zoneData(buildZone({ revision: rev, services }, OPTS))
      if (JSON.stringify(churned) !== JSON.stringify(rebuilt)) {
        t.same(churned, rebuilt, `seed ${seed} revision ${rev}`)
        return
      }
      checked++
      services = edit(g, services)
    }
  }
  t.equal(checked, 150 * 12, 'every churned zone equals its rebuild')
})

function query(name: string, type: string): Buffer {
  return dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as dnsPacket.RecordType }] })
}

t.test('a responder that followed the churn answers byte for byte what a fresh one does', async (t) => {
  const g = new ZoneGen(2112)
  let services = Array.from({ length: 10 }, () => g.service())
  const snap = (revision: number): CatalogSnapshot => ({ revision, services, nodes: [] })
  const catalog = new FakeCatalog(snap(1))
  const churned = new Responder(catalog, dnsConfig({}))
  churned.zone()
  for (let rev = 2; rev <= 40; rev++) {
    services = edit(g, services)
    catalog.set(snap(rev))
    churned.zone()
  }
  const fresh = new Responder(new FakeCatalog(snap(40)), dnsConfig({}))
  const names = [...fresh.zone().names.keys()].map(keyToName)
  t.ok(names.length > 20, `${names.length} names`)
  let same = 0
  for (const name of [...names, 'nothing.mesh', 'web', 'tasks.web']) {
    for (const type of ['A', 'SRV', 'PTR', 'ANY', 'AAAA']) {
      for (const from of ['127.0.0.1', '10.77.1.2', '10.77.0.5']) {
        const a = churned.handle(query(name, type), from, false)
        const b = fresh.handle(query(name, type), from, false)
        if (a === FORWARD || b === FORWARD || a === null || b === null ? a !== b : !a.equals(b)) {
          t.fail(`${type} ${name} from ${from} differs`)
          return
        }
        same++
      }
    }
  }
  t.ok(same > 300, `${same} answers identical`)
})
