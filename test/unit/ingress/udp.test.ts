import t, { type Test } from 'tap'
import dgram from 'node:dgram'
import { Ingress } from '../../../src/ingress/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeCatalog, ep, noExec, noLog, svc, udpPort } from './helpers.ts'

function client(t: Test): dgram.Socket {
  const c = dgram.createSocket('udp4')
  t.teardown(() => new Promise<void>((r) => c.close(() => r())))
  return c
}

async function ask(c: dgram.Socket, port: number, msg: string): Promise<string> {
  const reply = new Promise<string>((resolve) => c.once('message', (m) => resolve(String(m))))
  c.send(msg, port, '127.0.0.1')
  return reply
}

t.test('UDP echo through the proxy from 2 clients: one flow each, round robin, idle expiry', async (t) => {
  const target = await udpPort('127.0.0.2')
  const published = await udpPort('127.0.0.1')
  const peers: string[] = []
  const backends = ['127.0.0.2', '127.0.0.3'].map((a) => {
    const s = dgram.createSocket('udp4')
    s.on('message', (m, r) => {
      peers.push(`${a}<-${r.port}`)
      s.send(`${a}:${m}`, r.port, r.address)
    })
    return { s, a }
  })
  for (const b of backends) await new Promise<void>((r) => b.s.bind(target, b.a, () => r()))
  t.teardown(() => Promise.all(backends.map((b) => new Promise<void>((r) => b.s.close(() => r())))))
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'udp', mode: 'ingress' }], [ep(1, '127.0.0.2'), ep(2, '127.0.0.3')])])
  // Flow expiry runs on the fake clock (the proxy sweeps every ¼ of the idle timeout); datagrams are real loopback I/O.
  const clock = new FakeClock()
  const ing = new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, udpIdleTimeoutMs: 200, clock })
  await ing.start()
  t.teardown(() => ing.stop())
  const a = client(t)
  const b = client(t)
  t.equal(await ask(a, published, 'a1'), '127.0.0.2:a1')
  t.equal(await ask(b, published, 'b1'), '127.0.0.3:b1')
  t.equal(await ask(a, published, 'a2'), '127.0.0.2:a2', 'a flow sticks to its backend')
  t.equal(await ask(b, published, 'b2'), '127.0.0.3:b2')
  const st = ing.status()[0]!
  t.equal(st.open, 2, 'two flows')
  t.same(st.endpoints.map((e) => [e.connections, e.bytesIn, e.bytesOut]), [[1, 4, 24], [1, 4, 24]])
  t.equal(new Set(peers.filter((p) => p.startsWith('127.0.0.2'))).size, 1, 'one upstream socket per flow')
  await clock.advance(150)
  t.equal(ing.status()[0]?.open, 2, 'flows idle for less than the timeout stay')
  await clock.advance(50)
  t.equal(ing.status()[0]?.open, 0, 'flows expire when idle')
  t.equal(await ask(a, published, 'a3'), '127.0.0.2:a3', 'a new flow after expiry')
})

t.test('UDP flow table is bounded', async (t) => {
  const target = await udpPort('127.0.0.2')
  const published = await udpPort('127.0.0.1')
  const echo = dgram.createSocket('udp4')
  echo.on('message', (m, r) => echo.send(m, r.port, r.address))
  await new Promise<void>((r) => echo.bind(target, '127.0.0.2', () => r()))
  t.teardown(() => new Promise<void>((r) => echo.close(() => r())))
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'udp', mode: 'ingress' }], [ep(1, '127.0.0.2')])])
  const ing = new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, maxUdpFlows: 3 })
  await ing.start()
  t.teardown(() => ing.stop())
  for (let i = 0; i < 5; i++) t.equal(await ask(client(t), published, `m${i}`), `m${i}`)
  t.equal(ing.status()[0]?.open, 3, 'the oldest flows made room')
})
