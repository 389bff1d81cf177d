/**
 * `mesh stack deploy` / `rm` with secrets and configs, against a fake manager client that records every request:
 * the order (objects before the services that use them; services before the objects on rm), a refusal that sends
 * nothing, and no value in anything printed.
 */
import t from 'tap'
import { ApiError } from '../../../src/api/index.ts'
import { deployStack, removeStacks, type StackClient, type StackIo } from '../../../mesh/stack.ts'

interface Obj { id: string; spec: { name: string; labels: Record<string, string>; data?: string } }

function fakeManager(o: { secrets?: Obj[]; configs?: Obj[]; services?: unknown[]; noRoutes?: boolean; noUpdate?: boolean } = {}) {
  const calls: string[] = []
  const bodies: unknown[] = []
  const secrets = [...(o.secrets ?? [])]
  const configs = [...(o.configs ?? [])]
  let services = [...(o.services ?? [])] as { id: string; version?: number; spec: { name: string; labels: Record<string, string> } }[]
  let n = 0
  const client: StackClient = {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      calls.push(`${method} ${path}`)
      if (body !== undefined) bodies.push(body)
      const kind = /^\/v1\/(secrets|configs)/.exec(path)?.[1]
      if (kind && o.noRoutes) throw new ApiError(404, 'MESH_ERR_NOT_FOUND', 'no such route')
      const list = kind === 'secrets' ? secrets : configs
      if (method === 'GET' && kind) return list.map((x) => (kind === 'secrets' ? { id: x.id, spec: { name: x.spec.name, labels: x.spec.labels } } : x)) as T
      if (method === 'POST' && kind && !path.endsWith('/update')) {
        const b = body as { name: string; labels: Record<string, string>; data: string }
        list.push({ id: `${kind}-${++n}`, spec: { name: b.name, labels: b.labels, data: b.data } })
        return {} as T
      }
      if (method === 'POST' && kind && path.endsWith('/update')) {
        const b = body as { labels: Record<string, string>; data: string }
        if (o.noUpdate) throw new ApiError(404, 'MESH_ERR_NOT_FOUND', 'no such route')
        const x = list.find((y) => y.id === decodeURIComponent(path.split('/')[3] as string))
        if (!x) throw new ApiError(404, 'MESH_ERR_NOT_FOUND', 'not found')
        if (x.spec.data !== undefined && x.spec.data !== b.data) throw new ApiError(400, 'MESH_ERR_INVALID', `${kind.slice(0, -1)} "${x.spec.name}": only updates to Labels are allowed`)
        x.spec.labels = b.labels
        return {} as T
      }
      if (method === 'DELETE' && kind) {
        const id = decodeURIComponent(path.split('/').pop() as string)
        list.splice(list.findIndex((x) => x.id === id), 1)
        return {} as T
      }
      if (method === 'GET' && path === '/v1/services') return services as T
      if (method === 'POST' && path === '/v1/services') {
        services.push({ id: `svc-${++n}`, version: 1, spec: body as { name: string; labels: Record<string, string> } })
        return { version: 1 } as T
      }
      if (method === 'POST' && path.endsWith('/update')) return { version: 1 } as T
      if (method === 'DELETE' && path.startsWith('/v1/services/')) {
        services = services.filter((s) => s.id !== decodeURIComponent(path.split('/').pop() as string))
        return {} as T
      }
      throw new Error(`unexpected ${method} ${path}`)
    },
  }
  return { client, calls, bodies, secrets, configs }
}

function io(): StackIo & { text: () => string } {
  let all = ''
  return { out: (s) => void (all += s), err: (s) => void (all += s), text: () => all }
}

const VALUE = 'correct horse battery staple'
const COMPOSE = `
services:
  app:
    image: busybox
    secrets: [db]
    configs: [{source: conf, target: /etc/app.conf}]
secrets:
  db: {file: ./db.txt}
configs:
  conf: {file: ./app.conf}
`
const files: Record<string, string> = { '/lab/db.txt': VALUE, '/lab/app.conf': 'port=80\n' }
const deploy = (client: StackClient, out: StackIo, text = COMPOSE) => deployStack(client, {
  stack: 's', files: [{ name: 'stack.yml', text }], detach: true, env: {}, cwd: '/lab', readFile: () => '',
  readBytes: (p) => {
    const f = files[p]
    if (f === undefined) throw Object.assign(new Error('no'), { code: 'ENOENT' })
    return Buffer.from(f)
  },
}, out)

