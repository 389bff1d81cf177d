/**
 * Placement constraints matched against nodes (pure): the scheduler and the global orchestrator ask whether a node
 * meets a service's constraints (`unmetConstraint`). The syntax (parse, validate) is src/api/constraints.ts; a
 * `node.labels.K != v` constraint is met by a node without the label K; values compare case-insensitively.
 */
import { ConstraintError, parseConstraints, type Constraint, type NodeRecord } from '../api/index.ts'

export type { Constraint }

/** Does the node meet this constraint? */
export function constraintMatches(c: Constraint, node: NodeRecord): boolean {
  let actual: string | undefined
  switch (c.field) {
    case 'node.id': actual = node.id; break
    case 'node.hostname': actual = node.hostname; break
    case 'node.role': actual = node.role; break
    case 'node.labels': actual = Object.hasOwn(node.labels, c.label as string) ? node.labels[c.label as string] : undefined
  }
  const equal = actual !== undefined && actual.toLowerCase() === c.value.toLowerCase()
  return c.op === '==' ? equal : !equal
}

/** The first constraint the node does not meet, or undefined when it meets them all. */
export function unmetConstraint(cs: readonly Constraint[], node: NodeRecord): Constraint | undefined {
  return cs.find((c) => !constraintMatches(c, node))
}

/** Parsed constraints of a stored spec (cached by text). A spec that slipped past validation yields an error. */
const cache = new Map<string, { constraints: Constraint[]; error?: string }>()
export function compiledConstraints(list: readonly string[]): { constraints: Constraint[]; error?: string } {
  const k = list.join('\u0000')
  let hit = cache.get(k)
  if (!hit) {
    try {
      hit = { constraints: parseConstraints(list) }
    } catch (err) {
      if (!(err instanceof ConstraintError)) throw err
      hit = { constraints: [], error: err.message }
    }
    if (cache.size >= 1000) cache.clear()
    cache.set(k, hit)
  }
  return hit
}
