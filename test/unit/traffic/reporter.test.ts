/**
 * The agent's traffic reporter (src/worker/traffic-reporter.ts): ingress ports and WireGuard peers → the report
 * (errors = failed connects + rejected; handshake age from the last handshake; unnamed peers left out), sent every
 * interval on virtual time, one at a time, a failed send only logged.
 */
import t from 'tap'
import { TrafficReporter, trafficReport } from '../../../src/worker/index.ts'
import type { EndpointStatus, OverlayPeerStatus, PortStatus } from '../../../src/api/status.ts'
import type { TrafficReport } from '../../../src/api/traffic.ts'
import { FakeClock } from '../../support/fake-clock.ts'

const ep = (connections: number): EndpointStatus => ({
  key: `k${connections}`, taskName: 't', node: 'n', ip: '10.0.0.1', port: 80, state: 'running', health: 'none',
  ejected: false, ejectedForMs: 0, ejections: 0, open: 0, connections, errors: 0, bytesIn: 0, bytesOut: 0,
})
const port: PortStatus = {
  service: 'web', protocol: 'tcp', published: 8080, target: 80, open: 1, bytesIn: 300, bytesOut: 4000, queuedBytes: 0,
  errors: 2, retries: 1, rejected: 3, endpoints: [ep(5), ep(7)],
}
const peer = (node: string, lastHandshakeS: number): OverlayPeerStatus => ({ node, subnet: '10.77.2.0/24', endpoint: '10.0.0.2:51820', lastHandshakeS, rxBytes: 11, txBytes: 22 })

t.test('the report: per port, errors = failed connects + rejected; tunnels by peer name', async (t) => {
  t.same(trafficReport('n1', [port], [peer('n2', 990), peer('n3', 0), peer('?', 990)], 1000), {
    node: 'n1',
    ports: [{ service: 'web', protocol: 'tcp', published: 8080, connections: 12, bytesIn: 300, bytesOut: 4000, errors: 5, retries: 1 }],
    tunnels: [
      { peer: 'n2', rxBytes: 11, txBytes: 22, handshakeAgeS: 10 },
      { peer: 'n3', rxBytes: 11, txBytes: 22, handshakeAgeS: null },
    ],
  })
})

t.test('sends every interval; a failed send is logged and the next tick goes on', async (t) => {
  const clock = new FakeClock()
  const sent: TrafficReport[] = []
  const logged: string[] = []
  let n = 0
  let fail = true
  const r = new TrafficReporter({
    clock, intervalMs: 2000,
    sample: async () => ({ ports: [], tunnels: [], node: `s${++n}` }),
    send: async (x) => {
      if (fail) { fail = false; throw new Error('manager away') }
      sent.push(x)
    },
    log: (_level, msg, f) => logged.push(`${msg} ${String(f?.err)}`),
  })
  r.start()
  await clock.advance(1999)
  t.equal(n, 0, 'nothing before the first interval')
  await clock.advance(1)
  t.same(logged, ['traffic report not sent manager away'])
  await clock.advance(4000)
  t.same(sent.map((x) => x.node), ['s2', 's3'], 'fresh counters each tick, nothing queued')
  r.stop()
  await clock.advance(10_000)
  t.equal(sent.length, 2, 'stopped')
})
