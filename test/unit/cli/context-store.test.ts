/**
 * The context store (mesh/context-store.ts) on a temp dir: docker's layout (meta by sha256 of the name), 0700 dirs
 * and 0600 files, names checked, refusals that leave nothing behind, the current context in config.json.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ContextStore, checkContextName, configDir } from '../../../mesh/context-store.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-ctx-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const pem = (name: string) => { writeFileSync(join(dir, name), `-----BEGIN ${name}-----\n`); return join(dir, name) }
const tls = { ca: pem('ca.pem'), cert: pem('cert.pem'), key: pem('key.pem') }

t.test('configDir: MESH_CONFIG_DIR, else ~/.mesh', async (t) => {
  t.equal(configDir({ MESH_CONFIG_DIR: '/etc/x', HOME: '/home/a' }), '/etc/x')
  t.equal(configDir({ HOME: '/home/a' }), '/home/a/.mesh')
})

t.test('names: docker\'s rule', async (t) => {
  for (const ok of ['prod', 'n1', 'a.b-c_d+e', '9lives']) t.doesNotThrow(() => checkContextName(ok), ok)
  for (const bad of ['', '-x', '.hidden', 'a/b', 'a b', '../etc', 'é']) t.throws(() => checkContextName(bad), { code: 'MESH_ERR_CONTEXT' }, JSON.stringify(bad))
})

t.test('create, get, list, remove; files 0600 under 0700 dirs, in docker\'s layout', async (t) => {
  const root = join(dir, 's1')
  const s = new ContextStore(root)
  t.same(s.list(), [], 'empty store')
  s.create('prod', { host: 'ssh://root@10.0.0.1', description: 'the prod manager' })
  s.create('lab', { host: 'tcp://10.0.0.2:7947', tls })
  const id = createHash('sha256').update('prod').digest('hex')
  const meta = join(root, 'contexts', 'meta', id, 'meta.json')
  t.same(JSON.parse(readFileSync(meta, 'utf8')), { Name: 'prod', Metadata: { Description: 'the prod manager' }, Endpoints: { mesh: { Host: 'ssh://root@10.0.0.1' } } })
  t.equal(statSync(meta).mode & 0o777, 0o600, 'meta.json 0600')
  t.equal(statSync(join(root, 'contexts', 'meta', id)).mode & 0o777, 0o700, 'its dir 0700')
  const lab = s.get('lab')
  t.ok(lab?.tlsDir, 'a tcp:// context has its bundle')
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) {
    const p = join(lab?.tlsDir as string, f)
    t.equal(readFileSync(p, 'utf8'), `-----BEGIN ${f}-----\n`, `${f} copied`)
    t.equal(statSync(p).mode & 0o777, 0o600, `${f} 0600`)
  }
  t.same(s.list().map((c) => c.Name).sort(), ['lab', 'prod'])
  s.remove('lab')
  t.equal(s.get('lab'), undefined)
  t.notOk(existsSync(lab?.tlsDir as string), 'its certificates are gone too')
})

t.test('refusals leave nothing behind', async (t) => {
  const root = join(dir, 's2')
  const s = new ContextStore(root)
  const cases = [
    { name: 'default', o: { host: 'ssh://h' }, want: 'context "default" is built in and cannot be created' },
    { name: 'bad/name', o: { host: 'ssh://h' }, want: /context name "bad\/name" is invalid/ },
    { name: 'x', o: { host: 'http://h' }, want: /want tcp:\/\/HOST:PORT/ },
    { name: 'x', o: { host: 'tcp://h:7947' }, want: /a tcp:\/\/ host needs the admin client bundle: --tls-ca/ },
    { name: 'x', o: { host: 'ssh://h', tls }, want: /--tls-ca\/--tls-cert\/--tls-key are for tcp:\/\/ hosts/ },
    { name: 'x', o: { host: 'tcp://h:7947', tls: { ...tls, key: join(dir, 'nokey.pem') } }, want: `context "x": cannot read ${join(dir, 'nokey.pem')} (ENOENT)` },
  ]
  for (const c of cases) t.throws(() => s.create(c.name, c.o), { message: c.want }, `${c.name} ${c.o.host}`)
  t.notOk(existsSync(root), 'no directory was made')
  s.create('x', { host: 'ssh://h' })
  t.throws(() => s.create('x', { host: 'ssh://other' }), { code: 'MESH_ERR_CONTEXT', message: 'context "x" already exists' })
  t.equal(s.get('x')?.Endpoints.mesh.Host, 'ssh://h', 'the first one is kept')
})

t.test('current context: default until one is used; config.json keeps other keys', async (t) => {
  const root = join(dir, 's3')
  const s = new ContextStore(root)
  t.equal(s.current(), 'default')
  s.setCurrent('prod')
  t.equal(s.current(), 'prod')
  t.equal(statSync(join(root, 'config.json')).mode & 0o777, 0o600)
  writeFileSync(join(root, 'config.json'), JSON.stringify({ currentContext: 'prod', other: 1 }))
  s.setCurrent('default')
  t.same(JSON.parse(readFileSync(join(root, 'config.json'), 'utf8')), { other: 1 }, 'default drops the key, keeps the rest')
  t.equal(s.current(), 'default')
})
