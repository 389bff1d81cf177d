/**
 * The ingress's admission limits (docs/ingress.md, "Limits"): the process-wide fd budget and the per-source caps on
 * both TCP engines and on UDP, the rate-limited log line, and the default budget derived from RLIMIT_NOFILE.
 */
import t, { type Test } from 'tap'
import dgram from 'node:dgram'
import net from 'node:net'
import { Ingress, type IngressOptions } from '../../../src/ingress/index.ts'
import { FdBudget, openFileLimit, SourceCaps, Throttle } from '../../../src/ingress/limits.ts'
import { defaultFdBudget } from '../../../src/config/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeCatalog, bothEngines, ep, freePort, noExec, noLog, svc, udpPort, until } from './helpers.ts'

/** A TCP echo backend on 127.0.0.2 that keeps every connection open until the client closes it. */
async function echoBackend(t: Test, port: number): Promise<void> {
  const s = net.createServer((c) => c.pipe(c))
  await new Promise<void>((r) => s.listen(port, '127.0.0.2', () => r()))
  t.teardown(() => new Promise<void>((r) => { s.close(() => r()) }))
}

interface Held {
  sock: net.Socket
  /** 'ok' when the proxy echoed through a backend, 'closed' when it closed the connection first. */
  outcome: 'ok' | 'closed'
}

/** Connect from `from` through the published port, send one byte: echoed back or closed (bounded at 3 s). */
function hold(t: Test, port: number, from = '127.0.0.1'): Promise<Held> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, localAddress: from })
    t.teardown(() => { sock.destroy() })
    const timer = setTimeout(() => reject(new Error('no echo and no close within 3 s')), 3000)
    const done = (outcome: Held['outcome']) => {
      clearTimeout(timer)
      sock.removeAllListeners('data')
      resolve({ sock, outcome })
    }
    sock.on('error', () => undefined)
    sock.once('data', () => done('ok'))
    sock.once('close', () => done('closed'))
    sock.write('x')
  })
}

async function tcpSetup(t: Test, engine: 'raw' | 'net', o: Partial<IngressOptions>) {
  const target = await freePort(['127.0.0.2'])
  const published = await freePort(['127.0.0.1'])
  await echoBackend(t, target)
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'tcp', mode: 'ingress' }], [ep(1, '127.0.0.2')])])
  const lines: { msg: string; fields: Record<string, unknown> | undefined }[] = []
  const ing = new Ingress({
    catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', exec: noExec, tcpEngine: engine, ...o,
    log: (level, msg, fields) => { if (level === 'warn') lines.push({ msg, fields }) },
  })
  await ing.start()
  t.teardown(() => ing.stop())
  return { ing, published, lines }
}

bothEngines(t, 'the fd budget refuses the connection it cannot pay for and takes one again after a close', async (t, engine) => {
  const { ing, published, lines } = await tcpSetup(t, engine, { fdBudget: 4 }) // 2 connections × 2 descriptors
  const a = await hold(t, published)
  const b = await hold(t, published)
  t.same([a.outcome, b.outcome], ['ok', 'ok'], 'two connections fit the budget')
  t.equal(ing.limits().fdsUsed, 4)
  const c = await hold(t, published)
  t.equal(c.outcome, 'closed', 'the third is closed on accept')
  const d = await hold(t, published)
  t.equal(d.outcome, 'closed')
  t.equal(ing.limits().refusedFdBudget, 2, 'refusals are counted')
  t.equal(lines.filter((l) => l.msg === 'ingress connections refused by a limit').length, 1, 'one log line for two refusals')
  t.equal(ing.status()[0]?.rejected, 2, 'counted on the port too')
  a.sock.destroy()
  await until(() => ing.limits().fdsUsed === 2, 3000, 'the closed connection gives its descriptors back')
  const e = await hold(t, published)
  t.equal(e.outcome, 'ok', 'a new connection is taken again')
  t.equal(ing.status()[0]?.open, 2)
})

