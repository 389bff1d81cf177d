import { isCatalogEpoch, type CatalogNode, type CatalogService, type CatalogSnapshot, type Endpoint } from '../api/catalog.ts'
import type { PortSpec } from '../api/types.ts'
import { hasControlChars, isIpv4, isPort } from '../base/values.ts'
import { cidrContains, ipv4ToInt, parseCidr, type Cidr } from '../base/cidr.ts'
import { checkAddresses, checkNetworks, checkServiceNetworks, inServiceNetwork } from './check-networks.ts'

/**
 * Re-check a manager snapshot before anything reads it (pure). Its values end up in `nft -f` text (VIP and
 * published-port rules), DNS answers and the status page on every node, and they were reported by other nodes:
 * the manager checks task addresses, and each agent checks again here. A bad endpoint, port, service or node is
 * dropped and described in `problems`; everything else is kept as sent. One bad value never hides the others.
 * Networks (check-networks.ts): a task's address on a user network lies in that network's range, not the overlay's.
 */

export interface CheckRanges {
  /** Endpoint addresses must lie inside (the cluster overlay range), when given. */
  overlayRange?: string
  /** Service VIPs must lie inside, when given. */
  vipRange?: string
}

export interface Problem {
  what: string
  service?: string
  task?: string
  node?: string
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/
const ENDPOINT_STATES: readonly string[] = ['running', 'stopping']
const HEALTH: readonly string[] = ['healthy', 'unhealthy', 'starting', 'none']
const NODE_STATES: readonly string[] = ['ready', 'down', 'unknown']

/** A non-empty string of at most 255 characters without control characters. */
function plain(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 255 && !hasControlChars(v)
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v)
}

function parseRange(text: string | undefined): Cidr | null {
  return text === undefined ? null : parseCidr(text, 'catalog range')
}

function inRange(ip: string, range: Cidr | null): boolean {
  return range === null || cidrContains(range, ipv4ToInt(ip) as number)
}

/**
 * Null when the snapshot is not shaped like one at all (then it is refused whole), else the checked copy. Its order
 * (a non-negative integer `revision`, and an `epoch` when given: isCatalogEpoch) decides whether it replaces the
 * current one, so a bad value there refuses the whole snapshot: dropping it would let the snapshot be ordered wrong.
 */
export function checkSnapshot(snap: CatalogSnapshot, ranges: CheckRanges = {}): { snap: CatalogSnapshot; problems: Problem[] } | null {
  if (!snap || typeof snap !== 'object' || !Number.isSafeInteger(snap.revision) || snap.revision < 0) return null
  if (snap.epoch !== undefined && !isCatalogEpoch(snap.epoch)) return null
  if (!Array.isArray(snap.services) || !Array.isArray(snap.nodes)) return null
  const overlay = parseRange(ranges.overlayRange)
  const vips = parseRange(ranges.vipRange)
  const problems: Problem[] = []
  const nodes = snap.nodes.filter((n) => {
    const why = nodeProblem(n)
    if (why) problems.push({ what: why, node: show(n?.id) })
    return !why
  })
  const given = snap.networks === undefined ? undefined : Array.isArray(snap.networks) ? snap.networks : null
  if (given === null) problems.push({ what: 'networks are not a list' })
  const { networks, ranges: netRanges } = checkNetworks(given ?? [], problems)
  const services: CatalogService[] = []
  for (const s of snap.services) {
    const why = serviceProblem(s, vips)
    if (why) {
      problems.push({ what: why, service: show(s?.name) })
      continue
    }
    // Arrays are copied only when a value is dropped: this runs on every endpoint of every snapshot.
    let ports: PortSpec[] = s.ports
    for (let i = 0; i < s.ports.length; i++) {
      const bad = portProblem(s.ports[i] as PortSpec)
      if (!bad) { if (ports !== s.ports) ports.push(s.ports[i] as PortSpec); continue }
      problems.push({ what: bad, service: s.name })
      if (ports === s.ports) ports = s.ports.slice(0, i)
    }
    const nets = checkServiceNetworks(s, netRanges, problems)
    let endpoints: Endpoint[] = s.endpoints
    const addressProblems: Problem[] = [] // reported after the endpoints', as they always were
    for (let i = 0; i < s.endpoints.length; i++) {
      const e = s.endpoints[i] as Endpoint
      const onNetwork = nets !== undefined && inServiceNetwork(e?.ip, nets, netRanges)
      const bad = endpointProblem(e, onNetwork ? null : overlay)
      if (bad) problems.push({ what: bad, service: s.name, task: plain(e?.taskId) ? e.taskId : show(e?.taskId) })
      const kept = bad ? null : checkAddresses(e, s, nets, netRanges, addressProblems)
      if (kept === e && endpoints === s.endpoints) continue
      if (endpoints === s.endpoints) endpoints = s.endpoints.slice(0, i)
      if (kept) endpoints.push(kept)
    }
    problems.push(...addressProblems)
    const same = ports === s.ports && nets === s.networks && endpoints === s.endpoints
    services.push(same ? s : { ...s, ports, endpoints, ...(nets !== undefined ? { networks: nets } : {}) })
  }
  if (problems.length === 0) return { snap, problems }
  const out: CatalogSnapshot = { ...snap, services, nodes }
  if (given !== undefined) out.networks = networks
  return { snap: out, problems }
}

