/**
 * Structural sharing between catalog snapshots (pure). A manager pushes the whole catalog on every change, decoded
 * into fresh objects; at 1,000 services / 10,000 endpoints a JSON copy of all of it per change was most of
 * `Catalog.apply` and every reader then had to treat every service as new. `share(next, prev)` returns the
 * snapshot as a frozen copy in which every part equal to the same part of `prev` (a service by id, the nodes, the
 * networks, any other top-level field) IS that part of `prev`: readers (ingress, DNS) compare services by identity
 * to find what changed. Only the changed parts are copied (a JSON round trip, as before: the copy is plain data a
 * caller cannot mutate). Returns `prev` itself when nothing at all differs.
 */
import type { CatalogService, CatalogSnapshot } from '../api/catalog.ts'

/** True when `a` (anything a caller passed) is the same JSON data as `b` (plain frozen data of an earlier copy).
 *  False whenever unsure (then the part is copied: a false "different" only costs a copy). */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return a === null || typeof a !== 'object' || Object.isFrozen(a)
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) {
      const v: unknown = a[i]
      if (v !== b[i] || (typeof v === 'object' && v !== null)) { if (!sameData(v, b[i])) return false }
    }
    return true
  }
  if (Array.isArray(b) || Object.getPrototypeOf(a) !== Object.prototype) return false
  // Runs for every endpoint of every snapshot: primitives compared inline, no key arrays allocated.
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  let n = 0
  for (const k in x) {
    const v = x[k]
    if (v === undefined) continue
    const w = y[k]
    if (v !== w || (typeof v === 'object' && v !== null)) {
      if (typeof v !== 'object' || v === null || !sameData(v, w)) return false
    }
    n++
  }
  for (const _ in y) n--
  return n === 0
}

/** A frozen plain-data copy (JSON semantics: undefined fields dropped). */
export function frozenCopy<T>(v: T): T {
  return v === undefined ? v : deepFreeze(JSON.parse(JSON.stringify(v)) as T)
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o as object)) deepFreeze(v)
  }
  return o
}

/** `next` as a frozen snapshot sharing every unchanged part with `prev` (see the file comment); `prev` when equal. */
export function share(next: CatalogSnapshot, prev: CatalogSnapshot): CatalogSnapshot {
  const byId = new Map<string, CatalogService>()
  for (const s of prev.services) byId.set(s.id, s)
  let listChanged = next.services.length !== prev.services.length
  const services = next.services.map((s, i) => {
    const old = byId.get(s.id)
    const kept = old !== undefined && sameData(s, old) ? old : frozenCopy(s)
    if (kept !== prev.services[i]) listChanged = true
    return kept
  })
  let changed = listChanged
  const out: Record<string, unknown> = {}
  let fields = 0
  for (const k in next) {
    if (!Object.hasOwn(next, k)) continue
    const v = (next as unknown as Record<string, unknown>)[k]
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue
    fields++
    const old = Object.hasOwn(prev, k) ? (prev as unknown as Record<string, unknown>)[k] : undefined
    if (k === 'services') { out[k] = listChanged ? Object.freeze(services) : old; continue }
    if (old !== undefined && sameData(v, old)) { out[k] = old; continue }
    out[k] = frozenCopy(v)
    changed = true
  }
  if (!changed && fields === Object.keys(prev).length) return prev
  return Object.freeze(out) as unknown as CatalogSnapshot
}
