import { createRequire } from 'node:module'
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv'
import { parseDuration } from '../api/spec.ts'
import { StackFileError, formatPath } from './errors.ts'
import schemaV3 from './schema/config_schema_v3.13.json' with { type: 'json' }

/**
 * Validates one parsed (and interpolated) compose file against docker/cli's compose v3 schema (vendored in
 * ./schema, see its README) with ajv, and turns ajv's errors into one message that names the key path, choosing
 * the most specific error the way docker/cli does (the deepest path; a bad key or format before a type mismatch).
 */

/** Version field → accepted when it is 3 or 3.x (all checked against the newest 3.x schema, as docker does for "3"). */
function checkVersion(doc: Record<string, unknown>, file: string): void {
  if (!('version' in doc)) return
  const v = String(doc.version)
  if (!/^3(\.\d+)?$/.test(v)) {
    throw new StackFileError(file, 'version', `unsupported compose file version "${v}": mesh reads compose v3 files (version "3" or "3.x")`)
  }
}

/** docker/cli's `ports` format (nat.ParsePortSpec): `[[IP:]PUBLISHED:]TARGET[/PROTO]`, ports or ranges. */
export function isPortSpec(text: string): boolean {
  const slash = text.lastIndexOf('/')
  const proto = slash < 0 ? 'tcp' : text.slice(slash + 1)
  if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) return false
  const rest = slash < 0 ? text : text.slice(0, slash)
  const parts = rest.split(':')
  const range = /^\d+(-\d+)?$/
  const target = parts.pop() as string
  if (!range.test(target)) return false
  if (parts.length === 0) return true
  const published = parts.pop() as string
  if (published !== '' && !range.test(published)) return false
  return parts.length === 0 || parts.join(':') !== ''
}

function isDuration(text: string): boolean {
  try {
    parseDuration(text)
    return true
  } catch {
    return false
  }
}

/** The schema minus draft-04's `id` / `$schema`, which ajv 8 (draft-07) reads differently; nothing else changes. */
function draft07(node: unknown, underProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => draft07(n))
  if (node === null || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) {
    if (!underProperties && (k === 'id' || k === '$schema') && typeof v === 'string') continue
    out[k] = draft07(v, !underProperties && (k === 'properties' || k === 'patternProperties'))
  }
  return out
}

let schema: Record<string, unknown> | undefined
let compiled: ValidateFunction | undefined
function validator(): ValidateFunction {
  if (!compiled) {
    schema = draft07(schemaV3) as Record<string, unknown>
    // ajv is loaded on the first validation, not with the module: every `mesh` command imports src/stack, few read
    // a compose file, and loading ajv is a tenth of a second of a command's start.
    const { Ajv } = createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvClass }
    const ajv = new Ajv({
      allErrors: true, strict: false, verbose: true,
      formats: {
        ports: { type: 'string', validate: isPortSpec },
        duration: { type: 'string', validate: isDuration },
        expose: { type: 'string', validate: (s: string) => /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(s) },
      },
    })
    compiled = ajv.compile(schema)
  }
  return compiled
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'a boolean', null: 'null',
}