function nodeProblem(n: CatalogNode): string | null {
  if (!n || typeof n !== 'object') return 'node is not an object'
  if (!plain(n.id) || !plain(n.hostname)) return `node id or hostname ${show(n.id)}/${show(n.hostname)} is not a name`
  if (typeof n.addr !== 'string' || hasControlChars(n.addr)) return `node address ${show(n.addr)} is not text`
  if (!NODE_STATES.includes(n.state)) return `node state ${show(n.state)} is not one of ${NODE_STATES.join(', ')}`
  return null
}

function serviceProblem(s: CatalogService, vips: Cidr | null): string | null {
  if (!s || typeof s !== 'object') return 'service is not an object'
  if (!plain(s.id)) return `service id ${show(s.id)} is not an id`
  if (typeof s.name !== 'string' || !NAME_RE.test(s.name)) return `service name ${show(s.name)} is not a name`
  if (!plain(s.shortName)) return `short name ${show(s.shortName)} is not a name`
  if (s.stack !== undefined && !plain(s.stack)) return `stack ${show(s.stack)} is not a name`
  if (s.endpointMode !== 'vip' && s.endpointMode !== 'dnsrr') return `endpoint mode ${show(s.endpointMode)} is not vip or dnsrr`
  if (s.vip !== undefined && !(isIpv4(s.vip) && inRange(s.vip, vips))) return `VIP ${show(s.vip)} is not an IPv4 address of the VIP range`
  if (typeof s.stopGracePeriodMs !== 'number' || !(s.stopGracePeriodMs >= 0)) return `stop grace period ${show(s.stopGracePeriodMs)} is not a duration`
  if (!Array.isArray(s.ports) || !Array.isArray(s.endpoints)) return 'ports or endpoints are not lists'
  return null
}

function portProblem(p: PortSpec): string | null {
  if (!p || typeof p !== 'object') return 'port is not an object'
  if (p.protocol !== 'tcp' && p.protocol !== 'udp') return `port protocol ${show(p.protocol)} is not tcp or udp`
  if (p.mode !== 'ingress' && p.mode !== 'host') return `port mode ${show(p.mode)} is not ingress or host`
  if (!isPort(p.target)) return `target port ${show(p.target)} is not 1-65535`
  if (!isPort(p.published) && !(p.mode === 'host' && p.published === 0)) return `published port ${show(p.published)} is not 1-65535`
  if (p.proxyProtocol !== undefined && p.proxyProtocol !== 'v1' && p.proxyProtocol !== 'v2') return `proxy protocol ${show(p.proxyProtocol)} is not v1 or v2`
  return null
}

function endpointProblem(e: Endpoint, overlay: Cidr | null): string | null {
  if (!e || typeof e !== 'object') return 'endpoint is not an object'
  if (!isIpv4(e.ip)) return `endpoint address ${show(e.ip)} is not an IPv4 address`
  if (!inRange(e.ip, overlay)) return `endpoint address ${e.ip} is outside the overlay range`
  if (!plain(e.taskId) || !plain(e.taskName) || !plain(e.nodeId) || !plain(e.node)) return 'endpoint task or node name is not a name'
  if (!Number.isSafeInteger(e.slot) || e.slot < 0) return `endpoint slot ${show(e.slot)} is not a slot number`
  if (!ENDPOINT_STATES.includes(e.state)) return `endpoint state ${show(e.state)} is not running or stopping`
  if (!HEALTH.includes(e.health)) return `endpoint health ${show(e.health)} is not one of ${HEALTH.join(', ')}`
  return null
}
