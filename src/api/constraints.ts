/**
 * Placement constraint syntax (pure): `node.role == manager`, `node.hostname != n2`, `node.id == abc`,
 * `node.labels.zone == a`. Swarm's syntax: `<field> == <value>` or `<field> != <value>`, spaces optional; field
 * names are case-insensitive, label keys are not; values compare case-insensitively (as swarmkit does). A
 * `node.labels.K != v` constraint is met by a node without the label K.
 *
 * Every path that takes a spec (the API, the CLI, the stack loader) validates constraints here
 * (`validateConstraints`, through validateServiceSpec); the manager matches the parsed form against nodes
 * (src/manager/constraints.ts).
 */
import { ConstraintError } from './errors.ts'

export type ConstraintField = 'node.id' | 'node.hostname' | 'node.role' | 'node.labels'

export interface Constraint {
  /** The text as written (trimmed), for error messages. */
  text: string
  field: ConstraintField
  /** For `node.labels.<key>`: the key, case kept. */
  label?: string
  op: '==' | '!='
  value: string
  /** Normalised form without spaces, used in explanations: `node.role==manager`. */
  key: string
}

const USE = 'use node.id, node.hostname, node.role or node.labels.<key>'
const LABELS = 'node.labels.'

/** Parses one constraint; throws a ConstraintError naming the constraint and the fix. */
export function parseConstraint(text: string): Constraint {
  const t = text.trim()
  const fail = (why: string): never => {
    throw new ConstraintError(`constraint "${t}": ${why}`)
  }
  const m = /^([^\s=!]+)\s*(==|!=)\s*(.*)$/.exec(t)
  if (!m) return fail('expected <field> == <value> or <field> != <value>, e.g. node.role == manager')
  const rawField = m[1] as string
  const op = m[2] as '==' | '!='
  const value = (m[3] as string).trim()
  if (value === '') fail('missing value after ' + op)
  if (/[=!]=/.test(value)) fail('more than one operator; write one <field> == <value> per constraint')
  const lower = rawField.toLowerCase()
  let field: ConstraintField
  let label: string | undefined
  if (lower === 'node.id' || lower === 'node.hostname' || lower === 'node.role') {
    field = lower
  } else if (lower.startsWith(LABELS)) {
    field = 'node.labels'
    label = rawField.slice(LABELS.length)
    if (label === '') fail(`missing label key; ${USE}`)
  } else if (lower === 'node.labels') {
    return fail(`missing label key; use node.labels.<key>`)
  } else if (lower.startsWith('engine.labels')) {
    return fail(`engine labels are not supported (mesh nodes have no engine labels); use node.labels.<key>`)
  } else {
    return fail(`unknown field ${rawField}; ${USE}`)
  }
  if (field === 'node.role' && !['manager', 'worker'].includes(value.toLowerCase())) {
    fail(`node.role must be manager or worker, not "${value}"`)
  }
  const name = label === undefined ? field : `${LABELS}${label}`
  return { text: t, field, ...(label === undefined ? {} : { label }), op, value, key: `${name}${op}${value}` }
}

/** Parses a list; throws on the first bad one. */
export function parseConstraints(list: readonly string[]): Constraint[] {
  return list.map(parseConstraint)
}

/** Every problem of a list of constraints, as messages (empty = all good). For the API before it stores a spec. */
export function validateConstraints(list: readonly string[]): string[] {
  const problems: string[] = []
  for (const c of list) {
    try {
      parseConstraint(c)
    } catch (err) {
      if (!(err instanceof ConstraintError)) throw err
      problems.push(err.message)
    }
  }
  return problems
}