bothEngines(t, 'a per-source cap refuses one address its N+1th connection, not the others', async (t, engine) => {
  const { ing, published } = await tcpSetup(t, engine, { maxConnectionsPerSource: 2 })
  const a1 = await hold(t, published, '127.0.0.5')
  const a2 = await hold(t, published, '127.0.0.5')
  const a3 = await hold(t, published, '127.0.0.5')
  const b1 = await hold(t, published, '127.0.0.6')
  t.same([a1.outcome, a2.outcome, a3.outcome, b1.outcome], ['ok', 'ok', 'closed', 'ok'])
  t.same(ing.limits().refusedPerSource, 1)
  a1.sock.destroy()
  await until(() => ing.status()[0]?.open === 2, 3000, 'the closed connection leaves')
  t.equal((await hold(t, published, '127.0.0.5')).outcome, 'ok', 'under its cap again')
})

/** A UDP client bound to `from`; `ask` sends and resolves with the reply. */
async function udpClient(t: Test, from: string) {
  const c = dgram.createSocket('udp4')
  await new Promise<void>((r) => c.bind(0, from, () => r()))
  t.teardown(() => new Promise<void>((r) => c.close(() => r())))
  return {
    ask: (port: number, msg: string) => new Promise<string>((resolve) => {
      c.once('message', (m) => resolve(String(m)))
      c.send(msg, port, '127.0.0.1')
    }),
    send: (port: number, msg: string) => c.send(msg, port, '127.0.0.1'),
  }
}

async function udpSetup(t: Test, o: Partial<IngressOptions>) {
  const target = await udpPort('127.0.0.2')
  const published = await udpPort('127.0.0.1')
  // The backend answers with the upstream port the datagram came from: one upstream socket per flow.
  const echo = dgram.createSocket('udp4')
  echo.on('message', (_m, r) => echo.send(String(r.port), r.port, r.address))
  await new Promise<void>((r) => echo.bind(target, '127.0.0.2', () => r()))
  t.teardown(() => new Promise<void>((r) => echo.close(() => r())))
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'udp', mode: 'ingress' }], [ep(1, '127.0.0.2')])])
  const ing = new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, clock: new FakeClock(), ...o })
  await ing.start()
  t.teardown(() => ing.stop())
  return { ing, published }
}