function typeNames(types: string[]): string {
  const names = [...new Set(types.flatMap((t) => t.split(',')))].filter((t) => t !== 'null').map((t) => TYPE_NAMES[t] ?? t)
  return names.length <= 1 ? (names[0] ?? 'null') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`
}

/** Path segments of an ajv instancePath, with array indexes as numbers (so they print as `[0]`). */
function segments(instancePath: string, doc: unknown): (string | number)[] {
  const out: (string | number)[] = []
  let cur: unknown = doc
  for (const raw of instancePath.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(cur)) {
      out.push(Number(key))
      cur = cur[Number(key)]
    } else {
      out.push(key)
      cur = (cur as Record<string, unknown> | undefined)?.[key]
    }
  }
  return out
}

type SchemaNode = {
  properties?: Record<string, SchemaNode>
  patternProperties?: Record<string, SchemaNode>
  items?: SchemaNode
  $ref?: string
  oneOf?: SchemaNode[]
}

/** A node with its `$ref` followed and its `oneOf` alternatives spread. */
function expand(n: SchemaNode | undefined): SchemaNode[] {
  if (!n) return []
  if (n.$ref) {
    let cur: unknown = schema
    for (const raw of n.$ref.replace(/^#\/?/, '').split('/').filter((x) => x !== '')) cur = (cur as Record<string, unknown> | undefined)?.[raw]
    return expand(cur as SchemaNode | undefined)
  }
  return [n, ...(n.oneOf ?? []).flatMap(expand)]
}

/** The object schemas that may stand at a key path. */
function schemasAt(segs: readonly (string | number)[]): SchemaNode[] {
  let nodes = expand(schema as SchemaNode)
  for (const seg of segs) {
    nodes = nodes.flatMap((n) => {
      if (typeof seg === 'number') return expand(n.items)
      const direct = n.properties?.[seg]
      if (direct) return expand(direct)
      return Object.entries(n.patternProperties ?? {}).filter(([re]) => new RegExp(re).test(seg)).flatMap(([, v]) => expand(v))
    })
  }
  return nodes.filter((n) => n.properties)
}

/**
 * For a key that is not allowed where it stands: the place one level up or down where the schema allows it
 * (`deploy.resources.replicas` → `deploy.replicas`, `web.replicas` → `web.deploy.replicas`), the usual slips.
 */
function misplacedHint(segs: readonly (string | number)[], key: string): string {
  const container = segs.slice(0, -1)
  if (container.length >= 2 && typeof container[container.length - 1] === 'string') {
    const up = container.slice(0, -1)
    if (schemasAt(up).some((n) => n.properties && key in n.properties && n.properties[key])) return `; did you mean ${formatPath([...up, key])}?`
  }
  for (const n of schemasAt(container)) {
    for (const child of Object.keys(n.properties ?? {})) {
      if (schemasAt([...container, child]).some((c) => c.properties && key in c.properties)) return `; did you mean ${formatPath([...container, child, key])}?`
    }
  }
  return ''
}

const RANK: Record<string, number> = { additionalProperties: 0, required: 1, format: 2, enum: 3, uniqueItems: 4, minimum: 5, type: 6 }

function show(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v)
}

function explain(e: ErrorObject, sameSite: ErrorObject[], segs: (string | number)[]): string {
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'additionalProperties': {
      const props = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {})
      if (props.length === 0) return `invalid name "${String(p.additionalProperty)}": use letters, digits, '.', '_' or '-'`
      const where = e.instancePath === '' ? 'at the top level' : 'here'
      const allowed = props.length <= 12 ? ` (allowed: ${props.join(', ')}${e.instancePath === '' ? ', x-*' : ''})` : ''
      return `key not allowed ${where}${allowed}${misplacedHint(segs, String(p.additionalProperty))}`
    }
    case 'required': return `missing required key "${String(p.missingProperty)}"`
    case 'format':
      if (p.format === 'ports') return `invalid port ${show(e.data)}: want [PUBLISHED:]TARGET[/tcp|udp], e.g. "8080:80"`
      if (p.format === 'duration') return `invalid duration ${show(e.data)}: want e.g. 5s, 1m30s or 200ms`
      return `invalid ${String(p.format)} ${show(e.data)}`
    case 'enum': return `must be one of ${(p.allowedValues as unknown[]).join(', ')}, not ${show(e.data)}`
    case 'uniqueItems': return `items ${String(p.j)} and ${String(p.i)} are the same`
    case 'minimum': return `must be ≥ ${String(p.limit)}`
    case 'type': {
      const types = sameSite.filter((x) => x.keyword === 'type').map((x) => String((x.params as { type: unknown }).type))
      const quote = types.includes('string') && (typeof e.data === 'number' || typeof e.data === 'boolean') ? `; quote it: "${String(e.data)}"` : ''
      return `must be ${typeNames(types)}, not ${Array.isArray(e.data) ? 'a list' : e.data === null ? 'empty' : typeof e.data === 'object' ? 'a mapping' : show(e.data)}${quote}`
    }
    default: return `does not match the compose v3 schema (${e.message ?? e.keyword})`
  }
}

/** Throws StackFileError for the most specific schema violation of `doc` (a parsed compose file). */
export function validateComposeFile(doc: unknown, file: string): void {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new StackFileError(file, '', 'the top level must be a mapping (services:, networks:, volumes:)')
  checkVersion(doc as Record<string, unknown>, file)
  const validate = validator()
  if (validate(doc)) return
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if')
  const all = errors.length > 0 ? errors : (validate.errors ?? [])
  const site = (e: ErrorObject) => {
    const segs = segments(e.instancePath, doc)
    if (e.keyword === 'additionalProperties') segs.push(String((e.params as { additionalProperty: string }).additionalProperty))
    return segs
  }
  const scored = all.map((e, i) => ({ e, i, segs: site(e) }))
  scored.sort((a, b) => b.segs.length - a.segs.length || (RANK[a.e.keyword] ?? 9) - (RANK[b.e.keyword] ?? 9) || a.i - b.i)
  const best = scored[0]
  if (!best) throw new StackFileError(file, '', 'does not match the compose v3 schema')
  const sameSite = all.filter((e) => e.instancePath === best.e.instancePath)
  throw new StackFileError(file, formatPath(best.segs), explain(best.e, sameSite, best.segs))
}
