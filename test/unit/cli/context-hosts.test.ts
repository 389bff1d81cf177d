/**
 * Several managers for one endpoint: `mesh context create NAME --host tcp://a:7947 --host tcp://b:7947` (or a comma
 * list) stores them in order; MESH_HOST, --host and a context's host resolve to every one of them; a list with an
 * ssh:// host in it is one line and leaves nothing behind.
 */
import t from 'tap'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ContextStore } from '../../../mesh/context-store.ts'
import { globalOptionsEnv, resolveEndpoint } from '../../../mesh/endpoint.ts'
import { contextCli } from './context-cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-ctxhosts-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), f)
const bundle = ['--tls-ca', join(dir, 'ca.pem'), '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]
const cfg = join(dir, 'cfg')

const ctx = contextCli(cfg)

t.test('create with --host repeated or a comma list: every manager, in order', async (t) => {
  const cases = [
    { name: 'ha1', hosts: ['--host', 'tcp://10.0.0.1:7947', '--host', 'tcp://10.0.0.2:7947', '--host', 'tcp://[fd00::3]:7947'] },
    { name: 'ha2', hosts: ['--host', 'tcp://10.0.0.1:7947,tcp://10.0.0.2:7947', '--host', 'tcp://[fd00::3]:7947'] },
  ]
  const want = 'tcp://10.0.0.1:7947,tcp://10.0.0.2:7947,tcp://[fd00::3]:7947'
  for (const c of cases) {
    const r = await ctx(['create', c.name, ...c.hosts, ...bundle])
    t.equal(r.error, undefined, c.name)
    const meta = new ContextStore(cfg).get(c.name)
    t.equal(meta?.Endpoints.mesh.Host, want, `${c.name}: stored as one comma list`)
    const e = resolveEndpoint({ MESH_CONTEXT: c.name }, new ContextStore(cfg))
    t.same(e.hosts?.map((h) => [h.host, h.port]), [['10.0.0.1', 7947], ['10.0.0.2', 7947], ['fd00::3', 7947]], `${c.name}: resolved to all three`)
    t.equal(e.host?.url, 'tcp://10.0.0.1:7947', 'host: the first')
  }
  t.match((await ctx(['ls'])).out, /^ha1\s+tcp:\/\/10\.0\.0\.1:7947,tcp:\/\/10\.0\.0\.2:7947,tcp:\/\/\[fd00::3\]:7947$/m, 'ls shows the list')
})

t.test('an ssh:// host in a list is refused before anything is written', async (t) => {
  const r = await ctx(['create', 'mixed', '--host', 'tcp://10.0.0.1:7947', '--host', 'ssh://root@10.0.0.2', ...bundle])
  t.match(r.error?.message, /a list of hosts is for tcp:\/\/ managers only; ssh:\/\/root@10\.0\.0\.2 must be the one host/)
  t.equal(existsSync(new ContextStore(cfg).metaDir('mixed')), false)
})

t.test('MESH_HOST and --host take a comma list of managers too', async (t) => {
  const e = resolveEndpoint(globalOptionsEnv({ host: 'tcp://a:7947,tcp://b:7947' }, {}), new ContextStore(cfg))
  t.same(e.hosts?.map((h) => h.url), ['tcp://a:7947', 'tcp://b:7947'])
  t.throws(() => globalOptionsEnv({ host: 'tcp://a:7947,' }, {}), { message: /--host "tcp:\/\/a:7947,": an empty host in the list/ })
  t.same(resolveEndpoint({ MESH_HOST: 'ssh://root@m1' }, new ContextStore(cfg)).hosts?.map((h) => h.url), ['ssh://root@m1'])
})
