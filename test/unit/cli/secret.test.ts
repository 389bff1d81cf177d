/**
 * `mesh secret|config create|ls|rm` against a fake API client: the value is read from the file or stdin and sent
 * base64 (never an argument), refused before any request when empty, too big or badly named; ls through the list
 * engine (filters id, label, name, names; -q; --format).
 */
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createValue, listValues, readValue, removeValues } from '../../../mesh/secret.ts'
import { prettyObject } from '../../../mesh/secret-views.ts'
import { MAX_SECRET_BYTES, type SecretView } from '../../../src/api/index.ts'

function fakeClient(answers: Record<string, unknown> = {}) {
  const calls: { method: string; path: string; body?: unknown }[] = []
  return {
    calls,
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      calls.push({ method, path, body })
      return (answers[`${method} ${path}`] ?? { id: 'new-id' }) as T
    },
  }
}

t.test('create reads the file and sends it base64', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-secret-'))
  const file = join(dir, 'v')
  writeFileSync(file, 'pa55\n')
  const c = fakeClient()
  await createValue(c, 'secret', 'db', file, ['env=prod', 'flag'], readValue)
  t.same(c.calls, [{ method: 'POST', path: '/v1/secrets', body: { name: 'db', labels: { env: 'prod', flag: '' }, data: Buffer.from('pa55\n').toString('base64') } }])
  await createValue(c, 'config', 'conf', '-', [], () => Buffer.from('from stdin'))
  t.same(c.calls[1], { method: 'POST', path: '/v1/configs', body: { name: 'conf', labels: {}, data: Buffer.from('from stdin').toString('base64') } })
})

t.test('create refuses before any request', async (t) => {
  const cases = [
    { desc: 'empty stdin', name: 'db', read: () => Buffer.alloc(0), want: 'secret "db": the value is empty (nothing on stdin)' },
    { desc: 'too big', name: 'db', read: () => Buffer.alloc(MAX_SECRET_BYTES + 1), want: /more than the 512000 \(500 KiB\) allowed$/ },
    { desc: 'bad name', name: 'db!', read: () => Buffer.from('x'), want: /secret "db!": invalid name/ },
    { desc: 'bad label', name: 'db', labels: ['=x'], read: () => Buffer.from('x'), want: '--label "=x": want KEY=VALUE' },
  ]
  for (const c of cases) {
    const client = fakeClient()
    await t.rejects(createValue(client, 'secret', c.name, '-', c.labels ?? [], c.read), { message: c.want }, c.desc)
    t.equal(client.calls.length, 0, `${c.desc}: nothing sent`)
  }
  t.throws(() => readValue('/nonexistent/file'), { message: '/nonexistent/file: cannot be read (ENOENT)' })
})

const now = Date.UTC(2026, 11, 7, 8, 0, 0)
const secrets: SecretView[] = [
  { id: 'aaa111', spec: { name: 'db_password', labels: { env: 'prod' } }, version: 1, createdAt: now - 120_000, updatedAt: now - 120_000 },
  { id: 'bbb222', spec: { name: 'db_user', labels: {} }, version: 1, createdAt: now - 5_000, updatedAt: now - 5_000 },
  { id: 'ccc333', spec: { name: 'tls', labels: { env: 'dev' } }, version: 1, createdAt: now, updatedAt: now },
]

t.test('ls: table, filters, -q and templates', async (t) => {
  const c = fakeClient({ 'GET /v1/secrets': secrets })
  const run = async (f: object) => {
    let out = ''
    await listValues(c, 'secret', f, (s) => { out += s }, now)
    return out
  }
  const table = await run({})
  t.match(table, /^ID\s+NAME\s+DRIVER\s+CREATED\s+UPDATED\n/)
  t.match(table, /aaa111\s+db_password\s+2m ago\s+2m ago/)
  const cases = [
    { f: { quiet: true }, want: 'aaa111\nbbb222\nccc333\n' },
    { f: { quiet: true, filter: ['name=db_'] }, want: 'aaa111\nbbb222\n' },
    { f: { quiet: true, filter: ['names=db_user'] }, want: 'bbb222\n' },
    { f: { quiet: true, filter: ['label=env=prod'] }, want: 'aaa111\n' },
    { f: { quiet: true, filter: ['label=env'] }, want: 'aaa111\nccc333\n' },
    { f: { quiet: true, filter: ['id=cc'] }, want: 'ccc333\n' },
    { f: { format: '{{.Name}} {{.Spec.Labels.env}}', filter: ['id=a'] }, want: 'db_password prod\n' },
  ]
  for (const k of cases) t.equal(await run(k.f), k.want, JSON.stringify(k.f))
  await t.rejects(run({ filter: ['driver=x'] }), /invalid filter 'driver'/)
})

t.test('rm prints each as given; pretty inspect has no value for a secret, the data for a config', async (t) => {
  const c = fakeClient()
  let out = ''
  await removeValues(c, 'config', ['a', 'b'], (s) => { out += s })
  t.same(c.calls.map((x) => `${x.method} ${x.path}`), ['DELETE /v1/configs/a', 'DELETE /v1/configs/b'])
  t.equal(out, 'a\nb\n')
  t.notMatch(prettyObject(secrets[0]!), /Data/)
  t.match(prettyObject(secrets[0]!), /Name:\s+db_password\nLabels:\n - env=prod\nDriver:/)
  t.match(prettyObject({ id: 'x', spec: { name: 'c', labels: {}, data: Buffer.from('hello').toString('base64') }, version: 1, createdAt: now, updatedAt: now }), /Data:\nhello\n$/)
})
