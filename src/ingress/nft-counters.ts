/**
 * Per-endpoint traffic of published ports in nft mode, read from the kernel (pure: JSON text in, numbers out).
 *
 * The kernel DNATs these connections, so the userspace proxy never sees them; the ingress table keeps three counter
 * sets keyed by `protocol . endpoint address . target port` (nft-rules.ts, chain ep-count): `ep-conns` counts new
 * connections (UDP: flows), `ep-in` what clients send (packets, bytes), `ep-out` what endpoints answer. Bytes are IP
 * bytes (headers included), where the userspace proxy counts payload. An element re-added (an endpoint ejected then
 * back, the table applied in full) starts again at 0: `CounterTotals` keeps the totals monotonic across that.
 */

/** Counters of one endpoint (key `tcp 10.0.0.5:80`) since the ingress started. */
export interface EndpointTraffic {
  connections: number
  bytesIn: number
  bytesOut: number
}

export type TrafficByEndpoint = Map<string, EndpointTraffic>

/** The counter sets the ingress table keeps, in the order `nft list set` is asked for them. */
export const COUNTER_SETS = ['ep-conns', 'ep-in', 'ep-out'] as const

/** The key of an endpoint's traffic: `tcp 10.0.0.5:80`. */
export function trafficKey(protocol: string, ip: string, port: number): string {
  return `${protocol} ${ip}:${port}`
}

/**
 * The elements of one `nft -j list set` answer: key → [packets, bytes]. Anything not shaped like an element with a
 * counter is skipped (an empty answer, a set without counters, a newer JSON schema's extra fields).
 */
export function parseCounterSet(json: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>()
  let doc: unknown
  try {
    doc = JSON.parse(json)
  } catch {
    return out
  }
  const items = (doc as { nftables?: unknown })?.nftables
  if (!Array.isArray(items)) return out
  for (const item of items) {
    const elems = (item as { set?: { elem?: unknown } })?.set?.elem
    if (!Array.isArray(elems)) continue
    for (const e of elems) {
      const el = (e as { elem?: { val?: { concat?: unknown }; counter?: { packets?: unknown; bytes?: unknown } } })?.elem
      const c = el?.val?.concat
      const n = el?.counter
      if (!Array.isArray(c) || c.length !== 3 || typeof n?.packets !== 'number' || typeof n.bytes !== 'number') continue
      const [proto, ip, port] = c as unknown[]
      if (typeof proto !== 'string' || typeof ip !== 'string' || typeof port !== 'number') continue
      out.set(trafficKey(proto, ip, port), [n.packets, n.bytes])
    }
  }
  return out
}

/**
 * Monotonic totals over kernel counters that may restart at 0 (an element deleted and added again, a full apply):
 * a value lower than the last one read means a restart, and the last value is kept as a base.
 */
export class CounterTotals {
  readonly #last = new Map<string, number>()
  readonly #base = new Map<string, number>()

  /** The total for `key` given the kernel's value now. */
  total(key: string, now: number): number {
    const last = this.#last.get(key) ?? 0
    let base = this.#base.get(key) ?? 0
    if (now < last) {
      base += last
      this.#base.set(key, base)
    }
    this.#last.set(key, now)
    return base + now
  }
}

/**
 * Fold the three sets' answers (in COUNTER_SETS order) into traffic per endpoint: connections from `ep-conns`'
 * packets (one per new connection), bytes from `ep-in` and `ep-out`.
 */
export function endpointTraffic(answers: readonly string[], totals: CounterTotals): TrafficByEndpoint {
  const [conns, sent, received] = answers.map(parseCounterSet)
  const out: TrafficByEndpoint = new Map()
  const at = (k: string) => {
    let t = out.get(k)
    if (!t) out.set(k, (t = { connections: 0, bytesIn: 0, bytesOut: 0 }))
    return t
  }
  for (const [k, [packets]] of conns ?? []) at(k).connections = totals.total(`c ${k}`, packets)
  for (const [k, [, bytes]] of sent ?? []) at(k).bytesIn = totals.total(`i ${k}`, bytes)
  for (const [k, [, bytes]] of received ?? []) at(k).bytesOut = totals.total(`o ${k}`, bytes)
  return out
}
