import t from 'tap'
import { Ingress, NftApplier, execCommand, nftIngressRuleset, nftTable, planNft } from '../../../src/ingress/index.ts'
import type { CatalogSnapshot } from '../../../src/catalog/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeCatalog, ep, freePort, noLog, svc } from './helpers.ts'

/** Let the controller's reconcile (catalog → ruleset → fake exec: promises only, no I/O) run to its end. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r))

const web = svc(
  [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }, { published: 5353, target: 53, protocol: 'udp', mode: 'ingress' }],
  [ep(1, '10.77.1.2'), ep(2, '10.77.2.2'), ep(3, '10.77.3.2', { health: 'unhealthy' }), ep(4, '10.77.3.3', { state: 'stopping' })],
  { vip: '10.78.0.2' },
)
const one = svc([{ published: 9000, target: 9000, protocol: 'tcp', mode: 'ingress' }, { published: 9001, target: 1, protocol: 'tcp', mode: 'host' }],
  [ep(1, '10.77.2.9')], { id: 's2', name: 'api', shortName: 'api', vip: '10.78.0.3' })
const dnsrr = svc([{ published: 7000, target: 70, protocol: 'tcp', mode: 'ingress' }], [], { id: 's3', name: 'empty', shortName: 'empty', vip: '10.78.0.4' })
const snap: CatalogSnapshot = { revision: 1, nodes: [], services: [web, one, dnsrr] }

t.test('planNft: serving endpoints per ingress port and VIP port; host ports and empty services left out', async (t) => {
  t.same(planNft(snap), {
    ports: [
      { protocol: 'udp', published: 5353, target: 53, backends: ['10.77.1.2', '10.77.2.2'] },
      { protocol: 'tcp', published: 8080, target: 80, backends: ['10.77.1.2', '10.77.2.2'] },
      { protocol: 'tcp', published: 9000, target: 9000, backends: ['10.77.2.9'] },
    ],
    vips: [
      { protocol: 'udp', vip: '10.78.0.2', port: 53, backends: ['10.77.1.2', '10.77.2.2'] },
      { protocol: 'tcp', vip: '10.78.0.2', port: 80, backends: ['10.77.1.2', '10.77.2.2'] },
      { protocol: 'tcp', vip: '10.78.0.3', port: 1, backends: ['10.77.2.9'] },
      { protocol: 'tcp', vip: '10.78.0.3', port: 9000, backends: ['10.77.2.9'] },
    ],
    vipServices: [
      { vip: '10.78.0.2', backends: ['10.77.1.2', '10.77.2.2'] },
      { vip: '10.78.0.3', backends: ['10.77.2.9'] },
      { vip: '10.78.0.4', backends: [] },
    ],
  })
})

t.test('ruleset text', async (t) => {
  const text = nftIngressRuleset(planNft(snap), { snatAddr: '10.77.1.1' })
  t.equal(text, `table ip mesh-ingress
delete table ip mesh-ingress
table ip mesh-ingress {
  map vip-ports {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = { 10.78.0.2 . udp . 53 : goto vip-10.78.0.2-udp-53, 10.78.0.2 . tcp . 80 : goto vip-10.78.0.2-tcp-80, 10.78.0.3 . tcp . 1 : goto vip-10.78.0.3-tcp-1, 10.78.0.3 . tcp . 9000 : goto vip-10.78.0.3-tcp-9000 }
  }
  map vips {
    type ipv4_addr : verdict
    elements = { 10.78.0.2 : goto vip-10.78.0.2, 10.78.0.3 : goto vip-10.78.0.3 }
  }
  map ports {
    type inet_proto . inet_service : verdict
    elements = { udp . 5353 : goto port-udp-5353, tcp . 8080 : goto port-tcp-8080, tcp . 9000 : goto port-tcp-9000 }
  }
  set vip-refused {
    type ipv4_addr
    elements = { 10.78.0.4 }
  }
  set ep-conns {
    type inet_proto . ipv4_addr . inet_service; counter
    elements = { udp . 10.77.1.2 . 53, udp . 10.77.2.2 . 53, tcp . 10.77.1.2 . 80, tcp . 10.77.2.2 . 80, tcp . 10.77.2.9 . 9000 }
  }
  set ep-in {
    type inet_proto . ipv4_addr . inet_service; counter
    elements = { udp . 10.77.1.2 . 53, udp . 10.77.2.2 . 53, tcp . 10.77.1.2 . 80, tcp . 10.77.2.2 . 80, tcp . 10.77.2.9 . 9000 }
  }
  set ep-out {
    type inet_proto . ipv4_addr . inet_service; counter
    elements = { udp . 10.77.1.2 . 53, udp . 10.77.2.2 . 53, tcp . 10.77.1.2 . 80, tcp . 10.77.2.2 . 80, tcp . 10.77.2.9 . 9000 }
  }
  chain vip-10.78.0.2-udp-53 {
    ip daddr 10.78.0.2 udp dport 53 ct mark set ct mark or 0x00100000 dnat to numgen inc mod 2 map { 0 : 10.77.1.2, 1 : 10.77.2.2 }
  }
  chain vip-10.78.0.2-tcp-80 {
    ip daddr 10.78.0.2 tcp dport 80 ct mark set ct mark or 0x00100000 dnat to numgen inc mod 2 map { 0 : 10.77.1.2, 1 : 10.77.2.2 }
  }
  chain vip-10.78.0.3-tcp-1 {
    ip daddr 10.78.0.3 tcp dport 1 ct mark set ct mark or 0x00100000 dnat to 10.77.2.9
  }
  chain vip-10.78.0.3-tcp-9000 {
    ip daddr 10.78.0.3 tcp dport 9000 ct mark set ct mark or 0x00100000 dnat to 10.77.2.9
  }
  chain vip-10.78.0.2 {
    ip daddr 10.78.0.2 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to numgen inc mod 2 map { 0 : 10.77.1.2, 1 : 10.77.2.2 }
  }
  chain vip-10.78.0.3 {
    ip daddr 10.78.0.3 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to 10.77.2.9
  }
  chain port-udp-5353 {
    udp dport 5353 ct mark set ct mark or 0x00300000 dnat ip to numgen inc mod 2 map { 0 : 10.77.1.2 . 53, 1 : 10.77.2.2 . 53 }
  }
  chain port-tcp-8080 {
    tcp dport 8080 ct mark set ct mark or 0x00300000 dnat ip to numgen inc mod 2 map { 0 : 10.77.1.2 . 80, 1 : 10.77.2.2 . 80 }
  }
  chain port-tcp-9000 {
    tcp dport 9000 ct mark set ct mark or 0x00300000 dnat to 10.77.2.9:9000
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr . meta l4proto . th dport vmap @vip-ports
    meta l4proto { tcp, udp } ip daddr vmap @vips
    fib daddr type local meta l4proto . th dport vmap @ports
  }
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr . meta l4proto . th dport vmap @vip-ports
    meta l4proto { tcp, udp } ip daddr vmap @vips
    ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @ports
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ct mark and 0x00200000 == 0x00200000 snat to 10.77.1.1
    ct mark and 0x00100000 == 0x00100000 oifname "mesh-br" masquerade
  }
  chain vip-refuse-forward {
    type filter hook forward priority filter - 10; policy accept;
    ip daddr @vip-refused meta l4proto tcp reject with tcp reset
    ip daddr @vip-refused meta l4proto udp reject
  }
  chain vip-refuse-output {
    type filter hook output priority filter - 10; policy accept;
    ip daddr @vip-refused meta l4proto tcp reject with tcp reset
    ip daddr @vip-refused meta l4proto udp reject
  }
  chain ep-count {
    ct state new meta l4proto . ip daddr . th dport @ep-conns
    ct direction original meta l4proto . ip daddr . th dport @ep-in
    ct direction reply meta l4proto . ip saddr . th sport @ep-out
  }
  chain count-forward {
    type filter hook forward priority filter - 5; policy accept;
    ct mark and 0x00200000 == 0x00200000 jump ep-count
  }
  chain count-output {
    type filter hook output priority filter - 5; policy accept;
    ct mark and 0x00200000 == 0x00200000 jump ep-count
  }
  chain count-input {
    type filter hook input priority filter - 5; policy accept;
    ct mark and 0x00200000 == 0x00200000 ct direction reply jump ep-count
  }
}
`)
  t.notMatch(text, /inet mesh\b/, 'never the overlay table')
  t.match(nftIngressRuleset({ ports: [], vips: [], vipServices: [] }), /ct mark and 0x00200000 == 0x00200000 masquerade/, 'masquerade without snatAddr')
})

t.test('applier: the whole table first, then only deltas; a refused delta is followed by a full apply', async (t) => {
  const calls: string[] = []
  let refuse = false
  const a = new NftApplier(async (cmd, args, input) => {
    calls.push(`${cmd} ${args.join(' ')}${input ? ` <${input.startsWith('table ') ? 'full' : input.trim().split('\n').join(' | ')}` : ''}`)
    if (refuse && input && !input.startsWith('table ')) throw new Error('nft: refused')
    return ''
  })
  const table = (ips: string[]) => nftTable(planNft({ revision: 1, nodes: [], services: [svc([{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], ips.map((ip, i) => ep(i + 1, ip)))] }))
  t.equal(await a.apply(table(['10.77.1.2'])), 'full')
  t.equal(await a.apply(table(['10.77.1.2'])), false, 'unchanged: not re-applied')
  t.equal(await a.apply(table(['10.77.1.2', '10.77.1.3'])), 'delta')
  refuse = true
  t.equal(await a.apply(table(['10.77.1.3'])), 'full', 'the kernel refused the delta: the whole table')
  await a.remove()
  t.same(calls, [
    'nft -f - <full',
    'iptables -C DOCKER-USER -m connmark --mark 0x100000/0x100000 -j ACCEPT',
    'nft -f - <flush chain ip mesh-ingress port-tcp-8080 | add rule ip mesh-ingress port-tcp-8080 tcp dport 8080 ct mark set ct mark or 0x00300000 dnat ip to numgen inc mod 2 map { 0 : 10.77.1.2 . 80, 1 : 10.77.1.3 . 80 } | ' +
      'add element ip mesh-ingress ep-conns { tcp . 10.77.1.3 . 80 } | add element ip mesh-ingress ep-in { tcp . 10.77.1.3 . 80 } | add element ip mesh-ingress ep-out { tcp . 10.77.1.3 . 80 }',
    'nft -f - <flush chain ip mesh-ingress port-tcp-8080 | add rule ip mesh-ingress port-tcp-8080 tcp dport 8080 ct mark set ct mark or 0x00300000 dnat to 10.77.1.3:80 | ' +
      'delete element ip mesh-ingress ep-conns { tcp . 10.77.1.2 . 80 } | delete element ip mesh-ingress ep-in { tcp . 10.77.1.2 . 80 } | delete element ip mesh-ingress ep-out { tcp . 10.77.1.2 . 80 }',
    'nft -f - <full',
    'nft delete table ip mesh-ingress',
    'iptables -D DOCKER-USER -m connmark --mark 0x100000/0x100000 -j ACCEPT',
    'iptables -D DOCKER-USER -m connmark --mark 0x100000/0x100000 -j ACCEPT',
    'iptables -D DOCKER-USER -m connmark --mark 0x100000/0x100000 -j ACCEPT',
  ])
})

t.test('Ingress in nft mode applies rules from the catalog, and VIP rules in userspace mode too', async (t) => {
  for (const mode of ['nft', 'userspace'] as const) {
    const inputs: string[] = []
    const cat = new FakeCatalog()
    // Published ports on high numbers the test does not bind: only the text is checked.
    cat.set([svc([], [ep(1, '10.77.1.2')], { vip: '10.78.0.9', ports: [{ published: 0, target: 80, protocol: 'tcp', mode: 'host' }] })])
    const clock = new FakeClock()
    const ing = new Ingress({
      catalog: cat, mode, bindAddr: '127.0.0.1', log: noLog, clock,
      exec: async (cmd, args, input) => { if (cmd === 'nft' && input) inputs.push(input); return '' },
    })
    await ing.start()
    t.equal(inputs.length, 1, `${mode}: applied once`)
    t.match(inputs[0], /ip daddr 10\.78\.0\.9 tcp dport 80 .* dnat to 10\.77\.1\.2/, `${mode}: VIP rule`)
    t.match(inputs[0], /ip daddr 10\.78\.0\.9 meta l4proto \{ tcp, udp \} .* dnat to 10\.77\.1\.2\n/, `${mode}: and every other port of the VIP`)
    cat.set([svc([], [ep(1, '10.77.1.2'), ep(2, '10.77.1.3')], { vip: '10.78.0.9', ports: [{ published: 0, target: 80, protocol: 'tcp', mode: 'host' }] })])
    await settle()
    t.equal(inputs.length, 2, `${mode}: re-applied on change`)
    t.match(inputs[1], /^flush chain ip mesh-ingress vip-10\.78\.0\.9-tcp-80\nadd rule .*numgen inc mod 2/, `${mode}: a delta, not the whole table`)
    await clock.advance(3000)
    await settle()
    t.equal(inputs.length, 2, `${mode}: the periodic re-check (nft mode, every second) applies nothing when the text is unchanged`)
    await ing.stop()
  }
})

t.test('nft mode leaves a PROXY protocol port to its userspace listener (per port); the other ports get kernel rules', async (t) => {
  const [pp, plain] = [await freePort(['127.0.0.1']), await freePort(['127.0.0.1'])]
  const inputs: string[] = []
  const cat = new FakeCatalog()
  cat.set([svc([{ published: pp, target: 80, protocol: 'tcp', mode: 'ingress', proxyProtocol: 'v2' }, { published: plain, target: 81, protocol: 'tcp', mode: 'ingress' }],
    [ep(1, '10.77.1.2')], { vip: '10.78.0.9' })])
  const ing = new Ingress({
    catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', log: noLog, clock: new FakeClock(),
    exec: async (cmd, args, input) => { if (cmd === 'nft' && input) inputs.push(input); return '' },
  })
  await ing.start()
  t.teardown(() => ing.stop())
  t.notMatch(inputs[0], `chain port-tcp-${pp} `, 'no kernel rule for the PROXY protocol port')
  t.match(inputs[0], `chain port-tcp-${plain} {`, 'the plain port has one')
  t.equal(ing.status().length, 2, 'both listen in userspace')
})

t.test('nft mode: the kernel counters (read every 5 s) add to the endpoint in status()', async (t) => {
  const published = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target: 80, protocol: 'tcp', mode: 'ingress' }], [ep(1, '10.77.1.2')])])
  const clock = new FakeClock()
  const listed: string[] = []
  const set = (name: string, packets: number, bytes: number) => JSON.stringify({ nftables: [{ set: { name, elem: [{ elem: { val: { concat: ['tcp', '10.77.1.2', 80] }, counter: { packets, bytes } } }] } }] })
  const ing = new Ingress({
    catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', log: noLog, clock,
    exec: async (_cmd, args) => {
      if (args[0] !== '-j') return ''
      const name = args.at(-1) as string
      listed.push(args.join(' '))
      return name === 'ep-conns' ? set(name, 7, 420) : name === 'ep-in' ? set(name, 30, 2000) : set(name, 25, 90_000)
    },
  })
  await ing.start()
  t.teardown(() => ing.stop())
  t.same(ing.status()[0]?.endpoints.map((e) => [e.connections, e.bytesIn, e.bytesOut]), [[0, 0, 0]], 'nothing read yet')
  await clock.advance(5000)
  await settle()
  t.same(listed, ['-j list set ip mesh-ingress ep-conns', '-j list set ip mesh-ingress ep-in', '-j list set ip mesh-ingress ep-out'])
  t.same(ing.status()[0]?.endpoints.map((e) => [e.connections, e.bytesIn, e.bytesOut]), [[7, 2000, 90_000]], 'connections and bytes from the kernel')
  t.equal(ing.status()[0]?.bytesOut, 90_000, 'and the port totals')
})

t.test('the last service gone: the table is deleted, not left with empty maps (a node without services has no table)', async (t) => {
  const calls: string[] = []
  const cat = new FakeCatalog()
  cat.set([svc([], [ep(1, '10.77.1.2')], { vip: '10.78.0.9', ports: [{ published: 0, target: 80, protocol: 'tcp', mode: 'host' }] })])
  const ing = new Ingress({
    catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, clock: new FakeClock(),
    exec: async (cmd, args, input) => { if (cmd === 'nft') calls.push(input ? 'nft -f' : `nft ${args.join(' ')}`); return '' },
  })
  await ing.start()
  t.teardown(() => ing.stop())
  cat.set([])
  await settle()
  t.same(calls, ['nft -f', 'nft delete table ip mesh-ingress'])
  cat.set([svc([], [ep(1, '10.77.1.2')], { vip: '10.78.0.9' })])
  await settle()
  t.same(calls.slice(2), ['nft -f'], 'a service again: the whole table')
})

// Without nft and root the check does not run: tap reports it as skipped (with the reason), not as passed.
const kernel = await execCommand('nft', ['--version']).then(() => process.getuid?.() === 0, () => false)
t.test('the kernel accepts the ruleset (nft --check: parsed and validated, nothing applied)', { skip: kernel ? false : 'needs nft and root' }, async (t) => {
  await t.resolves(execCommand('nft', ['-c', '-f', '-'], nftIngressRuleset(planNft(snap), { snatAddr: '10.77.1.1' })))
  await t.resolves(execCommand('nft', ['-c', '-f', '-'], nftIngressRuleset(planNft({ revision: 0, nodes: [], services: [] }))))
})

t.test('hostile catalog values: planNft skips them and keeps the rest; the text builder refuses them', async (t) => {
  const INJECT = '10.77.1.9 }\n}\ntable ip pwn {\n chain p { type nat hook prerouting priority -100; tcp dport 22 dnat to 6.6.6.6 }\n}\ntable ip x {'
  const hostile = svc([{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }, { published: 70000, target: 81, protocol: 'tcp', mode: 'ingress' },
    { published: 8082, target: 0, protocol: 'tcp', mode: 'ingress' }],
  [ep(1, '10.77.1.2'), ep(2, INJECT), ep(3, '10.77.1.300')], { vip: '10.78.0.2' })
  const badVip = svc([{ published: 9090, target: 90, protocol: 'tcp', mode: 'ingress' }], [ep(4, '10.77.2.4')],
    { id: 's9', name: 'bad', shortName: 'bad', vip: '10.78.0.9 tcp dport 22 dnat to 6.6.6.6;' })
  const plan = planNft({ revision: 1, nodes: [], services: [hostile, badVip] })
  t.same(plan, {
    ports: [
      { protocol: 'tcp', published: 8080, target: 80, backends: ['10.77.1.2'] },
      { protocol: 'tcp', published: 9090, target: 90, backends: ['10.77.2.4'] },
    ],
    vips: [
      { protocol: 'tcp', vip: '10.78.0.2', port: 80, backends: ['10.77.1.2'] },
      { protocol: 'tcp', vip: '10.78.0.2', port: 81, backends: ['10.77.1.2'] },
    ],
    vipServices: [{ vip: '10.78.0.2', backends: ['10.77.1.2'] }],
  }, 'only valid values; the bad VIP service keeps its published port')
  t.notMatch(nftIngressRuleset(plan), /pwn|6\.6\.6\.6/)
  const none = { vipServices: [] }
  const refuse = [
    { ports: [], vips: [], vipServices: [{ vip: '10.78.0.2;', backends: ['10.77.1.2'] }] },
    { ports: [], vips: [], vipServices: [{ vip: '10.78.0.2', backends: [INJECT] }] },
    { ...none, ports: [], vips: [{ protocol: 'tcp' as const, vip: '10.78.0.2', port: 80, backends: ['10.77.1.2', INJECT] }] },
    { ...none, ports: [], vips: [{ protocol: 'tcp' as const, vip: '10.78.0.2\n', port: 80, backends: ['10.77.1.2'] }] },
    { ...none, ports: [], vips: [{ protocol: 'tcp' as const, vip: '10.78.0.2', port: 0, backends: ['10.77.1.2'] }] },
    { ...none, ports: [{ protocol: 'tcp' as const, published: 8080, target: 80, backends: ['evil'] }], vips: [] },
    { ...none, ports: [{ protocol: 'tcp' as const, published: 65536, target: 80, backends: ['10.77.1.2'] }], vips: [] },
    { ...none, ports: [{ protocol: 'sctp' as 'tcp', published: 8080, target: 80, backends: ['10.77.1.2'] }], vips: [] },
  ]
  for (const p of refuse) t.throws(() => nftIngressRuleset(p), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => nftIngressRuleset({ ports: [], vips: [], vipServices: [] }, { snatAddr: '10.77.1.1; drop' }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => nftIngressRuleset({ ports: [], vips: [], vipServices: [] }, { bridge: 'br"\n' }), { code: 'MESH_ERR_UNSAFE_VALUE' })
})
