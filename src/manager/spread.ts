/**
 * Placement preferences (pure): swarmkit's `spread` over node labels. The nodes a task may go to are grouped by the
 * value of the first preference's label (nodes without the label form one more group), each group by the second
 * preference's label, and so on: a tree. A task goes to the group with the fewest tasks of its service at the first
 * level, then, inside it, at the next level; within the last group the scheduler's usual spread (fewest tasks of the
 * service on the node, then fewest overall, …) picks the node. Placing one task at a time and counting each
 * assignment gives swarmkit's even split: zone a with 1 node and zone b with 3 nodes get 2 + 2 of 4 replicas.
 *
 * Only the nodes that pass the filters count (swarmkit builds the tree from them): tasks on a node the service may
 * no longer use do not weigh on its group.
 */
import type { NodeLoad } from './placement.ts'
import type { NodeRecord, PlacementPreference } from '../api/types.ts'

const LABEL_PREFIX = 'node.labels.'
/** The group of nodes without the label (a label value is any string, so this cannot collide with one). */
const MISSING = '\u0000'

/** The label keys to spread over, in order: `[{spread: 'node.labels.zone'}]` → `['zone']`. Validation made them well-formed. */
export function spreadLabels(prefs: readonly PlacementPreference[] | undefined): string[] {
  return (prefs ?? []).filter((p) => p.spread.startsWith(LABEL_PREFIX)).map((p) => p.spread.slice(LABEL_PREFIX.length))
}

/** The node's branch in the tree: one path prefix per level (`a`, `a\u0001rack1`). */
function branch(node: NodeRecord, labels: readonly string[]): string[] {
  const out: string[] = []
  let path = ''
  for (const l of labels) {
    path += `${path === '' ? '' : '\u0001'}${node.labels[l] ?? MISSING}`
    out.push(path)
  }
  return out
}

/**
 * Per level, the live tasks of the service in each candidate node's group, from the current loads. Call it again
 * after an assignment (loads change). Empty arrays when the service has no preferences.
 */
export function spreadCounts(labels: readonly string[], nodes: readonly NodeRecord[], loads: Map<string, NodeLoad>, serviceId: string): Map<string, number[]> {
  const out = new Map<string, number[]>()
  if (labels.length === 0) {
    for (const n of nodes) out.set(n.id, [])
    return out
  }
  const inGroup = new Map<string, number>()
  const branches = new Map<string, string[]>()
  for (const n of nodes) {
    const b = branch(n, labels)
    branches.set(n.id, b)
    const mine = loads.get(n.id)?.byService.get(serviceId) ?? 0
    for (const path of b) inGroup.set(path, (inGroup.get(path) ?? 0) + mine)
  }
  for (const [id, b] of branches) out.set(id, b.map((path) => inGroup.get(path) ?? 0))
  return out
}

/** Compares two nodes' group counts level by level: < 0 when `a`'s groups hold fewer tasks. */
export function compareSpread(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return 0
}
