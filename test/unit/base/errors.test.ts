import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { MeshError } from '../../../src/base/errors.ts'

/**
 * Every error class extends MeshError and has a code; no two classes share a code; every `MESH_ERR_*` the code
 * can produce is listed in docs/errors.md (and the doc lists nothing the code no longer has). Reads the sources
 * of whole folders, so files moving between folders need no change here.
 */

const ROOT = join(import.meta.dirname, '../../..')
const FOLDERS = ['src', 'agent', 'mesh']
const CODE = /MESH_ERR_[A-Z_]+/g
/** `class X extends Y {` up to the `}` that closes it at the start of a line. */
const CLASS = /^(?:export )?class (\w+) extends (\w+)\b[^{\n]*\{([\s\S]*?)^\}/gm
/** A constructor that takes the code as an argument: the class carries codes from the wire (HTTP API errors). */
const CARRIER = /constructor\([^)]*\bcode: (?:string|\w+Code)\b/

/**
 * Classes not yet converted, each with the engineer's move that converts it. A listed class that still breaks
 * the rules shows as a todo (not a pass); one that follows them is checked like any other.
 */
const PENDING: ReadonlyMap<string, string> = new Map([])

interface ErrorClass { name: string; parent: string; file: string; codes: string[]; carrier: boolean; hasConstructor: boolean }

function sources(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...sources(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

const files = FOLDERS.flatMap((f) => sources(join(ROOT, f))).map((p) => ({ path: relative(ROOT, p), text: readFileSync(p, 'utf8') }))
const classes = new Map<string, ErrorClass>()
const literals = new Map<string, string[]>()
for (const f of files) {
  for (const code of f.text.match(CODE) ?? []) literals.set(code, [...(literals.get(code) ?? []), f.path])
  for (const m of f.text.matchAll(CLASS)) {
    const [, name, parent, body] = m as unknown as [string, string, string, string]
    classes.set(name, {
      name, parent, file: f.path, codes: [...new Set(body.match(CODE) ?? [])], carrier: CARRIER.test(body), hasConstructor: /\bconstructor\(/.test(body),
    })
  }
}

/** The chain of superclass names up to a class not defined in our sources (Error, or a library class). */
function chain(c: ErrorClass): string[] {
  const names = [c.name]
  for (let p = classes.get(c.parent), parent = c.parent; ; p = classes.get(parent)) {
    names.push(parent)
    if (!p || names.length > 20) return names
    parent = p.parent
  }
}

const errorClasses = [...classes.values()].filter((c) => c.name !== 'MeshError' && chain(c).at(-1) === 'Error')
const docText = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8')
const documented = new Set([...docText.matchAll(/`(MESH_ERR_[A-Z_]+)`/g)].map((m) => m[1] as string))

/** A class's code: the literal in its body, or (no constructor of its own) its parent's. Null for a carrier. */
function codeOf(c: ErrorClass): string | null {
  if (c.codes.length > 0) return c.codes[0] as string
  const p = classes.get(c.parent)
  return !c.hasConstructor && p ? codeOf(p) : null
}

t.test('the scan sees the sources', async (t) => {
  t.ok(files.length > 100, `${files.length} source files`)
  t.ok(errorClasses.length >= 20, `${errorClasses.length} error classes`)
  t.ok(classes.get('ConfigError'), 'finds a class in src/base')
  t.equal(MeshError.name, 'MeshError')
})

t.test('every error class extends MeshError and has a code', async (t) => {
  for (const c of errorClasses) {
    const problems: string[] = []
    if (!chain(c).includes('MeshError')) problems.push(`extends ${c.parent}, not MeshError`)
    if (c.codes.length > 1) problems.push(`names ${c.codes.length} codes (${c.codes.join(', ')}); a class has one`)
    if (codeOf(c) === null && !c.carrier) problems.push('has no MESH_ERR_* code')
    const why = PENDING.get(c.name)
    if (problems.length > 0 && why) t.test(`${c.name} (${c.file})`, { todo: why }, async (t) => { t.same(problems, []) })
    else t.same(problems, [], `${c.name} (${c.file})`)
  }
})

t.test('no two error classes share a code', async (t) => {
  const owners = new Map<string, string[]>()
  for (const c of errorClasses) {
    if (c.codes.length === 0) continue // inherits its parent's code, or carries codes from the wire
    const code = c.codes[0] as string
    owners.set(code, [...(owners.get(code) ?? []), c.name])
  }
  for (const [code, names] of owners) t.equal(names.length, 1, `${code}: ${names.join(', ')}`)
})

t.test('every MESH_ERR_* in the code is in docs/errors.md, and the doc lists only those', async (t) => {
  t.ok(literals.size >= 20, `${literals.size} codes in the sources`)
  for (const [code, where] of literals) t.ok(documented.has(code), `${code} (${[...new Set(where)].join(', ')}) is in docs/errors.md`)
  for (const code of documented) t.ok(literals.has(code), `docs/errors.md: ${code} is still produced by the code`)
})

t.test('docs/errors.md lists each code in one row', async (t) => {
  const rows = new Map<string, number>()
  for (const line of docText.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1] ?? ''
    for (const m of first.matchAll(/`(MESH_ERR_[A-Z_]+)`/g)) rows.set(m[1] as string, (rows.get(m[1] as string) ?? 0) + 1)
  }
  t.ok(rows.size >= 20, `${rows.size} codes in the table`)
  for (const [code, n] of rows) if (n !== 1) t.fail(`${code} is in ${n} rows`)
  t.same([...rows.keys()].sort(), [...documented].sort(), 'every code the page names has a row')
})

t.test('the checks catch what they are for', async (t) => {
  const fake: ErrorClass = { name: 'X', parent: 'Error', file: 'x.ts', codes: [], carrier: false, hasConstructor: false }
  t.notOk(chain(fake).includes('MeshError'), 'a plain Error subclass is not a MeshError')
  t.equal(codeOf(fake), null, 'a class without a code literal or coded parent has none')
  const child: ErrorClass = { ...fake, name: 'Y', parent: 'GossipDecodeError' }
  t.equal(codeOf(child), 'MESH_ERR_GOSSIP_DECODE', 'a constructor-less subclass inherits its parent\'s code')
  t.ok(chain(child).includes('MeshError'))
  t.ok(CARRIER.test('constructor(status: number, code: string, message: string) {'), 'a wire-code carrier is recognised')
  t.notOk(documented.has('MESH_ERR_NO_SUCH_CODE'))
})
