import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OVERLAY_REFUSED_RETRY_MS, WorkerLink } from '../../../src/worker/index.ts'
import type { OverlayPeer } from '../../../src/api/watch.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeManager, fakeNodeTls } from './fake-manager.ts'

/**
 * The link's overlay part: it registers this node's WireGuard key and subnet (PUT /v1/agent/overlay with the node's
 * certificate), retries while the manager is away or refuses, and hands the `{peers}` list on to the overlay.
 */

const K1 = Buffer.alloc(32, 1).toString('base64')

const nodeTls = await fakeNodeTls('n1')

function harness(t: Test) {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-worker-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const manager = new FakeManager(clock)
  const logs: { level: string; msg: string }[] = []
  const peers: OverlayPeer[][] = []
  const link = new WorkerLink({
    transport: manager, clock, dataDir, hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1e9, memoryBytes: 1e9 },
    onAssignments: () => undefined, onPeers: (p) => peers.push(p),
    log: (level, msg) => logs.push({ level, msg }),
  })
  link.useIdentity({ nodeId: 'n1', role: 'worker', manager: manager.address }, nodeTls)
  t.teardown(() => link.stop())
  return { clock, manager, link, logs, peers }
}

t.test('registers with the node certificate; retried with backoff while the manager is away', async (t) => {
  const h = harness(t)
  h.manager.overlayAnswers = ['down', 'down', 503]
  h.link.registerOverlay({ publicKey: K1, subnet: '10.77.1.0/24' })
  await h.clock.advance(0)
  await h.clock.advance(250)
  await h.clock.advance(500)
  await h.clock.advance(1000)
  t.same(h.manager.overlayPuts.map((p) => p.at), [0, 250, 750, 1750], 'four tries: 250 ms doubling')
  t.same(h.manager.overlayPuts[0], { cert: nodeTls.cert, reg: { publicKey: K1, subnet: '10.77.1.0/24' }, at: 0 })
  await h.clock.advance(60_000)
  t.equal(h.manager.overlayPuts.length, 4, 'taken: no more tries')
  t.ok(h.logs.some((l) => l.msg === 'overlay registered with the manager'))
})

t.test('a refusal is logged once per reason and asked again every 30 s; a new registration replaces it', async (t) => {
  const h = harness(t)
  h.manager.overlayAnswers = [409, 409, 409]
  h.link.registerOverlay({ publicKey: K1, subnet: '10.77.1.0/24' })
  await h.clock.advance(0)
  await h.clock.advance(OVERLAY_REFUSED_RETRY_MS)
  t.equal(h.manager.overlayPuts.length, 2)
  t.equal(h.logs.filter((l) => l.level === 'error').length, 1, 'the same refusal is logged once')
  t.match(h.logs.find((l) => l.level === 'error')?.msg, /refused this node's overlay registration: overlay subnet 10\.77\.1\.0\/24 is registered to node "w9"/)
  h.link.registerOverlay({ publicKey: K1, subnet: '10.77.2.0/24' }) // the node moved
  await h.clock.advance(0)
  t.same(h.manager.overlayPuts.at(-1)?.reg.subnet, '10.77.2.0/24', 'sent at once')
  await h.clock.advance(OVERLAY_REFUSED_RETRY_MS)
  t.same(h.manager.overlayPuts.map((p) => p.reg.subnet), ['10.77.1.0/24', '10.77.1.0/24', '10.77.2.0/24', '10.77.2.0/24'], 'the old one is not sent again')
  await h.clock.advance(OVERLAY_REFUSED_RETRY_MS * 3)
  t.equal(h.manager.overlayPuts.length, 4, 'the fourth answer (200) ended it')
})

t.test('{peers} lines go to onPeers; a peers field that is not a list is a bad line', async (t) => {
  const h = harness(t)
  h.link.start()
  const s = h.manager.streams[0]!
  s.open()
  const list = [{ nodeId: 'n2', hostname: 'w2', publicKey: K1, subnet: '10.77.2.0/24' }]
  s.send({ peers: list })
  s.send({ peers: [] })
  s.send({ peers: 'everyone' })
  t.same(h.peers, [list, []])
  t.ok(h.logs.some((l) => l.msg === 'bad line on the assignment stream'))
})
