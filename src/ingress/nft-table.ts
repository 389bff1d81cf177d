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

/** A set or map of the table: its declaration (type, flags) and its elements, key → value ('' for a set). */
export interface NftSetDef {
  decl: string
  elements: Map<string, string>
}

export interface NftTable {
  /** name → declaration and elements, in the order they are written. */
  sets: Map<string, NftSetDef>
  /** Target chains: name → their one rule. */
  chains: Map<string, string>
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
  for (const [name, rule] of t.chains) lines.push(`  chain ${name} {`, `    ${rule}`, '  }')
  lines.push(t.frame, '}', '')
  return lines.join('\n')
}

/**
 * The commands that turn table `from` into `to`, or null when the frame or a declaration differs (then apply in
 * full). An empty string: nothing to do.
 */
export function renderDelta(from: NftTable, to: NftTable): string | null {
  if (from.frame !== to.frame || from.sets.size !== to.sets.size) return null
  for (const [name, s] of to.sets) if (from.sets.get(name)?.decl !== s.decl) return null
  const add: string[] = []
  const refill: string[] = []
  const del: string[] = []
  for (const [name, rule] of to.chains) {
    const was = from.chains.get(name)
    if (was === undefined) add.push(`add chain ${T} ${name}`, `add rule ${T} ${name} ${rule}`)
    else if (was !== rule) refill.push(`flush chain ${T} ${name}`, `add rule ${T} ${name} ${rule}`)
  }
  const addEl: string[] = []
  const delEl: string[] = []
  // Sets sharing one element map in both tables (the counter sets) are compared once.
  const diffs = new Map<Map<string, string>, Map<Map<string, string>, [string[], Map<string, string>]>>()
  for (const [name, s] of to.sets) {
    const old = (from.sets.get(name) as NftSetDef).elements
    let byNew = diffs.get(old)
    if (!byNew) diffs.set(old, (byNew = new Map()))
    let diff = byNew.get(s.elements)
    if (!diff) byNew.set(s.elements, (diff = diffElements(old, s.elements)))
    const [gone, added] = diff
    if (gone.length > 0) delEl.push(`delete element ${T} ${name} { ${gone.join(', ')} }`)
    if (added.size > 0) addEl.push(`add element ${T} ${name} { ${elementList(added)} }`)
  }
  for (const name of from.chains.keys()) if (!to.chains.has(name)) del.push(`delete chain ${T} ${name}`)
  // New chains before the elements that jump to them; elements removed before their chains.
  const out = [...add, ...refill, ...delEl, ...addEl, ...del]
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}

/** Keys to delete (gone, or another value) and elements to add between two element maps. */
function diffElements(old: Map<string, string>, now: Map<string, string>): [string[], Map<string, string>] {
  const gone: string[] = []
  const added = new Map<string, string>()
  if (old === now) return [gone, added]
  for (const [k, v] of old) if (now.get(k) !== v) gone.push(k)
  for (const [k, v] of now) if (old.get(k) !== v) added.set(k, v)
  return [gone, added]
}

function setKind(s: NftSetDef): 'map' | 'set' {
  return s.decl.includes(' : ') ? 'map' : 'set'
}

function elementList(els: Map<string, string>): string {
  return [...els].map(([k, v]) => (v === '' ? k : `${k} : ${v}`)).join(', ')
}
