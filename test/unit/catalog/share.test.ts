import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Catalog, FileCatalogStore, type CatalogService, type CatalogSnapshot } from '../../../src/catalog/index.ts'

function service(i: number, ip = `10.77.0.${i + 2}`): CatalogService {
  return {
    id: `s${i}`, name: `svc${i}`, shortName: `svc${i}`, endpointMode: 'dnsrr', stopGracePeriodMs: 0, ports: [],
    endpoints: [{ taskId: `t${i}`, slot: 1, taskName: `svc${i}.1`, nodeId: 'n1', node: 'node1', ip, state: 'running', health: 'none' }],
  }
}

/** A snapshot as the manager's push decodes it: every object fresh. */
function snap(revision: number, services: CatalogService[]): CatalogSnapshot {
  return JSON.parse(JSON.stringify({ revision, epoch: 'e1', services, nodes: [{ id: 'n1', hostname: 'node1', addr: '192.168.1.1', state: 'ready' }] })) as CatalogSnapshot
}

t.test('a new snapshot shares its unchanged services with the one before, by identity', async (t) => {
  const c = new Catalog()
  c.apply(snap(1, [service(0), service(1), service(2)]))
  const a = c.current()
  t.ok(c.apply(snap(2, [service(0), service(1, '10.77.0.99'), service(2)])))
  const b = c.current()
  t.not(b, a, 'a new snapshot object')
  t.equal(b.services[0], a.services[0], 'unchanged service: the same object')
  t.equal(b.services[2], a.services[2])
  t.not(b.services[1], a.services[1], 'changed service: a new object')
  t.equal(b.services[1]?.endpoints[0]?.ip, '10.77.0.99')
  t.equal(b.nodes, a.nodes, 'unchanged nodes: the same list')
  t.ok(Object.isFrozen(b) && Object.isFrozen(b.services) && Object.isFrozen(b.services[1]?.endpoints[0]), 'frozen all the way down')
  t.notOk(c.apply(snap(2, [service(0), service(1, '10.77.0.99'), service(2)])), 'the same snapshot again: no change')
  t.equal(c.current(), b)
  t.ok(c.apply(snap(3, [service(0), service(1, '10.77.0.99'), service(2)])), 'a new revision of the same content is a change')
  t.equal(c.current().services, b.services, 'with the very same services list')
  t.ok(c.apply(snap(4, [service(2), service(0)])), 'removed and reordered')
  t.same(c.current().services.map((s) => s.id), ['s2', 's0'])
  t.equal(c.current().services[0], b.services[2], 'a moved service is still shared')
})

t.test('a caller mutating what it passed never changes the catalog', async (t) => {
  const c = new Catalog()
  const given = snap(1, [service(0)])
  c.apply(given)
  ;(given.services[0] as { name: string }).name = 'evil'
  ;(given.services[0]?.endpoints as unknown[]).push({ bogus: true })
  t.equal(c.current().services[0]?.name, 'svc0')
  t.equal(c.current().services[0]?.endpoints.length, 1)
  const before = c.current().services[0]
  const again = snap(2, [service(0)])
  again.services[0] = { ...(again.services[0] as CatalogService), extra: undefined } as CatalogService
  t.ok(c.apply(again))
  t.equal(c.current().services[0], before, 'an undefined field is no difference (JSON semantics)')
})

t.test('with a node down the view keeps sharing the filtered services between snapshots', async (t) => {
  const c = new Catalog()
  const two = (i: number): CatalogService => {
    const s = service(i)
    return { ...s, endpoints: [...s.endpoints, { ...(s.endpoints[0] as CatalogService['endpoints'][0]), taskId: `u${i}`, nodeId: 'n2', node: 'node2', ip: `10.77.1.${i + 2}` }] }
  }
  c.apply(snap(1, [two(0), two(1)]))
  c.nodeDown('node2')
  const a = c.current()
  t.equal(a.services[0]?.endpoints.length, 1, 'node2 endpoints out')
  c.apply(snap(2, [two(0), service(1, '10.77.0.50')]))
  const b = c.current()
  t.equal(b.services[0], a.services[0], 'the unchanged filtered service is the same object')
  t.equal(b.services[1]?.endpoints[0]?.ip, '10.77.0.50')
  c.nodeUp('node2')
  t.equal(c.current().services[0]?.endpoints.length, 2, 'back when the node is')
})

t.test('FileCatalogStore with coalesceMs writes the newest snapshot later, crash-safe, and on flush', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-catalog-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'catalog.json')
  const errors: string[] = []
  const store = new FileCatalogStore(dir, { coalesceMs: 60_000, onError: (e) => errors.push(e.message) })
  const c = new Catalog({ store })
  for (let r = 1; r <= 5; r++) c.apply(snap(r, [service(0), service(r)]))
  t.notOk(existsSync(file), 'nothing written on the apply path')
  await store.flush()
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.equal(JSON.parse(readFileSync(file, 'utf8')).revision, 5, 'only the newest is written')
  t.equal(readFileSync(file, 'utf8'), `${JSON.stringify(c.raw())}\n`, 'the text is JSON.stringify of the snapshot')
  t.notOk(existsSync(`${file}.tmp`), 'no temporary file left')
  const restarted = new Catalog({ store: new FileCatalogStore(dir) })
  t.ok(restarted.restore())
  t.equal(restarted.current().revision, 5)
  const quick = new FileCatalogStore(dir, { coalesceMs: 1 })
  quick.save(snap(9, [service(1)]))
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline && quick.load()?.revision !== 9) await new Promise((r) => setTimeout(r, 5))
  t.equal(quick.load()?.revision, 9, 'written by itself after coalesceMs')
  t.same(errors, [])
})
