/**
 * Shell-like word splitting for compose `command: redis-server --appendonly yes` / `entrypoint:` strings and
 * `mesh service create --entrypoint "sh -c …"`, as docker/cli does (go-shellwords, shlex): spaces separate words; '…' keeps everything literal; "…" and a backslash escape. No
 * variables, globs or operators: those need `sh -c` (write `command: ["sh", "-c", "…"]`).
 */
export function splitWords(text: string): string[] {
  const words: string[] = []
  let cur = ''
  let inWord = false
  let quote: '"' | "'" | null = null
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (quote === "'") {
      if (c === "'") quote = null
      else cur += c
      continue
    }
    if (c === '\\' && i + 1 < text.length) {
      const n = text[i + 1] as string
      inWord = true
      if (quote === '"' && !['"', '\\', '$', '`', '\n'].includes(n)) {
        cur += c
        continue
      }
      i++
      if (n !== '\n') cur += n
      continue
    }
    if (quote === '"') {
      if (c === '"') quote = null
      else cur += c
      continue
    }
    if (c === '"' || c === "'") {
      quote = c
      inWord = true
      continue
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(cur)
      cur = ''
      inWord = false
      continue
    }
    cur += c
    inWord = true
  }
  if (quote !== null) throw new Error(`unclosed ${quote} quote in "${text}"`)
  if (inWord) words.push(cur)
  return words
}
