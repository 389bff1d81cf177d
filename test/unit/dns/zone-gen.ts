import type { CatalogService, Endpoint } from '../../../src/api/catalog.ts'
import { seededRandom, type Random } from '../../../src/base/index.ts'
import type { Entry, RRSet, Zone, ZoneService } from '../../../src/dns/zone.ts'

/** Random catalogs that hit every naming rule of zone.ts: stacks, shared short names, aliases, a service called
 *  like another's task or short name, addresses shared by two tasks, dnsrr, unhealthy and stopping tasks. */
export class ZoneGen {
  readonly r: Random
  #n = 0
  constructor(seed: number) {
    this.r = seededRandom(seed)
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r.next() * xs.length)] as T
  }

  endpoint(service: string, slot: number): Endpoint {
    const k = this.#n++
    return {
      taskId: `t${k}`, slot, taskName: this.r.next() < 0.1 ? `${service}.n${k % 3}` : `${service}.${slot}`, nodeId: 'n1', node: 'node1',
      ip: `10.77.${this.pick([0, 1, 2])}.${Math.floor(this.r.next() * 12) + 2}`,
      state: this.r.next() < 0.15 ? 'stopping' : 'running',
      health: this.pick(['none', 'none', 'healthy', 'unhealthy', 'starting'] as const),
    }
  }

  service(): ZoneService {
    const stack = this.pick([undefined, 'app', 'blog'])
    const short = this.pick(['web', 'db', 'api', 'mesh', 'web.1', 'tasks'])
    const name = stack && this.r.next() < 0.8 ? `${stack}_${short}` : this.pick(['web', 'db', 'api', 'app_web', 'web.1', 'x'])
    const endpoints = Array.from({ length: Math.floor(this.r.next() * 4) }, (_, i) => this.endpoint(name, i + 1))
    const vip = this.r.next() < 0.6 ? `10.78.0.${Math.floor(this.r.next() * 6) + 2}` : undefined
    const s: ZoneService = {
      id: `s${this.#n++}`, name, shortName: stack ? short : name, endpointMode: vip ? 'vip' : 'dnsrr', stopGracePeriodMs: 0, endpoints,
      ports: this.r.next() < 0.5 ? [{ protocol: this.pick(['tcp', 'udp'] as const), target: this.pick([80, 53]), published: 8080, mode: 'ingress' }] : [],
      ...(vip ? { vip } : {}), ...(stack ? { stack } : {}),
      ...(this.r.next() < 0.2 ? { aliases: [this.pick(['web', 'db', 'alias', 'app_web.1'])] } : {}),
    }
    return s
  }

  /** Change one thing about a service (a new object, as the catalog makes for a changed service). */
  change(s: ZoneService): ZoneService {
    const c = Math.floor(this.r.next() * 4)
    if (c === 0) return { ...s, endpoints: [...s.endpoints.slice(1), this.endpoint(s.name, s.endpoints.length + 1)] }
    if (c === 1) return { ...s, endpoints: s.endpoints.map((e) => ({ ...e, health: this.pick(['none', 'unhealthy'] as const) })) }
    if (c === 2) return this.service()
    return { ...s, ports: [] }
  }
}

function setBytes(s: RRSet | null): unknown {
  return s === null ? null : { buf: Buffer.from(s.bytes, 'latin1').toString('hex'), offs: s.offs, count: s.count, rotate: s.rotate, extra: setBytes(s.extra) }
}

function entryBytes(e: Entry): unknown {
  return { a: setBytes(e.a), srv: setBytes(e.srv), ptr: setBytes(e.ptr), soa: setBytes(e.soa), any: setBytes(e.any) }
}

/** Everything a zone answers with, as plain data (names sorted), for deep comparison. */
export function zoneData(z: Zone): unknown {
  const map = (m: Map<string, Entry>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, e]) => [k, entryBytes(e)]))
  return {
    revision: z.revision, negSoa: z.negSoa.toString('hex'), domainKey: z.domainKey,
    names: map(z.names),
    byStack: Object.fromEntries([...z.byStack].filter(([, m]) => m.size > 0).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, m]) => [k, map(m)])),
    ipStack: Object.fromEntries([...z.ipStack].sort(([a], [b]) => (a < b ? -1 : 1))),
  }
}

export type { CatalogService }
