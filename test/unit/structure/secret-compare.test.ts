/**
 * Secrets are compared in constant time (docs/security.md, "Manager API"): no token, credential or cookie in src/,
 * agent/ or mesh/ is compared with `===` / `!==` (which returns at the first differing byte); `sameSecret` from
 * src/base is the one comparison. Checks against '' / undefined / typeof are not comparisons of secrets.
 */
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { sameSecret } from '../../../src/base/secret.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

const SECRET = /(token|credential|cookie|secret)/i
const COMPARE = /([\w.$`{}()[\]'"]+)\s*[!=]==\s*([\w.$`{}()[\]'"]+)/g
const HARMLESS = /^(''|""|undefined|null|true|false|\d+|'[\w -]*')$/
/** Names that look like secrets and are not: file → why. */
const NOT_SECRETS: Record<string, string> = {
  'src/worker/link.ts': '`token` is the identity object of a watch attempt, not a credential',
}

t.test('no secret is compared with === or !==', async (t) => {
  const found: string[] = []
  for (const dir of ['src', 'agent', 'mesh']) {
    for (const file of files(path.join(root, dir))) {
      if (NOT_SECRETS[path.relative(root, file)]) continue
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/^\s*(\/\/|\*)/.test(line)) return
        for (const m of line.matchAll(COMPARE)) {
          const [a, b] = [(m[1] as string).replace(/^\(+|\)+$/g, ''), (m[2] as string).replace(/^\(+|\)+$/g, '')]
          if (HARMLESS.test(a) || HARMLESS.test(b) || /typeof\s*$/.test(line.slice(0, m.index))) continue
          if (SECRET.test(a) || SECRET.test(b)) found.push(`${path.relative(root, file)}:${i + 1}: ${line.trim()}`)
        }
      })
    }
  }
  t.same(found, [], 'compare secrets with sameSecret (src/base/secret.ts)')
})

t.test('sameSecret', async (t) => {
  const cases = [
    { desc: 'equal', a: 'MESHTKN-1-abc', b: 'MESHTKN-1-abc', want: true },
    { desc: 'differs in the last byte', a: 'MESHTKN-1-abc', b: 'MESHTKN-1-abd', want: false },
    { desc: 'a prefix of the secret', a: 'MESHTKN-1-ab', b: 'MESHTKN-1-abc', want: false },
    { desc: 'longer than the secret', a: 'MESHTKN-1-abcd', b: 'MESHTKN-1-abc', want: false },
    { desc: 'empty expected secret matches nothing', a: '', b: '', want: false },
  ]
  for (const c of cases) t.equal(sameSecret(c.a, c.b), c.want, c.desc)
})
