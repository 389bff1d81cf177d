import { StackFileError, formatPath, type KeyPath } from './errors.ts'

/**
 * Variable substitution in compose values, as docker/cli does it (pure): `$VAR`, `${VAR}`, `${VAR:-default}`
 * (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (required), `$$` for a literal
 * `$`. Keys are never substituted. An unset variable without a default becomes "" and a warning. Values at the
 * paths docker/cli casts (replicas, ports[].published, …) are turned into numbers and booleans afterwards, so
 * `replicas: ${REPLICAS:-5}` validates as an integer.
 */

export type Env = Readonly<Record<string, string | undefined>>

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/

/** Substitutes one string; `unset` collects variables that were used but not set. */
export function substitute(text: string, env: Env, unset: Set<string>, where: () => string): string {
  if (!text.includes('$')) return text
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i] as string
    if (c !== '$') {
      out += c
      i++
      continue
    }
    const next = text[i + 1]
    if (next === '$') {
      out += '$'
      i += 2
      continue
    }
    if (next === '{') {
      const end = text.indexOf('}', i + 2)
      if (end < 0) throw new Error(`invalid interpolation "${text}": "\${" without a closing "}"`)
      out += braced(text.slice(i + 2, end), text, env, unset, where)
      i = end + 1
      continue
    }
    const m = NAME.exec(text.slice(i + 1))
    if (!m) throw new Error(`invalid interpolation "${text}": "$" must be followed by a name, "{" or "$" (write $$ for a literal $)`)
    out += lookup(m[0], env, unset)
    i += 1 + m[0].length
  }
  return out
}

function lookup(name: string, env: Env, unset: Set<string>): string {
  const v = env[name]
  if (v === undefined) {
    unset.add(name)
    return ''
  }
  return v
}

function braced(inner: string, text: string, env: Env, unset: Set<string>, where: () => string): string {
  const m = /^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?)([-?])(.*))?$/s.exec(inner)
  if (!m) throw new Error(`invalid interpolation "${text}": "\${${inner}}" is not \${VAR}, \${VAR:-default} or \${VAR:?message}`)
  const name = m[1] as string
  const v = env[name]
  if (m[3] === undefined) return lookup(name, env, unset)
  const missing = v === undefined || (m[2] === ':' && v === '')
  if (!missing) return v as string
  const arg = m[4] as string
  if (m[3] === '-') return arg
  throw new Error(`required variable ${name} is ${v === undefined ? 'not set' : 'empty'}${arg ? `: ${arg}` : ''} (at ${where()})`)
}

type Cast = 'int' | 'float' | 'bool'

/** docker/cli's interpolateTypeCastMapping; `*` matches any key or index. */
const CASTS: [string[], Cast][] = [
  [['services', '*', 'configs', '*', 'mode'], 'int'],
  [['services', '*', 'secrets', '*', 'mode'], 'int'],
  [['services', '*', 'healthcheck', 'retries'], 'int'],
  [['services', '*', 'healthcheck', 'disable'], 'bool'],
  [['services', '*', 'deploy', 'replicas'], 'int'],
  [['services', '*', 'deploy', 'update_config', 'parallelism'], 'int'],
  [['services', '*', 'deploy', 'update_config', 'max_failure_ratio'], 'float'],
  [['services', '*', 'deploy', 'rollback_config', 'parallelism'], 'int'],
  [['services', '*', 'deploy', 'rollback_config', 'max_failure_ratio'], 'float'],
  [['services', '*', 'deploy', 'restart_policy', 'max_attempts'], 'int'],
  [['services', '*', 'deploy', 'placement', 'max_replicas_per_node'], 'int'],
  [['services', '*', 'ports', '*', 'target'], 'int'],
  [['services', '*', 'ports', '*', 'published'], 'int'],
  [['services', '*', 'ulimits', '*'], 'int'],
  [['services', '*', 'ulimits', '*', 'hard'], 'int'],
  [['services', '*', 'ulimits', '*', 'soft'], 'int'],
  [['services', '*', 'privileged'], 'bool'],
  [['services', '*', 'oom_score_adj'], 'int'],
  [['services', '*', 'read_only'], 'bool'],
  [['services', '*', 'stdin_open'], 'bool'],
  [['services', '*', 'tty'], 'bool'],
  [['services', '*', 'volumes', '*', 'read_only'], 'bool'],
  [['services', '*', 'volumes', '*', 'volume', 'nocopy'], 'bool'],
  [['networks', '*', 'external'], 'bool'],
  [['networks', '*', 'internal'], 'bool'],
  [['networks', '*', 'attachable'], 'bool'],
  [['volumes', '*', 'external'], 'bool'],
  [['secrets', '*', 'external'], 'bool'],
  [['configs', '*', 'external'], 'bool'],
]

function castFor(path: KeyPath): Cast | undefined {
  for (const [pattern, cast] of CASTS) {
    if (pattern.length === path.length && pattern.every((p, i) => p === '*' || p === path[i])) return cast
  }
  return undefined
}

function cast(value: string, kind: Cast): number | boolean | undefined {
  const s = value.trim()
  if (kind === 'int') return /^[-+]?\d+$/.test(s) ? Number(s) : undefined
  if (kind === 'float') return s !== '' && Number.isFinite(Number(s)) ? Number(s) : undefined
  const l = s.toLowerCase()
  if (['y', 'yes', 'true', 'on'].includes(l)) return true
  if (['n', 'no', 'false', 'off'].includes(l)) return false
  return undefined
}

const KIND: Record<Cast, string> = { int: 'an integer', float: 'a number', bool: 'a boolean (true or false)' }

/**
 * Substitutes every string value of a parsed compose file (a fresh copy; the input is not changed).
 * Throws StackFileError naming the file and key path; returns the variables that were not set.
 */
export function interpolateFile(doc: unknown, env: Env, file: string): { value: unknown; unset: string[] } {
  const unset = new Set<string>()
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === 'string') {
      let s: string
      try {
        s = substitute(v, env, unset, () => formatPath(path))
      } catch (err) {
        throw new StackFileError(file, formatPath(path), (err as Error).message)
      }
      const kind = castFor(path)
      if (kind === undefined) return s
      const c = cast(s, kind)
      if (c === undefined) throw new StackFileError(file, formatPath(path), `must be ${KIND[kind]}, not "${s}"`)
      return c
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]))
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, [...path, k])
      return out
    }
    return v
  }
  const value = walk(doc, [])
  return { value, unset: [...unset].sort() }
}
