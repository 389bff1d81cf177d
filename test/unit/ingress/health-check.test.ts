import t from 'tap'
import net from 'node:net'
import { Balancer, Ingress, TcpHealthChecker, applyProbe, type HealthChecker, type HealthTarget } from '../../../src/ingress/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeCatalog, ep, freePort, noExec, noLog, svc } from './helpers.ts'

/** A checker whose answers the test sets per address; it records every probe. */
class FakeChecker implements HealthChecker {
  readonly answers = new Map<string, boolean | 'throw'>()
  readonly probes: string[] = []
  async probe(target: HealthTarget, timeoutMs: number): Promise<boolean> {
    this.probes.push(`${target.ip}:${target.port}/${timeoutMs}`)
    const a = this.answers.get(target.ip) ?? true
    if (a === 'throw') throw new Error('checker broke')
    return a
  }
}

t.test('applyProbe: pass ends an ejection, fail ejects once, never lengthens a running ejection', async (t) => {
  const cases = [
    { name: 'pass on a healthy backend', ejectedUntil: 0, failures: 0, ok: true, want: 'passed', wantUntil: 0, wantFailures: 0 },
    { name: 'pass ends an ejection early', ejectedUntil: 5000, failures: 3, ok: true, want: 'passed', wantUntil: 0, wantFailures: 0 },
    { name: 'fail ejects with the base backoff', ejectedUntil: 0, failures: 0, ok: false, want: 'ejected', wantUntil: 2000, wantFailures: 1 },
    { name: 'fail after an ejection ended doubles it', ejectedUntil: 900, failures: 1, ok: false, want: 'ejected', wantUntil: 3000, wantFailures: 2 },
    { name: 'fail while ejected changes nothing', ejectedUntil: 1500, failures: 1, ok: false, want: 'unchanged', wantUntil: 1500, wantFailures: 1 },
  ] as const
  for (const c of cases) {
    const bal = new Balancer(() => 1000, { warmupMs: 0 })
    bal.setEndpoints([ep(1, '10.0.0.1')], 80)
    const b = bal.get('10.0.0.1:80')!
    b.ejectedUntil = c.ejectedUntil
    b.failures = c.failures
    t.equal(applyProbe(bal, b, c.ok, 1000), c.want, c.name)
    t.same([b.ejectedUntil, b.failures], [c.wantUntil, c.wantFailures], `${c.name}: ejection and failures`)
  }
})

t.test('TcpHealthChecker: a listening port passes, a refused one fails', async (t) => {
  const server = net.createServer((c) => c.destroy())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise((r) => server.close(r)))
  const port = (server.address() as net.AddressInfo).port
  const checker = new TcpHealthChecker()
  // A loopback connect is answered at once; the probe timeout is long so a stalled process cannot time it out.
  t.equal(await checker.probe({ ip: '127.0.0.1', port }, 20_000), true, 'listening')
  const refused = await freePort(['127.0.0.1'])
  t.equal(await checker.probe({ ip: '127.0.0.1', port: refused }, 20_000), false, 'refused')
})

