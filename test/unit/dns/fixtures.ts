import type { CatalogService, CatalogSnapshot, CatalogView, Endpoint } from '../../../src/api/catalog.ts'

/** A CatalogView over a snapshot the test replaces at will. */
export class FakeCatalog implements CatalogView {
  #snap: CatalogSnapshot
  #subs = new Set<(s: CatalogSnapshot) => void>()
  constructor(snap: CatalogSnapshot) {
    this.#snap = snap
  }
  current(): CatalogSnapshot {
    return this.#snap
  }
  onChange(fn: (snap: CatalogSnapshot) => void): () => void {
    this.#subs.add(fn)
    return () => this.#subs.delete(fn)
  }
  set(snap: CatalogSnapshot): void {
    this.#snap = snap
    for (const fn of this.#subs) fn(snap)
  }
}

export function ep(service: string, slot: number, ip: string, over: Partial<Endpoint> = {}): Endpoint {
  return { taskId: `t-${service}-${slot}`, slot, taskName: `${service}.${slot}`, nodeId: 'n1', node: 'node1', ip, state: 'running', health: 'none', ...over }
}

export function svc(name: string, over: Partial<CatalogService> = {}): CatalogService {
  return { id: `s-${name}`, name, shortName: name, endpointMode: 'vip', ports: [], stopGracePeriodMs: 10_000, endpoints: [], ...over }
}

/**
 * The lab catalog: stack `app` with web (vip, 3 tasks: one unhealthy, one stopping plus a healthy one) and db
 * (dnsrr, 2 tasks), stack `blog` with its own web, a plain `api` (vip, port 8080/tcp + 53/udp), `solo` only in a stack.
 */
export function labSnapshot(revision = 1): CatalogSnapshot {
  return {
    revision,
    nodes: [{ id: 'n1', hostname: 'node1', addr: '192.168.77.11', state: 'ready' }],
    services: [
      svc('app_web', {
        stack: 'app', shortName: 'web', vip: '10.78.0.2',
        ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }],
        endpoints: [
          ep('app_web', 1, '10.77.1.2'),
          ep('app_web', 2, '10.77.2.2', { health: 'unhealthy' }),
          ep('app_web', 3, '10.77.3.2', { state: 'stopping' }),
          ep('app_web', 4, '10.77.1.5', { health: 'healthy' }),
        ],
      }),
      svc('app_db', {
        stack: 'app', shortName: 'db', endpointMode: 'dnsrr',
        endpoints: [ep('app_db', 1, '10.77.1.3'), ep('app_db', 2, '10.77.2.3')],
      }),
      svc('blog_web', { stack: 'blog', shortName: 'web', vip: '10.78.0.3', endpoints: [ep('blog_web', 1, '10.77.1.4')] }),
      svc('blog_solo', { stack: 'blog', shortName: 'solo', vip: '10.78.0.5', endpoints: [ep('blog_solo', 1, '10.77.2.9')] }),
      svc('api', {
        vip: '10.78.0.4',
        ports: [{ published: 8080, target: 8080, protocol: 'tcp', mode: 'ingress' }, { published: 53, target: 53, protocol: 'udp', mode: 'host' }],
        endpoints: [ep('api', 1, '10.77.1.10'), ep('api', 2, '10.77.2.10', { health: 'starting' })],
      }),
    ],
  }
}

/** An OPT record for dns-packet's encoder (its typings want every decoded field). */
export function optRecord(udpPayloadSize: number, flags = 0): import('dns-packet').Answer {
  return { type: 'OPT', name: '.', udpPayloadSize, flags } as unknown as import('dns-packet').Answer
}

/** The response code of a response packet, by name. */
export function rcodeOf(msg: Buffer): string {
  return ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][(msg[3] as number) & 15] ?? `RCODE${(msg[3] as number) & 15}`
}
