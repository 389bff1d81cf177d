/**
 * Prometheus metrics of the gossip layer, read at scrape time from `members()` and `counters()` (the hot path only
 * bumps plain counters). Registered by the agent on its registry: `registerGossipMetrics(registry, gossip)`.
 *
 *   mesh_gossip_members{state}                  members (this node included) by state
 *   mesh_gossip_health_score                    Lifeguard local health (0 = healthy)
 *   mesh_gossip_{probes,probe_failures,suspicions,push_pulls,decrypt_failures,decode_errors}_total
 *   mesh_gossip_{messages,packets,bytes}_total{direction}
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { setStateCounts } from '../base/metrics.ts'
import type { MemberlistCounters } from './memberlist.ts'
import type { SerfCounters } from './serf-types.ts'

/** What the metrics read: `Gossip` fits. */
export interface GossipMetricSource {
  members(): readonly { state: string }[]
  counters(): MemberlistCounters & SerfCounters & { health: number }
}

const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left', 'leaving'] as const

type Counters = ReturnType<GossipMetricSource['counters']>

export function registerGossipMetrics(registry: Registry, gossip: GossipMetricSource): void {
  const registers = [registry]
  new Gauge({
    name: 'mesh_gossip_members', help: 'Gossip members (this node included) by state.', labelNames: ['state'], registers,
    collect() {
      setStateCounts(this, MEMBER_STATES, gossip.members().map((m) => m.state))
    },
  })
  new Gauge({
    name: 'mesh_gossip_health_score', help: 'Lifeguard local health (awareness) score: 0 is healthy, higher means this node is slow to answer.', registers,
    collect() {
      this.set(gossip.counters().health)
    },
  })
  const counter = (name: string, help: string, read: (c: Counters) => number) => new Counter({
    name, help, registers,
    collect() {
      this.reset()
      this.inc(read(gossip.counters()))
    },
  })
  const inOut = (name: string, help: string, read: (c: Counters) => [number, number]) => new Counter({
    name, help, labelNames: ['direction'], registers,
    collect() {
      this.reset()
      const [i, o] = read(gossip.counters())
      this.inc({ direction: 'in' }, i)
      this.inc({ direction: 'out' }, o)
    },
  })
  counter('mesh_gossip_probes_total', 'Failure-detection probes sent.', (c) => c.probes)
  counter('mesh_gossip_probe_failures_total', 'Probes that got no ack, directly or indirectly.', (c) => c.probeFailures)
  counter('mesh_gossip_suspicions_total', 'Members this node started to suspect.', (c) => c.suspicions)
  counter('mesh_gossip_push_pulls_total', 'Full state exchanges (push/pull over TCP).', (c) => c.pushPulls)
  counter('mesh_gossip_decrypt_failures_total', 'Packets or streams no keyring key could decrypt.', (c) => c.decryptFailures)
  counter('mesh_gossip_decode_errors_total', 'Messages that did not decode (hostile or broken input).', (c) => c.decodeErrors)
  counter('mesh_gossip_members_refused_total', 'New members refused because the member table is full (maxMembers).', (c) => c.membersRefused)
  counter('mesh_gossip_members_reaped_total', 'Dead or left members forgotten (maxDeadMembers, reconnect/tombstone timeouts).', (c) => c.membersReaped)
  counter('mesh_gossip_tags_refused_total', 'Member updates whose tags broke the tag rules (previous tags kept).', (c) => c.tagsRefused)
  counter('mesh_gossip_indirect_pings_refused_total', 'Indirect ping requests for a target or requester that is not a member.', (c) => c.indirectPingsRefused)
  counter('mesh_gossip_relays_refused_total', 'Serf relays and query acks to an address that is not a member.', (c) => c.relaysRefused)
  inOut('mesh_gossip_messages_total', 'Gossip messages in UDP packets (a compound packet carries several).', (c) => [c.messagesIn, c.messagesOut])
  inOut('mesh_gossip_packets_total', 'Gossip UDP packets.', (c) => [c.packetsIn, c.packetsOut])
  inOut('mesh_gossip_bytes_total', 'Gossip UDP bytes (after encryption).', (c) => [c.bytesIn, c.bytesOut])
}
