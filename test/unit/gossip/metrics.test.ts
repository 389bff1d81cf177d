import t from 'tap'
import { Registry } from 'prom-client'
import { registerGossipMetrics, type GossipMetricSource } from '../../../src/gossip/index.ts'
import { parsePromText } from '../../support/prom-text.ts'

t.test('gossip metrics are read from members() and counters() at scrape time', async (t) => {
  const counters: ReturnType<GossipMetricSource['counters']> = {
    probes: 7, probeFailures: 1, suspicions: 2, pushPulls: 3, decryptFailures: 0, decodeErrors: 4,
    messagesIn: 10, messagesOut: 11, packetsIn: 5, packetsOut: 6, bytesIn: 500, bytesOut: 600, health: 1,
    membersRefused: 12, indirectPingsRefused: 13, tagsRefused: 14, relaysRefused: 15, membersReaped: 16,
  }
  const members = [{ state: 'alive' }, { state: 'alive' }, { state: 'suspect' }]
  const registry = new Registry()
  registerGossipMetrics(registry, { members: () => members, counters: () => counters })
  const m = parsePromText(await registry.metrics())
  const cases: { name: string; labels: Record<string, string>; want: number }[] = [
    { name: 'mesh_gossip_members', labels: { state: 'alive' }, want: 2 },
    { name: 'mesh_gossip_members', labels: { state: 'suspect' }, want: 1 },
    { name: 'mesh_gossip_members', labels: { state: 'dead' }, want: 0 },
    { name: 'mesh_gossip_health_score', labels: {}, want: 1 },
    { name: 'mesh_gossip_probes_total', labels: {}, want: 7 },
    { name: 'mesh_gossip_members_refused_total', labels: {}, want: 12 },
    { name: 'mesh_gossip_indirect_pings_refused_total', labels: {}, want: 13 },
    { name: 'mesh_gossip_tags_refused_total', labels: {}, want: 14 },
    { name: 'mesh_gossip_relays_refused_total', labels: {}, want: 15 },
    { name: 'mesh_gossip_members_reaped_total', labels: {}, want: 16 },
    { name: 'mesh_gossip_decode_errors_total', labels: {}, want: 4 },
    { name: 'mesh_gossip_bytes_total', labels: { direction: 'out' }, want: 600 },
    { name: 'mesh_gossip_packets_total', labels: { direction: 'in' }, want: 5 },
  ]
  for (const c of cases) t.equal(m.get(c.name, c.labels), c.want, `${c.name} ${JSON.stringify(c.labels)}`)
  counters.probes = 9
  members.pop()
  const again = parsePromText(await registry.metrics())
  t.equal(again.get('mesh_gossip_probes_total'), 9, 'counters follow the source')
  t.equal(again.get('mesh_gossip_members', { state: 'suspect' }), 0, 'a state that emptied reads 0')
})
