/** The `reconciled` hook: called once per reconcile with the snapshot every port now follows, before nft is applied. */
import t from 'tap'
import { Ingress } from '../../../src/ingress/index.ts'
import { FakeCatalog, ep, freePort, noLog, svc, until } from './helpers.ts'

t.test('reconciled reports each applied snapshot after the balancers follow it, before nft', async (t) => {
  const published = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target: 80, protocol: 'tcp', mode: 'ingress' }], [ep(1, '10.77.0.2')])])
  const events: string[] = []
  let ing: Ingress | null = null
  ing = new Ingress({
    catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', log: noLog,
    exec: async (_cmd, args, input) => { if (args[0] === '-f') events.push(`nft ${input?.includes('10.77.0.3') ? 'new' : 'old'}`); return '' },
    reconciled: (snap) => events.push(`rev ${snap.revision} ${ing?.status()[0]?.endpoints.map((e) => e.key).join(',')}`),
  })
  await ing.start()
  t.teardown(() => ing.stop())
  cat.set([svc([{ published, target: 80, protocol: 'tcp', mode: 'ingress' }], [ep(1, '10.77.0.2'), ep(2, '10.77.0.3')])])
  await until(() => events.length >= 4, 3000, 'two reconciles')
  t.same(events.slice(0, 4), ['rev 1 10.77.0.2:80', 'nft old', 'rev 2 10.77.0.2:80,10.77.0.3:80', 'nft new'])
})

t.test('a slow nft -f does not hold back the balancers; the newest ruleset is applied after it', async (t) => {
  const published = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  const set = (ips: string[]) => cat.set([svc([{ published, target: 80, protocol: 'tcp', mode: 'ingress' }], ips.map((ip, i) => ep(i + 1, ip)))])
  set(['10.77.0.2'])
  let block: (() => void) | null = null
  const applied: string[] = []
  const revs: number[] = []
  const ing = new Ingress({
    catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', log: noLog,
    exec: async (_cmd, args, input) => {
      if (args[0] !== '-f') return ''
      // What the kernel DNATs to once the input is applied (a delta also names what it deletes: not counted).
      const kept = (input ?? '').split('\n').filter((l) => !l.startsWith('delete ')).join('\n')
      const ips = ['10.77.0.2', '10.77.0.3', '10.77.0.4'].filter((ip) => kept.includes(ip)).join(',')
      if (ips === '10.77.0.2,10.77.0.3') await new Promise<void>((r) => { block = r }) // the second ruleset hangs until released
      applied.push(ips)
      return ''
    },
    reconciled: (snap) => revs.push(snap.revision),
  })
  await ing.start()
  t.teardown(() => { block?.(); return ing.stop() })
  set(['10.77.0.2', '10.77.0.3'])
  await until(() => block !== null, 3000, 'the second nft -f to start')
  set(['10.77.0.2', '10.77.0.4'])
  await until(() => revs.includes(3), 3000, 'the balancers to follow revision 3 while nft -f hangs')
  t.same(ing.status()[0]?.endpoints.map((e) => e.key), ['10.77.0.2:80', '10.77.0.4:80'], 'the balancer has the newest endpoints')
  t.same(applied, ['10.77.0.2'], 'the hanging ruleset is not counted as applied yet')
  ;(block as unknown as () => void)()
  await until(() => applied.length === 3, 3000, 'the newest ruleset applied after the hanging one')
  t.same(applied, ['10.77.0.2', '10.77.0.2,10.77.0.3', '10.77.0.2,10.77.0.4'])
})
