import type { Backend } from './balancer.ts'
import { isServing } from './balancer.ts'
import type { CatalogService, Endpoint } from '../catalog/index.ts'
import type { ServingFilter } from './vip-rules.ts'

/** What the nft rules need of a published port: its service and its balancer's ejection state. */
export interface EjectionSource {
  service: string
  /** A UDP port is never probed, so `sticky` does not hold its endpoints out (they come back when an ejection ends). */
  spec?: { protocol: 'tcp' | 'udp' }
  balancer: {
    get(key: string): (Pick<Backend, 'ejectedUntil'> & { failures?: number }) | undefined
    /** Every backend (a port whose balancer cannot list them keeps its service out of planNft's kept parts). */
    backends?(): readonly (Pick<Backend, 'ejectedUntil'> & { failures?: number })[]
  }
}

const NONE: readonly EjectionSource[] = []

/**
 * The serving filter of the nft ruleset (published ports and VIPs): an endpoint serves when the catalog says so and
 * no balancer of its service's published ports has it ejected at `now`. The ports are indexed by service once per
 * ruleset, so a ruleset costs O(ports + endpoints), not O(ports × endpoints) (at 1,000 services and 10,000
 * endpoints that product was ten million balancer look-ups per catalog change: bench/agent-scale.ts).
 * `sticky` (active checks on): an endpoint whose last connect or check failed stays out until one passes, rather
 * than coming back for a while when its ejection ends and leaving again at the next failed check.
 * `gone`: an endpoint out for a reason of its own, on every port and VIP (its node is down, its task gone here:
 * ingress-health.ts).
 */
export function ejectionFilter(ports: Iterable<EjectionSource>, now: number, sticky = false, gone?: (e: Endpoint) => boolean): ServingFilter {
  const byService = new Map<string, EjectionSource[]>()
  for (const p of ports) {
    const list = byService.get(p.service)
    if (list) list.push(p)
    else byService.set(p.service, [p])
  }
  const filter = (s: CatalogService, e: Endpoint, port: number | null): boolean => {
    if (!isServing(e) || gone?.(e)) return false
    if (port === null) return true // a VIP's other ports: no listener, so no ejection state
    for (const p of byService.get(s.name) ?? NONE) {
      const b = p.balancer.get(`${e.ip}:${port}`)
      if (b && out(b, p)) return false
    }
    return true
  }
  const out = (b: Pick<Backend, 'ejectedUntil'> & { failures?: number }, p: EjectionSource) =>
    b.ejectedUntil > now || (sticky && p.spec?.protocol !== 'udp' && (b.failures ?? 0) > 0)
  // plain(s): no balancer of s's ports holds a backend out, so the filter is the catalog's state for s (planNft keeps
  // its part of the plan). A source that cannot list its backends is never plain.
  const plain = (s: CatalogService) => !(gone && s.endpoints.some(gone)) && (byService.get(s.name) ?? NONE).every((p) => p.balancer.backends !== undefined && !p.balancer.backends().some((b) => out(b, p)))
  return Object.assign(filter, { plain })
}
