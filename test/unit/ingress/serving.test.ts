/** ejectionFilter: the nft rules' serving filter, linear in ports + endpoints. */
import t from 'tap'
import { ejectionFilter, type EjectionSource } from '../../../src/ingress/serving.ts'
import { ep, svc } from './helpers.ts'

t.test('an endpoint is left out when its own service\'s balancer has it ejected, not another service\'s', async (t) => {
  const ejected = new Map([['10.77.0.2:80', 200]])
  const web: EjectionSource = { service: 'web', balancer: { get: (k) => ({ ejectedUntil: ejected.get(k) ?? 0 }) } }
  const api: EjectionSource = { service: 'api', balancer: { get: () => ({ ejectedUntil: 0 }) } }
  const f = ejectionFilter([web, api], 100)
  const s = svc([], [])
  const cases = [
    { name: 'ejected on its port', s, e: ep(1, '10.77.0.2'), port: 80, want: false },
    { name: 'another endpoint', s, e: ep(2, '10.77.0.3'), port: 80, want: true },
    { name: 'another port of the VIP (no listener)', s, e: ep(1, '10.77.0.2'), port: null, want: true },
    { name: 'another service with that address', s: { ...s, name: 'api' }, e: ep(1, '10.77.0.2'), port: 80, want: true },
    { name: 'a service without published ports', s: { ...s, name: 'db' }, e: ep(1, '10.77.0.2'), port: 80, want: true },
    { name: 'stopping in the catalog', s, e: ep(3, '10.77.0.4', { state: 'stopping' }), port: 80, want: false },
  ]
  for (const c of cases) t.equal(f(c.s, c.e, c.port), c.want, c.name)
  t.equal(ejectionFilter([web], 300)(s, ep(1, '10.77.0.2'), 80), true, 'the ejection is over')
})

t.test('sticky (checks on): a TCP endpoint whose last check failed stays out; a UDP one (never checked) does not; gone endpoints are out everywhere', async (t) => {
  const failed = { get: () => ({ ejectedUntil: 0, failures: 1 }), backends: () => [{ ejectedUntil: 0, failures: 1 }] }
  const tcp: EjectionSource = { service: 'web', spec: { protocol: 'tcp' }, balancer: failed }
  const udp: EjectionSource = { service: 'dns', spec: { protocol: 'udp' }, balancer: failed }
  const gone = (e: { ip: string }) => e.ip === '10.77.0.9'
  const f = ejectionFilter([tcp, udp], 100, true, gone)
  const cases = [
    { name: 'TCP, last check failed', s: svc([], [ep(1, '10.77.0.2')]), port: 80, want: false },
    { name: 'UDP, last datagram failed: back once the ejection ends', s: { ...svc([], [ep(1, '10.77.0.2')]), name: 'dns' }, port: 53, want: true },
    { name: 'gone (its node is down): out of the VIP\'s other ports too', s: { ...svc([], [ep(1, '10.77.0.9')]), name: 'db' }, port: null, want: false },
  ]
  for (const c of cases) t.equal(f(c.s, c.s.endpoints[0]!, c.port), c.want, c.name)
  t.equal(f.plain?.({ ...svc([], [ep(1, '10.77.0.9')]), name: 'db' }), false, 'a service with a gone endpoint is never plain (its part is not kept)')
  t.equal(f.plain?.({ ...svc([], [ep(1, '10.77.0.3')]), name: 'db' }), true)
})

t.test('1,000 ports and 10,000 endpoints: the ports are walked once, each endpoint looks at its own service only', async (t) => {
  let walked = 0
  let lookups = 0
  const ports: EjectionSource[] = Array.from({ length: 1000 }, (_, i) => ({ service: `svc${i}`, balancer: { get: () => { lookups++; return undefined } } }))
  function* counted(): Generator<EjectionSource> {
    for (const p of ports) { walked++; yield p }
  }
  const f = ejectionFilter(counted(), 0)
  for (let i = 0; i < 1000; i++) {
    const s = svc([], [], { name: `svc${i}` })
    for (let j = 0; j < 10; j++) f(s, ep(j, `10.77.${i >> 4}.${j}`), 80)
  }
  t.equal(walked, 1000)
  t.equal(lookups, 10_000, 'one balancer look-up per endpoint, not one per endpoint and port')
})