t.test('a full UDP flow table evicts the least recently used flow, not the oldest inserted', async (t) => {
  const { ing, published } = await udpSetup(t, { maxUdpFlows: 3 })
  const [a, b, c, d] = await Promise.all(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'].map((f) => udpClient(t, f)))
  const upA = await a!.ask(published, 'a1')
  const upB = await b!.ask(published, 'b1')
  await c!.ask(published, 'c1')
  t.equal(await a!.ask(published, 'a2'), upA, 'a flow keeps its upstream socket')
  await d!.ask(published, 'd1') // the table is full: b (used longest ago) goes, not a (inserted first)
  t.equal(ing.status()[0]?.open, 3)
  t.equal(await a!.ask(published, 'a3'), upA, 'the flow used recently survived')
  t.not(await b!.ask(published, 'b2'), upB, 'the least recently used flow was evicted: a new upstream socket')
})

t.test('UDP: a per-source cap refuses new flows of that address and evicts nobody for them', async (t) => {
  const { ing, published } = await udpSetup(t, { maxUdpFlows: 2, maxConnectionsPerSource: 1 })
  const other = await udpClient(t, '127.0.0.6')
  const first = await udpClient(t, '127.0.0.5')
  const upOther = await other.ask(published, 'o1')
  await first.ask(published, 'f1')
  const second = await udpClient(t, '127.0.0.5')
  second.send(published, 's1')
  await until(() => ing.limits().refusedPerSource === 1, 3000, 'the second flow of 127.0.0.5 refused')
  t.equal(ing.status()[0]?.open, 2)
  t.equal(await other.ask(published, 'o2'), upOther, 'the other address keeps its flow')
})

t.test('UDP flows spend the fd budget (one each)', async (t) => {
  const { ing, published } = await udpSetup(t, { fdBudget: 1 })
  const a = await udpClient(t, '127.0.0.1')
  const b = await udpClient(t, '127.0.0.1')
  await a.ask(published, 'a1')
  t.equal(ing.limits().fdsUsed, 1)
  b.send(published, 'b1')
  await until(() => ing.limits().refusedFdBudget === 1, 3000, 'the second flow refused')
  t.equal(ing.status()[0]?.open, 1)
})

t.test('FdBudget, SourceCaps and Throttle', async (t) => {
  const budget = new FdBudget(5)
  t.same([budget.take(2), budget.take(2), budget.take(2), budget.used, budget.refused], [true, true, false, 4, 1])
  budget.give(2)
  t.same([budget.take(2), budget.used], [true, 4])
  const caps = new SourceCaps(2)
  t.same([caps.take('a'), caps.take('a'), caps.take('a'), caps.take('b'), caps.refused], [true, true, false, true, 1])
  t.same([caps.refuses('a'), caps.refuses('b'), caps.refused], [true, false, 2], 'refuses() takes nothing, counts a refusal')
  caps.give('a')
  t.same([caps.openOf('a'), caps.take('a')], [1, true])
  const off = new SourceCaps(0)
  let all = true
  for (let i = 0; i < 100; i++) all &&= off.take('a')
  t.ok(all, 'no cap: every connection taken')
  t.equal(off.openOf('a'), 0, 'no cap: nothing tracked')
  const clock = new FakeClock()
  const th = new Throttle(clock, 1000)
  const seen = [th.hit(), th.hit(), th.hit()]
  await clock.advance(1000)
  seen.push(th.hit())
  t.same(seen, [1, 0, 0, 3], 'one line per interval, carrying the events it stands for')
})

t.test('the default fd budget comes from RLIMIT_NOFILE', async (t) => {
  const cases = [
    { name: 'the lab agent', limit: 20_000, want: 16_000 },
    { name: 'a small limit keeps 256 for the rest', limit: 1024, want: 768 },
    { name: 'tiny', limit: 200, want: 0 },
    { name: 'large', limit: 1_048_576, want: 838_860 },
  ]
  for (const c of cases) t.equal(defaultFdBudget(c.limit), c.want, c.name)
  const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                40000                files\n'
  t.equal(openFileLimit(() => limits), 20_000, 'the soft limit')
  t.equal(openFileLimit(() => { throw new Error('ENOENT') }), 1024, 'fallback without /proc')
  t.equal(openFileLimit(() => 'Max open files unlimited unlimited files'), Number.MAX_SAFE_INTEGER)
  const ing = new Ingress({ catalog: new FakeCatalog(), mode: 'userspace', log: noLog, exec: noExec, openFileLimit: () => 20_000 })
  t.equal(ing.limits().fdBudget, 16_000, 'the ingress uses it when no budget is given')
  t.throws(() => new Ingress({ catalog: new FakeCatalog(), mode: 'userspace', log: noLog, fdBudget: -1 }), /fdBudget must be an integer ≥ 0/)
})

t.test('the limits are metrics: budget, descriptors held, refusals by limit', async (t) => {
  const { Registry } = await import('prom-client')
  const { ing, published } = await tcpSetup(t, 'raw', { fdBudget: 2 })
  const registry = new Registry()
  ing.registerMetrics(registry)
  t.equal((await hold(t, published)).outcome, 'ok')
  t.equal((await hold(t, published)).outcome, 'closed')
  const text = await registry.metrics()
  t.match(text, /^mesh_ingress_fd_budget 2$/m)
  t.match(text, /^mesh_ingress_fds_used 2$/m)
  t.match(text, /^mesh_ingress_refused_by_limit_total\{limit="fd-budget"\} 1$/m)
  t.match(text, /^mesh_ingress_refused_by_limit_total\{limit="per-source"\} 0$/m)
})
