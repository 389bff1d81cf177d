import { ConfigError } from '../../src/base/errors.ts'

/**
 * `--filter KEY=VALUE` as docker reads it, pure: repeat a key for "any of" (OR), combine keys for "all of" (AND).
 * An unknown key is `invalid filter 'foo'` and a value without `=` is `bad format of filter (expected name=value)`,
 * docker's wording.
 */

/** Each filter key's test of one item against one value. */
export type Matchers<T> = Readonly<Record<string, (item: T, value: string) => boolean>>

/**
 * `keys`: the keys the list takes; `values`: for keys with a closed set of values, that set (compared
 * case-insensitively), so a typo is an error even when the list is empty.
 */
export function parseFilters(args: readonly string[], keys: readonly string[], values: Readonly<Record<string, readonly string[]>> = {}): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const a of args) {
    const i = a.indexOf('=')
    if (i <= 0) throw new ConfigError(`bad format of filter '${a}' (expected name=value)`)
    const key = a.slice(0, i).trim().toLowerCase()
    if (!keys.includes(key)) throw new ConfigError(`invalid filter '${key}'${keys.length ? ` (filters: ${keys.join(', ')})` : ': this command takes no filter'}`)
    const value = a.slice(i + 1)
    const allowed = values[key]
    if (allowed && !allowed.includes(value.toLowerCase())) throw new ConfigError(`invalid filter '${key}=${value}': want ${allowed.join(', ')}`)
    out.set(key, [...(out.get(key) ?? []), value])
  }
  return out
}

export function applyFilters<T>(items: readonly T[], filters: ReadonlyMap<string, readonly string[]>, matchers: Matchers<T>): T[] {
  return items.filter((item) => [...filters].every(([key, values]) => values.some((v) => (matchers[key] as (i: T, v: string) => boolean)(item, v))))
}

// ---- docker's matching rules, shared by the lists ----------------------------------------------------------

/** `id=`: a prefix of the full id. */
export const idPrefix = (id: string, v: string): boolean => id.startsWith(v)

/** `label=KEY` (the label is set) or `label=KEY=VALUE` (set to that value). */
export function labelMatches(labels: Readonly<Record<string, string>> | undefined, v: string): boolean {
  const i = v.indexOf('=')
  const key = i < 0 ? v : v.slice(0, i)
  if (!labels || !(key in labels)) return false
  return i < 0 || labels[key] === v.slice(i + 1)
}

/** Task `desired-state=running|shutdown|accepted` (accepted: docker's name for a task not yet running; none in mesh). */
export function desiredStateMatches(desired: string, v: string): boolean {
  const want = v.toLowerCase()
  if (want === 'shutdown') return desired === 'shutdown' || desired === 'remove'
  return desired === want
}
