import { DockerApiError } from './shape.ts'

/**
 * docker's `filters` query parameter (pure): a JSON map of key → values, sent either as `{"name":{"web":true}}`
 * (the docker CLI since 1.24) or `{"name":["web"]}` (older clients, Prometheus). Every key must be one the route
 * accepts, else 400 `invalid filter 'x'` as dockerd answers. Values of one key: any of them matches; label values
 * (`key` or `key=value`): all of them must match, as dockerd's MatchKVList.
 */
export type Filters = ReadonlyMap<string, readonly string[]>

export const NODE_FILTERS = ['id', 'name', 'role', 'membership', 'label', 'node.label'] as const
export const SERVICE_FILTERS = ['id', 'name', 'label', 'mode'] as const
export const TASK_FILTERS = ['id', 'name', 'service', 'node', 'desired-state', 'label'] as const
export const NETWORK_FILTERS = ['id', 'name', 'driver', 'scope', 'label', 'type'] as const
export const EVENT_FILTERS = ['type', 'event', 'scope', 'service', 'node', 'secret', 'config', 'network', 'label'] as const

/** The `filters` query value (absent or empty: no filter) → a map; a bad JSON or an unknown key is a 400. */
export function parseFilters(raw: unknown, accepted: readonly string[]): Filters {
  const out = new Map<string, string[]>()
  if (raw === undefined || raw === '') return out
  if (typeof raw !== 'string') throw new DockerApiError(400, 'invalid filter: filters must be one JSON value')
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new DockerApiError(400, `invalid filter: ${JSON.stringify(raw)} is not JSON`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DockerApiError(400, 'invalid filter: want a JSON object of key → values')
  for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!accepted.includes(key)) throw new DockerApiError(400, `invalid filter '${key}'`)
    const values = Array.isArray(v) ? v : v !== null && typeof v === 'object' ? Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] === true) : null
    if (!values || values.some((x) => typeof x !== 'string')) throw new DockerApiError(400, `invalid filter '${key}': want a list of strings`)
    if (values.length > 0) out.set(key, values as string[])
  }
  return out
}

/** True when `key` is not filtered on, or any of its values satisfies `test`. */
export function anyOf(f: Filters, key: string, test: (value: string) => boolean): boolean {
  const values = f.get(key)
  return values === undefined || values.some(test)
}

/** True when every `key` / `key=value` of the label filter `key` holds on `labels`. */
export function labelsMatch(f: Filters, key: string, labels: Readonly<Record<string, string>>): boolean {
  for (const spec of f.get(key) ?? []) {
    const i = spec.indexOf('=')
    const k = i < 0 ? spec : spec.slice(0, i)
    if (!Object.hasOwn(labels, k)) return false
    if (i >= 0 && labels[k] !== spec.slice(i + 1)) return false
  }
  return true
}

/** The values a filter key must be one of (dockerd: 400 `invalid filter 'role=x'`). */
export function checkValues(f: Filters, key: string, allowed: readonly string[]): void {
  for (const v of f.get(key) ?? []) if (!allowed.includes(v)) throw new DockerApiError(400, `invalid filter '${key}=${v}'`)
}
