/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every line must be a
 * `# HELP`, a `# TYPE`, a comment or a sample; every sample must belong to a family with a TYPE declared before it;
 * label values are unescaped; values are floats (NaN, +Inf, -Inf in any case, as Go's ParseFloat). Throws naming the line otherwise.
 */
export interface PromSample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface PromText {
  types: Map<string, string>
  help: Map<string, string>
  samples: PromSample[]
  /** The value of `name` whose labels include `labels` (the first match), or undefined. */
  get(name: string, labels?: Record<string, string>): number | undefined
  /** Sum over every sample of `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const SUFFIXES = ['_total', '_bucket', '_sum', '_count', '_created', '_info']

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(s: string, line: string): number {
  const l = s.toLowerCase()
  if (l === 'nan') return NaN
  if (l === '+inf' || l === 'inf' || l === '+infinity' || l === 'infinity') return Infinity
  if (l === '-inf' || l === '-infinity') return -Infinity
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`prom: bad value "${s}" in: ${line}`)
  return Number(s)
}

function parseLabels(s: string, line: string): Record<string, string> {
  const out: Record<string, string> = {}
  const re = new RegExp(`\\s*(${NAME})="((?:[^"\\\\]|\\\\.)*)"\\s*(,|$)`, 'y')
  let i = 0
  while (i < s.length) {
    re.lastIndex = i
    const m = re.exec(s)
    if (!m) throw new Error(`prom: bad labels "${s}" in: ${line}`)
    out[m[1] as string] = (m[2] as string).replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c))
    i = re.lastIndex
  }
  return out
}

export function parsePromText(text: string): PromText {
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const samples: PromSample[] = []
  const sampleRe = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+(-?\\d+))?$`)
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) ?(.*)$`).exec(line)
      if (!m) continue // a plain comment
      if (m[1] === 'TYPE') {
        if (!TYPES.has(m[3] as string)) throw new Error(`prom: unknown type in: ${line}`)
        if (types.has(m[2] as string)) throw new Error(`prom: TYPE declared twice in: ${line}`)
        types.set(m[2] as string, m[3] as string)
      } else help.set(m[2] as string, m[3] as string)
      continue
    }
    const m = sampleRe.exec(line)
    if (!m) throw new Error(`prom: not a sample: ${line}`)
    const name = m[1] as string
    const family = types.has(name) ? name : SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((f) => f && types.has(f))
    if (!family) throw new Error(`prom: sample without a TYPE: ${line}`)
    samples.push({ name, labels: m[2] ? parseLabels(m[2], line) : {}, value: parseValue(m[3] as string, line) })
  }
  const matching = (name: string, labels: Record<string, string>) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return {
    types, help, samples,
    get: (name, labels = {}) => matching(name, labels)[0]?.value,
    sum: (name, labels = {}) => matching(name, labels).reduce((a, s) => a + s.value, 0),
  }
}
