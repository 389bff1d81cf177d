/**
 * `/v1/secrets` and `/v1/configs` on the real app at 127.0.0.1:0: create, list, inspect and remove; a secret's value
 * never in an answer (plain, base64 or sealed); docker's names, label and size rules; rm refused while a service's
 * spec (current or previous) uses the object, nothing removed then.
 */
import t from 'tap'
import { Manager, createApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { MAX_SECRET_BYTES, jsonRequest } from '../../../src/api/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'

const store = openSqliteStore(':memory:')
const manager = new Manager({ store, clock: new FakeClock() })
await manager.init()
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { host: '127.0.0.1', port: 0 })
const target = { host: '127.0.0.1', port: (server.address() as { port: number }).port }
t.teardown(() => {
  server.closeAllConnections()
  server.close()
  store.close()
})

const call = (method: string, path: string, body?: unknown) => jsonRequest(target, { method, path, body, timeoutMs: 30_000 })
const VALUE = 'hunter2-s3cr3t-value'
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64')

t.test('a secret is created, listed and inspected without its value', async (t) => {
  const created = await call('POST', '/v1/secrets', { name: 'db_password', labels: { env: 'prod' }, data: b64(VALUE) })
  t.equal(created.status, 201)
  const id = (created.body as { id: string }).id
  t.match(created.body, { id: String, spec: { name: 'db_password', labels: { env: 'prod' } }, version: 1 })
  const list = await call('GET', '/v1/secrets')
  const one = await call('GET', '/v1/secrets/db_password')
  const byId = await call('GET', `/v1/secrets/${id}`)
  t.same(one.body, byId.body)
  for (const [what, answer] of [['create', created], ['ls', list], ['inspect', one]] as const) {
    const text = JSON.stringify(answer.body)
    t.notOk(text.includes(VALUE) || text.includes(b64(VALUE)) || text.includes('sealed'), `${what}: no value, plain, base64 or sealed`)
  }
  const stored = store.getObject('secret', 'db_password')
  t.ok(stored?.sealed.startsWith('v1.'), 'the store keeps it sealed')
  t.notOk(stored?.sealed.includes(b64(VALUE)), 'not in base64')
  t.equal(manager.vault.open(stored!).toString(), VALUE, 'the vault opens it for the deliver part')
})

t.test('a config shows its data', async (t) => {
  const created = await call('POST', '/v1/configs', { name: 'nginx.conf', data: b64('server {}') })
  t.equal(created.status, 201)
  t.match((await call('GET', '/v1/configs/nginx.conf')).body, { spec: { name: 'nginx.conf', data: b64('server {}'), labels: {} } })
  t.equal(((await call('GET', '/v1/configs')).body as unknown[]).length, 1)
})

const refusals = [
  { desc: 'name taken', path: '/v1/secrets', body: { name: 'db_password', data: b64('x') }, status: 409, message: 'secret "db_password" already exists' },
  { desc: 'bad name', path: '/v1/secrets', body: { name: '-db', data: b64('x') }, status: 400, message: /secret "-db": invalid name, only 64/ },
  { desc: 'name too long', path: '/v1/configs', body: { name: 'a'.repeat(65), data: b64('x') }, status: 400, message: /invalid name/ },
  { desc: 'no name', path: '/v1/secrets', body: { data: b64('x') }, status: 400, message: 'secret: a name must be given' },
  { desc: 'empty value', path: '/v1/secrets', body: { name: 'e', data: '' }, status: 400, message: 'secret "e": the value is empty' },
  { desc: 'not base64', path: '/v1/secrets', body: { name: 'e', data: 'not base64!' }, status: 400, message: 'secret "e": data must be the value in base64' },
  { desc: 'too big', path: '/v1/secrets', body: { name: 'big', data: b64(Buffer.alloc(MAX_SECRET_BYTES + 1, 1)) }, status: 400, message: /more than the 512000/ },
  { desc: 'label not a string', path: '/v1/configs', body: { name: 'c', labels: { a: 1 }, data: b64('x') }, status: 400, message: 'config "c": label "a" must be a string' },
  { desc: 'unknown field', path: '/v1/secrets', body: { name: 'c', data: b64('x'), value: 'x' }, status: 400, message: 'secret: unknown field "value"' },
]
for (const c of refusals) {
  t.test(`refused: ${c.desc}`, async (t) => {
    const before = store.revision
    const r = await call('POST', c.path, c.body)
    t.equal(r.status, c.status)
    t.match((r.body as { error: { message: string } }).error.message, c.message)
    t.equal(store.revision, before, 'nothing stored')
  })
}

t.test('the largest allowed value is taken', async (t) => {
  t.equal((await call('POST', '/v1/secrets', { name: 'max', data: b64(Buffer.alloc(MAX_SECRET_BYTES, 7)) })).status, 201)
  t.equal((await call('DELETE', '/v1/secrets/max')).status, 204)
})

t.test('rm is refused while a service uses it, now or in its previous spec', async (t) => {
  const secret = store.getObject('secret', 'db_password')!
  const ref = { id: secret.id, name: 'db_password', target: 'db_password', uid: '0', gid: '0', mode: 0o444 }
  const web = await manager.createService({ ...defaultServiceSpec('web', 'nginx'), secrets: [ref] })
  let r = await call('DELETE', '/v1/secrets/db_password')
  t.equal(r.status, 409)
  t.equal((r.body as { error: { message: string } }).error.message, 'secret "db_password" is in use by service "web"')
  t.ok(store.getObject('secret', 'db_password'), 'not removed')
  await manager.updateService('web', (s) => ({ ...s, secrets: [] }))
  r = await call('DELETE', '/v1/secrets/db_password')
  t.equal(r.status, 409, 'the previous spec (a rollback) still uses it')
  await manager.removeService(web.id)
  t.equal((await call('DELETE', `/v1/secrets/${secret.id}`)).status, 204, 'by id, once unused')
  t.equal(store.getObject('secret', secret.id), undefined)
  r = await call('DELETE', '/v1/secrets/db_password')
  t.equal(r.status, 404)
  t.equal((r.body as { error: { message: string } }).error.message, 'secret "db_password": not found')
  t.equal((await call('DELETE', '/v1/configs/nginx.conf')).status, 204)
})

t.test('found by id, name or a unique id prefix (docker\'s daemon)', async (t) => {
  const { findObject } = await import('../../../src/manager/secret-objects.ts')
  await store.transact((tx) => {
    for (const id of ['abc111', 'abc222', 'xyz333']) tx.putObject('config', { id, spec: { name: `c-${id}`, labels: {}, data: 'eA==' }, version: 1, createdAt: 1, updatedAt: 1 })
  })
  t.equal(findObject(store, 'config', 'xy').id, 'xyz333', 'unique prefix')
  t.equal(findObject(store, 'config', 'c-abc111').id, 'abc111', 'name')
  t.throws(() => findObject(store, 'config', 'abc'), { code: 'MESH_ERR_CONFLICT', message: 'config "abc" is ambiguous (2 matches found): give more of its id, or its name' })
  const r = await call('GET', '/v1/configs/abc2')
  t.match(r.body, { id: 'abc222' }, 'through the API')
  t.equal((await call('DELETE', '/v1/configs/xyz')).status, 204, 'rm by prefix')
  t.equal((await call('GET', '/v1/configs/nope')).status, 404)
})
