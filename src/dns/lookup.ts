/** Answer a name as the server would for a container at `fromIp`, without sockets (`mesh dns lookup NAME`). */
import dnsPacket from 'dns-packet'
import type { CatalogView, LookupRecord, LookupResult } from '../api/index.ts'
import { FORWARD, Responder } from './answer.ts'
import { dnsConfig, type DnsOptions } from './options.ts'



export type { LookupRecord, LookupResult }

export interface LookupOptions extends Pick<DnsOptions, 'domain' | 'ttlSec' | 'allowCidrs' | 'reverseCidrs' | 'defaultCidrs'> {
  /** Source address of the asking container (its networks decide what it sees, its stack short names). Default
   *  127.0.0.1 (the host: every service). */
  fromIp?: string
}

function records(list: dnsPacket.Answer[] | undefined): LookupRecord[] {
  return (list ?? []).filter((r) => r.type !== 'OPT').map((r) => {
    const rr = r as { name: string; type: string; ttl?: number; data?: unknown }
    return { name: rr.name, type: rr.type, ttl: rr.ttl ?? 0, data: rr.data }
  })
}

/** Look `name` up (type A, AAAA, SRV, PTR, SOA, ANY, …) in the catalog's current snapshot. */
export function lookup(catalog: CatalogView, name: string, type: string = 'A', opts: LookupOptions = {}): LookupResult {
  const cfg = dnsConfig({ domain: opts.domain, ttlSec: opts.ttlSec, allowCidrs: opts.allowCidrs, reverseCidrs: opts.reverseCidrs, defaultCidrs: opts.defaultCidrs })
  const responder = new Responder(catalog, cfg)
  const query = dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type.toUpperCase() as dnsPacket.RecordType, name }] })
  const r = responder.handle(query, opts.fromIp ?? '127.0.0.1', true)
  if (r === FORWARD || r === null) return { rcode: null, forwarded: r === FORWARD, authoritative: false, answers: [], authorities: [], additionals: [] }
  const p = dnsPacket.decode(r)
  return {
    rcode: (p as { rcode?: string }).rcode ?? 'NOERROR',
    forwarded: false,
    authoritative: ((p.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0,
    answers: records(p.answers),
    authorities: records(p.authorities),
    additionals: records(p.additionals),
  }
}
