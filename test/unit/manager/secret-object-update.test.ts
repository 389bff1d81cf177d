/**
 * docker's SecretUpdate / ConfigUpdate on the manager (src/manager/secret-update.ts): labels change, values never;
 * a `data` that is not the stored value is refused with swarmkit's words and changes nothing.
 */
import t from 'tap'
import { Manager } from '../../../src/manager/manager.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'

const store = openSqliteStore(':memory:')
const m = new Manager({ store })
await m.init()
t.teardown(() => store.close?.())
const b64 = (s: string) => Buffer.from(s).toString('base64')
const errorOf = (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => e.message)

t.test('secret: same value → labels updated; another value → refused, unchanged', async (t) => {
  const s = await m.secrets.createSecret({ name: 'db', labels: { a: '1' }, data: b64('hunter2') })
  const same = await m.secrets.update('secret', 'db', { labels: { a: '2' }, data: b64('hunter2') })
  t.same([same.spec.labels, same.version], [{ a: '2' }, 2])
  t.notOk('sealed' in same, 'the answer is a view')
  const again = await m.secrets.update('secret', s.id, { labels: { a: '2' }, data: b64('hunter2') })
  t.equal(again.version, 2, 'nothing to change: no new version')
  t.equal(await errorOf(m.secrets.update('secret', 'db', { labels: { a: '3' }, data: b64('hunter3') })),
    'secret "db": only updates to Labels are allowed: its value cannot change (create a new secret under another name)')
  t.same(m.secrets.getSecret('db').spec.labels, { a: '2' }, 'labels unchanged after a refusal')
  t.equal(await errorOf(m.secrets.update('secret', 'db', { name: 'other' })), 'secret "db": only updates to Labels are allowed (not the name)')
  t.equal(await errorOf(m.secrets.update('secret', 'nope', {})), 'secret "nope": not found')
  t.equal(await errorOf(m.secrets.update('secret', 'db', { value: 'x' })), 'secret: unknown field "value"')
})

t.test('config: the same rule', async (t) => {
  await m.secrets.createConfig({ name: 'conf', data: b64('port=80') })
  t.same((await m.secrets.update('config', 'conf', { labels: { k: 'v' }, data: b64('port=80') })).spec.labels, { k: 'v' })
  t.match(await errorOf(m.secrets.update('config', 'conf', { data: b64('port=81') })), /^config "conf": only updates to Labels are allowed/)
})
