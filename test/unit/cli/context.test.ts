/**
 * `mesh context …` (docker context) on a temp config dir: create/ls/use/show/rm/inspect with docker's output and
 * refusals; `--host`/`--context` on `mesh` itself (docker's conflict error, an unknown context is one line, the
 * environment is put back); a tcp:// endpoint says that `mesh status` needs the agent's socket.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../../mesh/main.ts'
import { agentTarget } from '../../../mesh/client.ts'
import { contextCli } from './context-cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-ctxcmd-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const ctx = contextCli(join(dir, 'cfg'))

t.test('create, ls (current marked *), use, show, inspect, rm', async (t) => {
  const made = await ctx(['create', 'prod', '--host', 'ssh://root@10.0.0.1', '--description', 'the prod manager'])
  t.same(made, { out: 'prod\n', err: 'Successfully created context "prod"\n' })
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), f)
  const lab = await ctx(['create', 'lab', '--host', 'tcp://10.0.0.2:7947', '--tls-ca', join(dir, 'ca.pem'), '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')])
  t.equal(lab.error, undefined)
  const ls = await ctx(['ls'])
  t.same(ls.out.split('\n').map((l) => l.trimEnd().split(/ {2,}/)), [
    ['NAME', 'DESCRIPTION', 'MESH ENDPOINT', 'ERROR'],
    ['default *', 'Current MESH_HOST based configuration', 'unix:///var/lib/mesh/manager.sock'],
    ['lab', 'tcp://10.0.0.2:7947'],
    ['prod', 'the prod manager', 'ssh://root@10.0.0.1'],
    [''],
  ], 'docker\'s columns, default built in and current')
  const [head, , labRow] = ls.out.split('\n') as [string, string, string]
  t.equal(labRow.indexOf('tcp://'), head.indexOf('MESH ENDPOINT'), 'an empty description keeps the columns')
  t.equal((await ctx(['ls', '-q'])).out, 'default\nlab\nprod\n')
  t.equal((await ctx(['ls', '--format', 'json'])).out.split('\n')[2], '{"Name":"prod","Description":"the prod manager","MeshEndpoint":"ssh://root@10.0.0.1","Current":"false","Error":""}')
  t.same(await ctx(['use', 'prod']), { out: 'prod\n', err: 'Current context is now "prod"\n' })
  t.match((await ctx(['ls'])).out, /^prod \*\s+the prod manager/m)
  t.equal((await ctx(['show'])).out, 'prod\n')
  t.equal((await ctx(['show'], { MESH_CONTEXT: 'lab' })).out, 'lab\n', 'MESH_CONTEXT wins over the current one')
  t.match((await ctx(['use', 'lab'], { MESH_HOST: 'ssh://x' })).err, /Warning: MESH_HOST environment variable overrides the active context/)
  await ctx(['use', 'prod'])
  const ins = JSON.parse((await ctx(['inspect', 'lab', 'default'])).out) as Record<string, unknown>[]
  t.match(ins[0], { Name: 'lab', Endpoints: { mesh: { Host: 'tcp://10.0.0.2:7947' } }, TLSMaterial: { mesh: ['ca.pem', 'cert.pem', 'key.pem'] } })
  t.match(ins[1], { Name: 'default', Endpoints: { mesh: { Host: 'unix:///var/lib/mesh/manager.sock' } }, Storage: { MetadataPath: '<IN MEMORY>' } })
  t.equal((await ctx(['inspect', '-f', '{{.Name}}'])).out, 'prod\n', 'no name: the one in effect')
  const missing = await ctx(['inspect', 'prod', 'nope'])
  t.match(missing.out, /"Name": "prod"/, 'found ones are printed')
  t.equal(missing.error?.message, 'context "nope": no such context')

  const inUse = await ctx(['rm', 'prod'])
  t.equal(inUse.error?.message, 'context "prod" is in use, set -f flag to force remove', 'the current one needs -f (docker)')
  t.equal((await ctx(['rm', 'default'])).error?.message, 'context "default" cannot be removed')
  t.equal((await ctx(['rm', 'nope'])).error?.message, 'context "nope": no such context')
  t.same(await ctx(['rm', 'nope', 'lab'], {}).then((r) => ({ out: r.out, error: r.error?.message })), { out: 'lab\n', error: 'context "nope": no such context' }, 'the others are still removed')
  t.same(await ctx(['rm', '-f', 'prod']), { out: 'prod\n', err: '' })
  t.equal((await ctx(['show'])).out, 'default\n', 'removing the current one with -f falls back to default')
})

t.test('create refuses bad input', async (t) => {
  t.equal((await ctx(['create', 'x', '--host', 'tcp://h:7947', '--tls-ca', 'a'])).error?.message, 'context "x": give all three of --tls-ca, --tls-cert and --tls-key')
  t.match((await ctx(['create', 'bad name', '--host', 'ssh://h'])).error?.message, /context name "bad name" is invalid/)
  t.match((await ctx(['create', 'x'])).error?.message, /required option '--host <url>' not specified/)
  t.equal((await ctx(['use', 'nope'])).error?.message, 'context "nope": no such context')
})

async function run(argv: string[]): Promise<{ code: number; err: string }> {
  let err = ''
  const code = await main(argv, { out: () => undefined, err: (s) => void (err += s) })
  return { code, err }
}

t.test('mesh --host / --context: docker\'s rules, one line, the environment put back', async (t) => {
  const saved = { ...process.env }
  t.teardown(() => { process.env = saved })
  process.env.MESH_CONFIG_DIR = join(dir, 'cfg2')
  process.env.MESH_HOST = 'ssh://before'
  t.same(await run(['--host', 'ssh://h', '--context', 'prod', 'service', 'ls']), { code: 1, err: 'mesh: conflicting options: either specify --host or --context, not both\n' })
  t.same(await run(['--context', 'nope', 'service', 'ls']), { code: 1, err: 'mesh: context "nope": no such context\n' })
  t.same(await run(['-c', 'nope', 'status']), { code: 1, err: 'mesh: context "nope": no such context\n' }, 'status too')
  t.same(await run(['-H', 'http://x', 'service', 'ls']), { code: 1, err: 'mesh: --host "http://x": want tcp://HOST:PORT (the manager API, e.g. tcp://10.0.0.1:7947) or ssh://[USER@]HOST[:PORT]\n' })
  t.equal(process.env.MESH_HOST, 'ssh://before', 'MESH_HOST is what it was')
  t.equal(process.env.MESH_CONTEXT, undefined, 'MESH_CONTEXT is not left set')
})

t.test('agentTarget: --data-dir is local, ssh:// relays to the control socket, tcp:// says what it cannot do', async (t) => {
  const env = { MESH_CONFIG_DIR: join(dir, 'cfg3'), MESH_DATA_DIR: '/d' }
  t.equal(agentTarget('mesh status', undefined, env), '/d/mesh.sock')
  t.equal(agentTarget('mesh status', '/x', { ...env, MESH_HOST: 'ssh://h' }), '/x/mesh.sock', '--data-dir names a local socket')
  t.match(agentTarget('mesh status', undefined, { ...env, MESH_HOST: 'ssh://root@h:2222' }), { where: 'ssh://root@h:2222', target: { dial: Function } })
  t.throws(() => agentTarget('mesh status', undefined, { ...env, MESH_HOST: 'tcp://10.0.0.1:7947' }), {
    code: 'MESH_ERR_CONTROL',
    message: 'mesh status reads an agent\'s control socket, which tcp://10.0.0.1:7947 (the manager API) does not serve: run it on that node, ' +
      'or reach the node over ssh (MESH_HOST=ssh://root@10.0.0.1, or a context with --host ssh://…)',
  })
})
