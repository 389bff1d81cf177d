/**
 * Catalog snapshot → zone: every name we answer, with its records pre-encoded as wire bytes (owner compressed to the
 * question name at offset 12), built once per catalog change. Pure: no clock, no I/O.
 *
 * Names per service S (full name, e.g. `app_web`), stack K, short name h (`web`), slot/task suffix n, domain D:
 *   S, S.K, h.K and each + `.D`                 → VIP (endpoint mode vip) or healthy task IPs (dnsrr, rotated)
 *   tasks.<any of those>                         → healthy task IPs (rotated)
 *   _<port>._tcp|_udp.<any of those>             → SRV 0 0 <target port> S.D, with S.D's addresses as additional
 *   task name (`S.n`) and + `.D`                 → that task's IP
 *   h, tasks.h, _p._tcp.h, h.n                   → S, for a querier whose own task is in stack K; for everyone when
 *                                                  h is unique among stacks and no service is called h
 *   a.b.c.d.in-addr.arpa (task IPs, VIPs)        → PTR task name.D / S.D
 *   alias a (a network's, ZoneService.aliases)   → as S: a, tasks.a, _<port>._tcp.a, each + `.D`
 * A name listed first wins when two services would produce the same name; an alias never takes a service's name.
 * The input is one network's view of the catalog (scope.ts projects it) or the whole catalog as it is.
 * A zone follows later snapshots per changed service through ZoneState (zone-state.ts); buildZone is one update
 * from nothing, so both give the same records.
 */
import type { CatalogSnapshot } from '../api/catalog.ts'
import { anyCidrContains } from '../base/cidr.ts'
import { TYPE } from './wire.ts'
import type { Entry, RRSet, Zone, ZoneInput, ZoneOptions } from './zone-records.ts'
import { ZoneState } from './zone-state.ts'

export { isHealthy, type Entry, type RRSet, type Zone, type ZoneInput, type ZoneOptions, type ZoneService } from './zone-records.ts'
export { ZoneState } from './zone-state.ts'

/** Build the zone for a snapshot. Cost is linear in services + endpoints. */
export function buildZone(snap: ZoneInput | CatalogSnapshot, opts: ZoneOptions): Zone {
  return new ZoneState(opts).update(snap)
}

const ARPA_KEY = '\x07in-addr\x04arpa'

/** True when a missing name is ours to deny (NXDOMAIN): inside the domain, or a full reverse name in our ranges. */
export function ownsMissing(zone: Zone, key: string): boolean {
  const dk = zone.domainKey
  if (key.length >= dk.length && key.endsWith(dk)) {
    if (key.length === dk.length) return true
    for (let i = 0; i < key.length; i += 1 + key.charCodeAt(i)) if (i === key.length - dk.length) return true
    return false
  }
  if (!key.endsWith(ARPA_KEY) || zone.reverseCidrs.length === 0) return false
  const octets: number[] = []
  let i = 0
  const stop = key.length - ARPA_KEY.length
  while (i < stop) {
    const l = key.charCodeAt(i)
    const s = key.slice(i + 1, i + 1 + l)
    if (!/^\d{1,3}$/.test(s) || Number(s) > 255) return false
    octets.push(Number(s))
    i += 1 + l
  }
  if (octets.length !== 4 || i !== stop) return false
  const ip = ((((octets[3] as number) * 256 + (octets[2] as number)) * 256 + (octets[1] as number)) * 256) + (octets[0] as number)
  return anyCidrContains(zone.reverseCidrs, ip)
}

/** The records at an entry for a query type (ANY: everything). */
export function recordsFor(e: Entry, qtype: number): RRSet | null {
  switch (qtype) {
    case TYPE.A: return e.a
    case TYPE.SRV: return e.srv
    case TYPE.PTR: return e.ptr
    case TYPE.SOA: return e.soa
    case TYPE.ANY: return e.any
    default: return null
  }
}