t.test('deploy creates the stack\'s secrets and configs before the services; a redeploy keeps them; rm removes them after the services', async (t) => {
  const m = fakeManager()
  const out = io()
  await deploy(m.client, out)
  t.same(m.calls, ['GET /v1/secrets', 'GET /v1/configs', 'GET /v1/services', 'POST /v1/secrets', 'POST /v1/configs', 'POST /v1/services'])
  t.same(m.bodies.slice(0, 2), [
    { name: 's_db', labels: { 'com.docker.stack.namespace': 's' }, data: Buffer.from(VALUE).toString('base64') },
    { name: 's_conf', labels: { 'com.docker.stack.namespace': 's' }, data: Buffer.from('port=80\n').toString('base64') },
  ])
  t.equal(out.text(), 'Creating secret s_db\nCreating config s_conf\nCreating service s_app\n')
  t.notMatch(out.text(), VALUE)

  m.calls.length = 0
  const again = io()
  await deploy(m.client, again)
  t.same(m.calls.filter((c) => /^POST \/v1\/(secrets|configs)/.test(c)), ['POST /v1/secrets/secrets-1/update', 'POST /v1/configs/configs-2/update'],
    'nothing created twice: the existing ones are checked by the manager')
  t.equal(again.text(), 'Stack s is up to date (1 service)\n', 'an unchanged stack changes nothing')

  files['/lab/db.txt'] = 'a new password'
  m.calls.length = 0
  const changed = await deploy(m.client, io(), COMPOSE.replace('configs:\n  conf', 'configs:\n  extra: {file: ./app.conf}\n  conf')).then(() => null, (e: Error) => e.message)
  files['/lab/db.txt'] = VALUE
  t.equal(changed, 'secret "s_db": only updates to Labels are allowed', "a changed secret file is refused with swarmkit's words")
  t.notOk(m.calls.some((c) => c === 'POST /v1/configs' || c.startsWith('POST /v1/services')), 'and nothing is created')

  m.calls.length = 0
  const rm = io()
  await removeStacks(m.client, ['s'], rm)
  t.same(m.calls.filter((c) => c.startsWith('DELETE')).map((c) => c.replace(/\/[^/]+$/, '/ID')), ['DELETE /v1/services/ID', 'DELETE /v1/secrets/ID', 'DELETE /v1/configs/ID'])
  t.equal(rm.text(), 'Removing service s_app\nRemoving secret s_db\nRemoving config s_conf\n')
  t.same([m.secrets.length, m.configs.length], [0, 0])
})

t.test('a missing external secret refuses the whole deploy before anything is sent', async (t) => {
  const m = fakeManager()
  const fixed = COMPOSE.replace('secrets: [db]', 'secrets: [db, prod]').replace('  db: {file: ./db.txt}\n', '  db: {file: ./db.txt}\n  prod: {external: true}\n')
  const err = await deploy(m.client, io(), fixed).then(() => null, (e: Error) => e.message)
  t.equal(err, 'external secret "prod" not found (stack.yml: secrets.prod); create it with mesh secret create prod FILE; nothing was deployed')
  t.same(m.calls.filter((c) => !c.startsWith('GET')), [], 'no POST, no DELETE')
})

t.test('a manager without the update route: an existing secret is kept, with a warning', async (t) => {
  const m = fakeManager({ noUpdate: true })
  await deploy(m.client, io())
  const again = io()
  await deploy(m.client, again)
  t.match(again.text(), /^warning: secret s_db exists and is kept: this manager cannot compare its value with the file/)
})

t.test('a stack without secrets or configs does not ask for them; rm of a manager without the routes still works', async (t) => {
  const m = fakeManager({ noRoutes: true })
  await deploy(m.client, io(), 'services:\n  app:\n    image: busybox\n')
  t.same(m.calls, ['GET /v1/services', 'POST /v1/services'])
  const rm = io()
  await removeStacks(m.client, ['s', 'nope'], rm)
  t.equal(rm.text(), 'Removing service s_app\nNothing found in stack: nope\n')
})

t.test('rm of a stack whose services are gone still removes its secrets; another stack\'s stay', async (t) => {
  const mine = { id: 'a1', spec: { name: 's_db', labels: { 'com.docker.stack.namespace': 's' } } }
  const theirs = { id: 'b1', spec: { name: 'x_db', labels: { 'com.docker.stack.namespace': 'x' } } }
  const m = fakeManager({ secrets: [mine, theirs] })
  const rm = io()
  await removeStacks(m.client, ['s'], rm)
  t.equal(rm.text(), 'Removing secret s_db\n')
  t.same(m.secrets.map((s) => s.id), ['b1'])
})
