import { NFT_INGRESS_TABLE } from './nft-marks.ts'

/**
 * The ingress table as data (pure), so that a catalog change is applied as a small delta instead of the whole table.
 *
 * Layout: every balanced target (a published port, a VIP port, a VIP's other ports) is a chain of its own holding
 * one DNAT rule (`numgen inc mod N` over its endpoints); the base chains dispatch to these chains through verdict
 * maps (`vip-ports`, `vips`, `ports`); VIPs that refuse are elements of the set `vip-refused`; the endpoints of
 * published ports are elements of the counter sets `ep-conns`, `ep-in`, `ep-out` (per-endpoint packets and bytes).
 * The base chains, the NAT and filter hooks are the `frame`: they depend only on the node (bridges, source NAT),
 * never on services.
 *
 * `renderFull` writes the whole table (create, delete, recreate: one transaction) for the first load, a restart, a
 * frame change and after any error; `renderDelta` writes only what changed between two tables: a new target is
 * `add chain` + `add rule` + `add element`, a target whose endpoints changed is `flush chain` + `add rule`, a gone
 * target `delete element` + `delete chain`, an endpoint's counters `add element`/`delete element`.
 */

/**
 * A set or map of the table: its declaration (type, flags) and its elements, key → value ('' for a set). `follows`:
 * its elements are derived from the targets (`targets`: each target's map element; `counted`: the endpoints the
 * targets count), so a delta takes them from the targets that changed instead of comparing every element.
 */
export interface NftSetDef {
  decl: string
  elements: Map<string, string>
  follows?: 'targets' | 'counted'
}

/** A balanced target: its chain's one rule, the map element leading to it, the endpoints it counts. */
export interface NftTarget {
  rule: string
  /** The verdict map holding `key : goto <chain>`. */
  map: string
  key: string
  /** Keys of the counter sets (`tcp . 10.0.0.5 . 80`) of its endpoints; empty for VIPs. */
  counted: readonly string[]
  /** What the rule was made of (endpoint addresses, target port; 0 for VIPs): the same again reuses this target. */
  backends: readonly string[]
  port: number
}

export interface NftTable {
  /** name → declaration and elements, in the order they are written. */
  sets: Map<string, NftSetDef>
  /** Target chains by name. */
  targets: Map<string, NftTarget>
  /** The base chains (hooks) as text: a change here means a full apply. */
  frame: string
}

const T = `ip ${NFT_INGRESS_TABLE}`

/** The whole table as `nft -f` input: create (so the delete cannot fail), delete, recreate. */
export function renderFull(t: NftTable): string {
  const lines = [`table ${T}`, `delete table ${T}`, `table ${T} {`]
  for (const [name, s] of t.sets) {
    lines.push(`  ${setKind(s)} ${name} {`, `    ${s.decl}`)
    if (s.elements.size > 0) lines.push(`    elements = { ${elementList(s.elements)} }`)
    lines.push('  }')
  }
  for (const [name, target] of t.targets) lines.push(`  chain ${name} {`, `    ${target.rule}`, '  }')
  lines.push(t.frame, '}', '')
  return lines.join('\n')
}

/**
 * The commands that turn table `from` into `to`, or null when the frame or a declaration differs (then apply in
 * full). An empty string: nothing to do.
 */
export function renderDelta(from: NftTable, to: NftTable): string | null {
  if (from.frame !== to.frame || from.sets.size !== to.sets.size) return null
  for (const [name, s] of to.sets) if (from.sets.get(name)?.decl !== s.decl || from.sets.get(name)?.follows !== s.follows) return null
  const add: string[] = []
  const refill: string[] = []
  const del: string[] = []
  const els = new Map<string, { add: string[]; del: string[] }>([...to.sets.keys()].map((n) => [n, { add: [], del: [] }]))
  const touched = new Set<string>()
  for (const [name, t] of to.targets) {
    const was = from.targets.get(name)
    if (was === t) continue // reused from `from` (nftTable's `prev`): unchanged
    if (was === undefined) {
      add.push(`add chain ${T} ${name}`, `add rule ${T} ${name} ${t.rule}`)
      els.get(t.map)?.add.push(`${t.key} : goto ${name}`)
    } else if (was.rule !== t.rule) {
      refill.push(`flush chain ${T} ${name}`, `add rule ${T} ${name} ${t.rule}`)
      for (const k of was.counted) touched.add(k)
    } else continue
    for (const k of t.counted) touched.add(k)
  }
  for (const [name, t] of from.targets) {
    if (to.targets.has(name)) continue
    els.get(t.map)?.del.push(t.key)
    del.push(`delete chain ${T} ${name}`)
    for (const k of t.counted) touched.add(k)
  }
  for (const [name, s] of to.sets) {
    const old = (from.sets.get(name) as NftSetDef).elements
    const e = els.get(name) as { add: string[]; del: string[] }
    if (s.follows === 'counted') {
      for (const k of touched) {
        if (old.has(k) && !s.elements.has(k)) e.del.push(k)
        else if (!old.has(k) && s.elements.has(k)) e.add.push(k)
      }
    } else if (s.follows === undefined && old !== s.elements) {
      for (const [k, v] of old) if (s.elements.get(k) !== v) e.del.push(k)
      for (const [k, v] of s.elements) if (old.get(k) !== v) e.add.push(v === '' ? k : `${k} : ${v}`)
    }
  }
  const delEl = [...els].flatMap(([n, e]) => (e.del.length > 0 ? [`delete element ${T} ${n} { ${e.del.join(', ')} }`] : []))
  const addEl = [...els].flatMap(([n, e]) => (e.add.length > 0 ? [`add element ${T} ${n} { ${e.add.join(', ')} }`] : []))
  // New chains before the elements that jump to them; elements removed before their chains.
  const out = [...add, ...refill, ...delEl, ...addEl, ...del]
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}

function setKind(s: NftSetDef): 'map' | 'set' {
  return s.decl.includes(' : ') ? 'map' : 'set'
}

function elementList(els: Map<string, string>): string {
  return [...els].map(([k, v]) => (v === '' ? k : `${k} : ${v}`)).join(', ')
}