t.test('the controller probes serving TCP backends on its clock and applies the answers', async (t) => {
  const clock = new FakeClock()
  const checker = new FakeChecker()
  checker.answers.set('10.77.0.9', false)
  const tcp = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  cat.set([
    svc([{ published: tcp, target: 80, protocol: 'tcp', mode: 'ingress' }], [ep(1, '10.77.0.2'), ep(2, '10.77.0.9'), ep(3, '10.77.0.5', { state: 'stopping' })]),
  ])
  const ing = new Ingress({
    catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, clock, tcpEngine: 'net',
    activeCheck: { intervalMs: 1000, timeoutMs: 200 }, healthChecker: checker, balancer: { warmupMs: 0 }, random: () => 0.5,
  })
  await ing.start()
  t.teardown(() => ing.stop())
  const dead = () => ing.status()[0]!.endpoints.find((e) => e.ip === '10.77.0.9')!
  const live = () => ing.status()[0]!.endpoints.find((e) => e.ip === '10.77.0.2')!

  // random 0.5: each backend's first turn is half an interval in (500 ms; due probes are looked for every 50 ms, a
  // fifth of the node interval), then every interval exactly (no jitter at 0.5).
  await clock.advance(499)
  t.same(checker.probes, [], 'nothing probed before its first turn')
  await clock.advance(1)
  t.same(checker.probes, ['10.77.0.2:80/200', '10.77.0.9:80/200'], 'serving backends only, with the timeout; the stopping one is left alone')
  t.match(dead(), { ejected: true, ejectedForMs: 1000, ejections: 1 }, 'the failing backend is ejected')
  t.match(live(), { ejected: false, ejections: 0 }, 'the passing one stays')

  await clock.advance(1000)
  t.match(dead(), { ejected: true, ejectedForMs: 2000, ejections: 2 }, 'still failing when its ejection ends: ejected again, twice as long')
  await clock.advance(1000)
  t.match(dead(), { ejections: 2 }, 'a failing probe during an ejection does not lengthen it')

  checker.answers.set('10.77.0.9', true)
  await clock.advance(1000)
  t.match(dead(), { ejected: false, ejectedForMs: 0 }, 'a passing probe ends the ejection')

  checker.answers.set('10.77.0.2', 'throw')
  await clock.advance(1000)
  t.match(live(), { ejected: true, ejections: 1 }, 'a checker that throws counts as a failed probe')

  const before = checker.probes.length
  await ing.stop()
  await clock.advance(5000)
  t.equal(checker.probes.length, before, 'no probe after stop')
})

t.test('UDP ports are not probed', async (t) => {
  const clock = new FakeClock()
  const checker = new FakeChecker()
  const cat = new FakeCatalog()
  cat.set([svc([{ published: 0, target: 53, protocol: 'udp', mode: 'ingress' }], [ep(1, '10.77.0.2')])])
  const ing = new Ingress({
    catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, clock,
    activeCheck: { intervalMs: 100, timeoutMs: 50 }, healthChecker: checker,
  })
  await ing.start()
  t.teardown(() => ing.stop())
  t.equal(ing.status().length, 1, 'the UDP port listens')
  await clock.advance(500)
  t.same(checker.probes, [])
})

t.test('nft mode: a failed check takes the endpoint out of the kernel rules at once, and it stays out until a check passes', async (t) => {
  const clock = new FakeClock()
  const checker = new FakeChecker()
  const tcp = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  cat.set([svc([{ published: tcp, target: 80, protocol: 'tcp', mode: 'ingress' }], [ep(1, '10.77.0.2'), ep(2, '10.77.0.9')])])
  const inputs: Array<{ at: number; input: string }> = []
  const ing = new Ingress({
    catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', log: noLog, clock, tcpEngine: 'net', healthChecker: checker,
    activeCheck: { intervalMs: 300, timeoutMs: 100 }, random: () => 0.5,
    exec: async (_cmd, args, input) => { if (args[0] === '-f' && input) inputs.push({ at: clock.now(), input }); return '' },
  })
  await ing.start()
  t.teardown(() => ing.stop())
  t.match(inputs[0]?.input, /dnat ip to numgen inc mod 2 map/, 'both endpoints in the first table')
  checker.answers.set('10.77.0.9', false)
  await clock.advance(150) // the first check (random 0.5: half an interval in), before any periodic re-check (every 1 s)
  await new Promise((r) => setImmediate(r))
  const drop = inputs.at(-1) as { at: number; input: string }
  t.equal(drop.at, 150, 'applied in the same tick as the failed check')
  t.match(drop.input, /^flush chain ip mesh-ingress port-tcp-\d+\nadd rule .* dnat to 10\.77\.0\.2:80\n/, 'a delta: the port now DNATs to the live endpoint only')
  t.match(drop.input, 'delete element ip mesh-ingress ep-conns { tcp . 10.77.0.9 . 80 }')
  const n = inputs.length
  await clock.advance(10_000) // its ejection (1 s, then 2 s, …) ends several times; the checks keep failing
  await new Promise((r) => setImmediate(r))
  t.equal(inputs.length, n, 'never back in the rules between two failed checks')
  checker.answers.set('10.77.0.9', true)
  await clock.advance(300)
  await new Promise((r) => setImmediate(r))
  t.match(inputs.at(-1)?.input, /dnat ip to numgen inc mod 2 map \{ 0 : 10\.77\.0\.2 \. 80, 1 : 10\.77\.0\.9 \. 80 \}/, 'a passing check brings it back')
})
