/**
 * The `mesh` command tree as a whole: every command has a description, bare command groups and `mesh help X Y`
 * print help on stdout with exit 0 (docker's behaviour), docs/cli.md names every command and long flag, and the
 * bash completion generated from the tree completes commands and subcommands (run through a real bash).
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { buildProgram, helpAsFlag, main } from '../../../mesh/main.ts'
import { bashCompletion, commandTable, zshCompletion } from '../../../mesh/completion.ts'
import { REPO_ROOT } from '../../support/procs.ts'

function walk(c: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return c.commands.flatMap((s) => [{ path: [...path, s.name()], cmd: s }, ...walk(s, [...path, s.name()])])
}
const all = walk(buildProgram())

t.test('every command and subcommand has a description', async (t) => {
  const missing = all.filter((c) => c.cmd.description().trim() === '').map((c) => `mesh ${c.path.join(' ')}`)
  t.same(missing, [], 'commands without a description')
  t.ok(all.length > 40, `${all.length} commands walked`)
})

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) })
  return { code, out, err }
}

t.test('bare command groups print their help on stdout and exit 0', async (t) => {
  const groups = [[], ...all.filter((c) => c.cmd.commands.length > 0).map((c) => c.path)]
  t.ok(groups.some((g) => g.join(' ') === 'service') && groups.some((g) => g.join(' ') === 'node'))
  for (const g of groups) {
    const r = await run(g)
    t.equal(r.code, 0, `mesh ${g.join(' ')}: exit 0`)
    t.match(r.out, new RegExp(`^Usage: mesh${g.length ? ` ${g.join(' ')}` : ''} \\[options\\] \\[command\\]`), `mesh ${g.join(' ')}: its usage on stdout`)
    t.equal(r.err, '', 'nothing on stderr')
  }
})

t.test('mesh help X Y shows the help of X Y', async (t) => {
  t.same(helpAsFlag(['help', 'service', 'create']), ['service', 'create', '--help'])
  t.same(helpAsFlag(['service', 'ls']), ['service', 'ls'])
  const r = await run(['help', 'service', 'create'])
  t.equal(r.code, 0)
  t.match(r.out, /^Usage: mesh service create \[options\] <image> \[command\.\.\.\]/)
  const top = await run(['help'])
  t.match(top.out, /^Usage: mesh \[options\] \[command\]/)
  t.match(top.out, /Commands:[\s\S]*service[\s\S]*version[\s\S]*info[\s\S]*completion/, 'mesh --help lists the commands')
  const bad = await run(['help', 'nosuch'])
  t.equal(bad.code, 1)
  t.equal(bad.err, "mesh: unknown command 'nosuch'\n")
  const unknown = await run(['service', 'nosuch'])
  t.equal(unknown.code, 1, 'an unknown subcommand is still an error')
})

t.test('docs/cli.md shows every command and every long flag', async (t) => {
  const doc = readFileSync(`${REPO_ROOT}/docs/cli.md`, 'utf8')
  const missing: string[] = []
  for (const c of all) {
    const path = `mesh ${c.path.join(' ')}`
    if (!doc.includes(path)) missing.push(path)
    for (const o of c.cmd.options) if (o.long && o.long !== '--help' && !doc.includes(o.long)) missing.push(`${path} ${o.long}`)
  }
  t.same(missing, [], 'commands and flags docs/cli.md does not show')
})

function complete(line: string[], cword: number): string[] {
  const script = bashCompletion(buildProgram())
  const words = line.map((w) => `'${w}'`).join(' ')
  const out = execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words}); COMP_CWORD=${cword}; _mesh_complete; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' })
  return out.split('\n').filter(Boolean)
}

t.test('bash completion from the command tree', async (t) => {
  t.same(complete(['mesh', 'ser'], 1), ['service'], 'mesh ser<TAB> → service')
  const subs = complete(['mesh', 'service', ''], 2)
  for (const s of ['create', 'ls', 'ps', 'inspect', 'rm', 'update', 'scale', 'logs']) t.ok(subs.includes(s), `mesh service <TAB> lists ${s}`)
  t.same(complete(['mesh', 'node', 'p'], 2).sort(), ['promote', 'ps'])
  t.ok(complete(['mesh', 'service', 'ls', '--f'], 3).includes('--filter'), 'flags of the subcommand')
  t.ok(complete(['mesh', '--json', 'stack', ''], 3).includes('deploy'), 'flags before the command are skipped')
  t.same(complete(['mesh', 'stack', 'down', ''], 3), [], 'an alias leads to its command\'s words (rm takes no subcommand)')
  t.match(zshCompletion(buildProgram()), /bashcompinit[\s\S]*complete -o default -F _mesh_complete mesh/)
  t.ok(commandTable(buildProgram()).find((n) => n.path === 'service ls')?.flags.includes('--quiet'))
})
