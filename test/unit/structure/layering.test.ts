/**
 * The layering rules of docs/architecture.md, read from the sources' own import statements (a dependency-cruiser
 * config written as a tap test): which folder may import which, no cycles between folders, and other folders reach
 * a subsystem only through its index.ts. A failure names the file, the line and the rule.
 */
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

/** folder → the folders it may import (besides itself). `agent` is the wiring: it may import every src folder. */
const ALLOWED: Record<string, readonly string[]> = {
  'src/base': [],
  'src/api': ['src/base'],
  'src/pki': ['src/base'],
  'src/config': ['src/base', 'src/api'],
  'src/gossip': ['src/base', 'src/api', 'src/config'],
  'src/overlay': ['src/base', 'src/api', 'src/config', 'src/gossip'],
  'src/runtime': ['src/base', 'src/api', 'src/config'],
  'src/catalog': ['src/base', 'src/api', 'src/config'],
  'src/ingress': ['src/base', 'src/api', 'src/config', 'src/catalog'],
  'src/dns': ['src/base', 'src/api', 'src/config', 'src/catalog'],
  'src/worker': ['src/base', 'src/api', 'src/config', 'src/pki'],
  'src/stack': ['src/base', 'src/api', 'src/config'],
  'src/manager': ['src/base', 'src/api', 'src/config', 'src/pki'],
  agent: ['src/base', 'src/api', 'src/config', 'src/pki', 'src/gossip', 'src/overlay', 'src/runtime', 'src/catalog', 'src/ingress', 'src/dns', 'src/worker', 'src/stack', 'src/manager'],
  mesh: ['src/base', 'src/api', 'src/config', 'src/stack', 'src/pki'],
}
/** Single files allowed one more edge, with the reason. */
const FILE_EXCEPTIONS: Record<string, { to: string; why: string }> = {
  'mesh/agent.ts': { to: 'agent', why: '`mesh agent` starts the agent process' },
  'mesh/manager-backup.ts': { to: 'src/manager', why: '`mesh manager restore` writes a store offline (loaded only for that command)' },
}
/** Shared vocabulary folders: imported file by file (they have no internals to hide). */
const OPEN_FOLDERS = new Set(['src/base', 'src/api', 'src/config'])

function folderOf(rel: string): string | null {
  const parts = rel.split('/')
  if (parts[0] === 'src' && parts.length > 2) return `src/${parts[1]}`
  if (parts[0] === 'agent' || parts[0] === 'mesh') return parts[0]
  return null
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

interface Edge { file: string; line: number; from: string; to: string; target: string }

const IMPORT_RE = /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/
function edges(): Edge[] {
  const out: Edge[] = []
  for (const top of ['src', 'agent', 'mesh']) {
    for (const abs of walk(path.join(root, top))) {
      const file = path.relative(root, abs)
      const from = folderOf(file)
      if (!from) continue
      const lines = readFileSync(abs, 'utf8').split('\n')
      lines.forEach((text, i) => {
        const m = IMPORT_RE.exec(text)
        const spec = m?.[1] ?? m?.[2]
        if (!spec) return
        const target = path.relative(root, path.resolve(path.dirname(abs), spec))
        const to = folderOf(target)
        if (to && to !== from) out.push({ file, line: i + 1, from, to, target })
      })
    }
  }
  return out
}

const all = edges()

t.test('every source folder has a rule', async (t) => {
  const folders = new Set(all.flatMap((e) => [e.from, e.to]))
  for (const f of folders) t.ok(f in ALLOWED, `${f} is listed in ALLOWED`)
})

t.test('imports follow the allowed folder edges', async (t) => {
  const bad = all.filter((e) => !(ALLOWED[e.from] ?? []).includes(e.to) && FILE_EXCEPTIONS[e.file]?.to !== e.to)
  t.same(bad.map((e) => `${e.file}:${e.line}: ${e.from} must not import ${e.to} (${e.target})`), [])
})

t.test('other folders reach a subsystem only through its index.ts', async (t) => {
  const bad = all.filter((e) => !OPEN_FOLDERS.has(e.to) && e.to.startsWith('src/') && e.target !== `${e.to}/index.ts`)
  t.same(bad.map((e) => `${e.file}:${e.line}: imports ${e.target}, not ${e.to}/index.ts`), [])
})

t.test('no cycles between folders', async (t) => {
  const graph = new Map<string, Set<string>>()
  for (const e of all) {
    if (!graph.has(e.from)) graph.set(e.from, new Set())
    graph.get(e.from)!.add(e.to)
  }
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (n: string): void => {
    state.set(n, 'open')
    stack.push(n)
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m].join(' → '))
      else if (!state.has(m)) visit(m)
    }
    stack.pop()
    state.set(n, 'done')
  }
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n)
  t.same(cycles, [])
})

t.test('the rules themselves are acyclic and the checker sees real edges', async (t) => {
  // A checker that reads no imports would pass everything: make sure it found the wiring's edges.
  t.ok(all.some((e) => e.from === 'agent' && e.to === 'src/gossip'), 'agent → src/gossip is seen')
  t.ok(all.some((e) => e.from === 'mesh' && e.to === 'src/api'), 'mesh → src/api is seen')
  t.ok(IMPORT_RE.test(`import { x } from '../y.ts'`) && IMPORT_RE.test(`export * from './z.ts'`) && IMPORT_RE.test(`const m = await import('../q.ts')`))
})
