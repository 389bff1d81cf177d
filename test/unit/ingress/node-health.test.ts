import t from 'tap'
import { Ingress, type HealthChecker, type HealthTarget } from '../../../src/ingress/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeCatalog, ep, freePort, noLog, svc } from './helpers.ts'

/** Answers per address (true unless set); records every probe. */
class FakeChecker implements HealthChecker {
  readonly answers = new Map<string, boolean>()
  readonly probes: string[] = []
  async probe(target: HealthTarget): Promise<boolean> {
    this.probes.push(`${target.ip}:${target.port}`)
    return this.answers.get(target.ip) ?? true
  }
}

/** The DNAT map of the port's chain in the last ruleset text written (full or delta). */
const dnatOf = (input: string | undefined) => /dnat ip to numgen inc mod \d+ map \{ ([^}]*) \}|dnat to ([\d.:]+)/.exec(input ?? '')?.slice(1).find(Boolean)

t.test('nft mode: a down node, a suspected node and a task gone here leave the kernel rules at once; status says which path serves', async (t) => {
  const clock = new FakeClock()
  const checker = new FakeChecker()
  const tcp = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  cat.set([svc([{ published: tcp, target: 80, protocol: 'tcp', mode: 'ingress' }], [
    ep(1, '10.77.1.2'), ep(2, '10.77.2.2', { node: 'b', nodeId: 'n2' }), ep(3, '10.77.3.2', { node: 'c', nodeId: 'n3' }),
  ])])
  const inputs: Array<{ at: number; input: string }> = []
  const nodes: Record<string, HealthTarget> = { node1: { ip: '192.168.50.11', port: 7946 }, b: { ip: '192.168.50.12', port: 7946 }, c: { ip: '192.168.50.13', port: 7946 } }
  const ing = new Ingress({
    catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', log: noLog, clock, tcpEngine: 'net', healthChecker: checker, random: () => 0.5,
    localNode: 'node1', nodeAddress: (n) => nodes[n],
    exec: async (_cmd, args, input) => { if (args[0] === '-f' && input) inputs.push({ at: clock.now(), input }); return '' },
  })
  await ing.start()
  t.teardown(() => ing.stop())
  t.equal(dnatOf(inputs[0]?.input), '0 : 10.77.1.2 . 80, 1 : 10.77.2.2 . 80, 2 : 10.77.3.2 . 80', 'all three in the first table')
  t.match(ing.status()[0], { path: 'nft' }, 'the port is served by the kernel')
  t.notOk('pathReason' in (ing.status()[0] ?? {}))

  // Defaults: nodes every 250 ms (first turn half of it in, random 0.5: 125 ms, seen at the 50 ms tick of 150),
  // endpoints every 500 ms (first at 250 ms).
  checker.answers.set('192.168.50.13', false)
  await clock.advance(150)
  await new Promise((r) => setImmediate(r))
  t.same(checker.probes.sort(), ['192.168.50.12:7946', '192.168.50.13:7946'], 'one probe per remote node, none for this node')
  t.same(ing.downNodes(), ['c'])
  t.equal(inputs.at(-1)?.at, 150, 'applied when the node probe failed')
  t.equal(dnatOf(inputs.at(-1)?.input), '0 : 10.77.1.2 . 80, 1 : 10.77.2.2 . 80', "c's endpoint is out (a delta)")
  t.match(inputs.at(-1)?.input, /^flush chain/, 'a delta, not the whole table')

  ing.nodeSuspected('b')
  await new Promise((r) => setImmediate(r))
  t.equal(dnatOf(inputs.at(-1)?.input), '10.77.1.2:80', 'gossip suspects b: its endpoint is out at once')
  checker.answers.set('192.168.50.13', true)
  await clock.advance(250)
  await new Promise((r) => setImmediate(r))
  t.same(ing.downNodes(), [], 'the next passing probes bring both nodes back')
  t.equal(dnatOf(inputs.at(-1)?.input), '0 : 10.77.1.2 . 80, 1 : 10.77.2.2 . 80, 2 : 10.77.3.2 . 80')

  const n = inputs.length
  ing.taskGone('t1')
  await new Promise((r) => setImmediate(r))
  t.equal(inputs.length, n + 1, 'a task gone on this node: applied at once, no probe needed')
  t.equal(dnatOf(inputs.at(-1)?.input), '0 : 10.77.2.2 . 80, 1 : 10.77.3.2 . 80')
  t.match(ing.status()[0]?.endpoints.find((e) => e.ip === '10.77.1.2'), { ejected: true }, 'and out of the proxy too')
  cat.set([svc([{ published: tcp, target: 80, protocol: 'tcp', mode: 'ingress' }], [
    ep(2, '10.77.2.2', { node: 'b', nodeId: 'n2' }), ep(3, '10.77.3.2', { node: 'c', nodeId: 'n3' }), ep(4, '10.77.1.3'),
  ])])
  await new Promise((r) => setImmediate(r))
  await clock.advance(0)
  t.equal(dnatOf(inputs.at(-1)?.input), '0 : 10.77.2.2 . 80, 1 : 10.77.3.2 . 80, 2 : 10.77.1.3 . 80', "the catalog's replacement task serves")
})

t.test('which path serves each port: PROXY protocol and userspace mode stay with the proxy', async (t) => {
  const cases = [
    { name: 'nft mode, PROXY protocol', mode: 'nft', proxyProtocol: 'v2', want: { path: 'userspace', pathReason: 'PROXY protocol (the proxy writes the header)' } },
    { name: 'nft mode, no serving endpoint', mode: 'nft', endpoints: 0, want: { path: 'userspace', pathReason: 'no kernel rule (no serving endpoint yet)' } },
    { name: 'userspace mode', mode: 'userspace', want: { path: 'userspace' } },
  ] as const
  for (const c of cases) {
    const tcp = await freePort(['127.0.0.1'])
    const cat = new FakeCatalog()
    const endpoints = 'endpoints' in c ? [] : [ep(1, '10.77.1.2')]
    cat.set([svc([{ published: tcp, target: 80, protocol: 'tcp', mode: 'ingress', ...('proxyProtocol' in c ? { proxyProtocol: c.proxyProtocol } : {}) }], endpoints)])
    const ing = new Ingress({ catalog: cat, mode: c.mode, bindAddr: '127.0.0.1', log: noLog, clock: new FakeClock(), tcpEngine: 'net', exec: async () => '', activeCheck: false })
    await ing.start()
    t.match(ing.status()[0], c.want, c.name)
    if (!('pathReason' in c.want)) t.notOk('pathReason' in (ing.status()[0] ?? {}), `${c.name}: no reason`)
    await ing.stop()
  }
})
