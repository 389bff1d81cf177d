/** Compose's list_or_dict → a map (`- KEY=VALUE` / `KEY: VALUE`; a bare key is an empty value, as docker does for labels). */
export function labelMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (Array.isArray(v)) {
    for (const item of v as string[]) {
      const eq = item.indexOf('=')
      out[eq < 0 ? item : item.slice(0, eq)] = eq < 0 ? '' : item.slice(eq + 1)
    }
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out[k] = x === null || x === undefined ? '' : String(x)
  }
  return out
}
