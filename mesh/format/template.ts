import { ConfigError } from '../../src/base/errors.ts'

/**
 * The Go-template subset `--format` takes (docker's `--format '{{.ID}}\t{{.Name}}'`), pure:
 *   literal text, `\t` and `\n` escapes,
 *   `{{.Field}}` and nested `{{.Spec.Name}}` (looked up exactly, then case-insensitively, so docker's `.Spec.Name`
 *   finds mesh's `spec.name`), `{{.}}` (the whole object),
 *   `{{json .X}}`, `{{upper .X}}`, `{{lower .X}}`, `{{title .X}}`.
 * An unknown field is an error naming it and the fields there are (docker prints `<no value>`; a typo in a script
 * should fail loudly, not print blanks).
 */

type Part = { text: string } | { fn: 'print' | 'json' | 'upper' | 'lower' | 'title'; path: string[]; source: string }

export interface Template {
  /** The field paths the template reads, in order (`table` headers come from them). */
  readonly fields: readonly string[]
  render(value: unknown): string
}

const FUNCS = new Set(['json', 'upper', 'lower', 'title'])

/** `\t` and `\n` as typed on a command line become a tab and a newline. */
export function unescapeFormat(text: string): string {
  return text.replace(/\\t/g, '\t').replace(/\\n/g, '\n')
}

export function parseTemplate(format: string): Template {
  const text = unescapeFormat(format)
  const parts: Part[] = []
  let i = 0
  while (i < text.length) {
    const open = text.indexOf('{{', i)
    if (open < 0) {
      parts.push({ text: text.slice(i) })
      break
    }
    if (open > i) parts.push({ text: text.slice(i, open) })
    const close = text.indexOf('}}', open + 2)
    if (close < 0) throw new ConfigError(`format "${format}": unclosed {{`)
    parts.push(action(text.slice(open + 2, close).replace(/^-\s|\s-$/g, '').trim(), format))
    i = close + 2
  }
  const fields = parts.flatMap((p) => ('path' in p ? [p.path.join('.')] : []))
  return {
    fields,
    render: (value) => parts.map((p) => ('text' in p ? p.text : apply(p, value, format))).join(''),
  }
}

function action(body: string, format: string): Part {
  const words = body.split(/\s+/).filter(Boolean)
  const [first, second] = words
  if (words.length === 1 && first?.startsWith('.')) return { fn: 'print', path: pathOf(first, format), source: first }
  if (words.length === 2 && first && FUNCS.has(first) && second?.startsWith('.')) {
    return { fn: first as 'json' | 'upper' | 'lower' | 'title', path: pathOf(second, format), source: second }
  }
  throw new ConfigError(`format "${format}": cannot read {{${body}}}: want {{.Field}}, {{.A.B}}, {{json .X}}, {{upper .X}} or {{lower .X}}`)
}

function pathOf(ref: string, format: string): string[] {
  if (ref === '.') return []
  const path = ref.slice(1).split('.')
  if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p))) throw new ConfigError(`format "${format}": "${ref}" is not a field reference`)
  return path
}

/** The value at `path`: each key exactly, else the one key that matches case-insensitively. */
export function lookupField(value: unknown, path: readonly string[], format = ''): unknown {
  let cur = value
  for (let i = 0; i < path.length; i++) {
    const key = path[i] as string
    const ref = `.${path.slice(0, i + 1).join('.')}`
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) {
      throw new ConfigError(`format "${format}": ${ref}: .${path.slice(0, i).join('.')} has no fields`)
    }
    const obj = cur as Record<string, unknown>
    if (key in obj) {
      cur = obj[key]
      continue
    }
    const found = Object.keys(obj).find((k) => k.toLowerCase() === key.toLowerCase())
    if (found === undefined) {
      throw new ConfigError(`format "${format}": no field ${ref} (fields here: ${Object.keys(obj).join(', ') || 'none'})`)
    }
    cur = obj[found]
  }
  return cur
}

function apply(p: Extract<Part, { fn: string }>, value: unknown, format: string): string {
  const v = lookupField(value, p.path, format)
  if (p.fn === 'json') return JSON.stringify(v ?? null)
  const s = show(v)
  if (p.fn === 'upper') return s.toUpperCase()
  if (p.fn === 'lower') return s.toLowerCase()
  if (p.fn === 'title') return s.replace(/\b\w/g, (c) => c.toUpperCase())
  return s
}

/** Strings as they are, numbers and booleans as text, nothing as empty, objects and arrays as JSON. */
function show(v: unknown): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

/** The table header for a field path, as docker's formatter names columns: `.ID` → ID, `.DesiredState` → DESIRED STATE. */
export function headerOf(path: string): string {
  const last = path.split('.').pop() ?? path
  return last.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toUpperCase()
}
