/**
 * One validation, one defaulting: the HTTP API (the real Manager on a SQLite store, listening on 127.0.0.1:0)
 * refuses a spec that `mesh stack deploy` refuses, with the same words, and fills a partial spec from the CLI with
 * Docker's defaults once.
 */
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Manager } from '../../../src/manager/manager.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { defaultServiceSpec, type PortSpec, type ServiceRecord } from '../../../src/api/index.ts'
import { loadStack } from '../../../src/stack/index.ts'
import { convertStack } from '../../../src/stack/convert.ts'
import type { ComposeModel, ServicePart } from '../../../src/stack/model.ts'
import { runMesh } from '../../support/procs.ts'
import { tlsApi } from '../../support/pki.ts'
import { jsonRequest } from '../../../src/api/http.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-api-'))
const store = openSqliteStore(join(dir, 'manager.db'))
const manager = new Manager({ store })
await manager.init()
const api = await tlsApi(t, manager) // the manager API as agents serve it: TLS 1.3, an admin client certificate
// The admin bundle as `mesh ca issue-client` writes it, for the CLI (MESH_HOST + MESH_CERT_PATH).
const bundle = join(dir, 'admin')
mkdirSync(bundle)
writeFileSync(join(bundle, 'ca.pem'), (api.admin.ca as string[]).join(''))
writeFileSync(join(bundle, 'cert.pem'), api.admin.cert as string)
writeFileSync(join(bundle, 'key.pem'), api.admin.key as string)
t.teardown(async () => {
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await jsonRequest(api.target(api.admin), { method, path, timeoutMs: 10_000, ...(body === undefined ? {} : { body }) })
  return { status: r.status, body: r.body as any }
}

const AT = { file: 'stack.yml', path: 'services.web' }
const tcp = (published: number, target = 80): PortSpec => ({ published, target, protocol: 'tcp', mode: 'ingress' })

/** The stack loader's conversion step (where it runs validateServiceSpec) on service `web` of stack `st`. */
function stackRefusal(part: Partial<ServicePart>): string {
  const web: ServicePart = {
    name: 'web', at: AT, image: 'nginx', env: {}, limits: {}, reservations: {}, restartPolicy: {}, updateConfig: {},
    rollbackConfig: {}, labels: {}, ...part,
  }
  const model: ComposeModel = { files: ['stack.yml'], services: new Map([['web', web]]), networks: new Map(), volumes: new Map(), unsupported: [] }
  try {
    convertStack('st', model)
  } catch (err) {
    return (err as Error).message
  }
  return 'accepted'
}

const cases: { name: string; part: Partial<ServicePart>; body: Record<string, unknown>; want: string }[] = [
  { name: 'published port out of range', part: { ports: [tcp(70000)] }, body: { ports: [tcp(70000)] }, want: 'published port 70000 must be 1-65535' },
  { name: 'port published twice', part: { ports: [tcp(80), tcp(80, 81)] }, body: { ports: [tcp(80), tcp(80, 81)] }, want: 'published port 80 used twice' },
  {
    name: 'relative bind source',
    part: { volumes: [{ type: 'bind', source: 'data', target: '/data', readOnly: false, at: AT }] },
    body: { mounts: [{ type: 'bind', source: 'data', target: '/data', readOnly: false }] },
    want: 'bind mount source "data" must be an absolute path',
  },
  {
    name: 'bad restart condition', part: { restartPolicy: { condition: 'always' as never } }, body: { restartPolicy: { condition: 'always' } },
    want: 'restart condition "always" must be none, on-failure or any',
  },
  {
    name: 'bad update order', part: { updateConfig: { order: 'sideways' as never } }, body: { updateConfig: { order: 'sideways' } },
    want: 'update order "sideways" must be stop-first or start-first',
  },
  {
    name: 'failure ratio above 1', part: { updateConfig: { maxFailureRatio: 2 } }, body: { updateConfig: { maxFailureRatio: 2 } },
    want: 'update max failure ratio must be between 0 and 1',
  },
  {
    name: 'reservation above limit', part: { limits: { memoryBytes: 10 }, reservations: { memoryBytes: 20 } },
    body: { resources: { limits: { memoryBytes: 10 }, reservations: { memoryBytes: 20 } } },
    want: 'memory reservation (20 bytes) exceeds the memory limit (10 bytes)',
  },
  { name: 'hostname not RFC 1123', part: { hostname: 'web_1' }, body: { hostname: 'web_1' }, want: 'hostname "web_1" must be letters, digits and \'-\' in dot-separated labels of at most 63 characters (RFC 1123)' },
  { name: 'user with a space', part: { user: 'a b' }, body: { user: 'a b' }, want: 'user "a b" must be name|uid[:group|gid], e.g. 1000:1000 or nobody' },
  { name: 'relative workdir', part: { workdir: 'srv' }, body: { workdir: 'srv' }, want: 'workdir "srv" must be an absolute path' },
  {
    name: 'tmpfs mode out of range',
    part: { tmpfs: [{ type: 'tmpfs', source: '', target: '/run', readOnly: false, tmpfs: { mode: 0o17777 }, at: AT }] },
    body: { mounts: [{ type: 'tmpfs', source: '', target: '/run', readOnly: false, tmpfs: { mode: 0o17777 } }] },
    want: 'tmpfs mount on /run: mode must be between 0 and 0o7777',
  },
  { name: 'negative replicas', part: { replicas: -1 }, body: { mode: { replicated: { replicas: -1 } } }, want: 'replicas must be ≥ 0' },
  {
    name: 'unknown constraint field', part: { constraints: ['node.zone == a'] }, body: { constraints: ['node.zone == a'] },
    want: 'constraint "node.zone == a": unknown field node.zone; use node.id, node.hostname, node.role or node.labels.<key>',
  },
]

t.test('POST /v1/services refuses what the stack loader refuses, with the same message', async (t) => {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const fromStack = stackRefusal(c.part)
      t.equal(fromStack, `stack.yml: services.web: ${c.want}`, 'the stack loader')
      const r = await call('POST', '/v1/services', { name: 'st_web', image: 'nginx', ...c.body })
      t.equal(r.status, 400)
      t.equal(r.body.error.code, 'MESH_ERR_INVALID')
      t.equal(r.body.error.message, `service "st_web": ${fromStack.slice('stack.yml: services.web: '.length)}`, 'the API, same words')
    })
  }
  t.equal((await call('GET', '/v1/services')).body.length, 0, 'nothing was stored')
})

t.test('a compose file the loader refuses at its last step is refused by the API with the same problem', async (t) => {
  const text = 'version: "3.8"\nservices:\n  web:\n    image: nginx\n    ports: ["80:80", "80:81"]\n    deploy: {resources: {limits: {memory: 10M}, reservations: {memory: 20M}}}\n'
  const load = () => loadStack({ stack: 'st', files: [{ name: 'stack.yml', text }], env: {}, cwd: dir, readFile: () => '' })
  const problems = 'published port 80 used twice; memory reservation (20971520 bytes) exceeds the memory limit (10485760 bytes)'
  t.throws(load, { code: 'MESH_ERR_STACK_FILE', message: `stack.yml: services.web: ${problems}` })
  const r = await call('POST', '/v1/services', {
    name: 'st_web', image: 'nginx', ports: [tcp(80), tcp(80, 81)],
    resources: { limits: { memoryBytes: 10 * 2 ** 20 }, reservations: { memoryBytes: 20 * 2 ** 20 } },
  })
  t.same([r.status, r.body.error.message], [400, `service "st_web": ${problems}`])
})

t.test('a partial spec gets Docker\'s defaults once; update keeps the rest; null clears an optional field', async (t) => {
  const created = await call('POST', '/v1/services', { name: 'web', image: 'nginx', command: ['httpd'], updateConfig: { order: 'start-first' } })
  t.equal(created.status, 201)
  const s = created.body as ServiceRecord
  const want = defaultServiceSpec('web', 'nginx')
  t.same(s.spec, { ...want, command: ['httpd'], updateConfig: { ...want.updateConfig, order: 'start-first' } })
  const updated = await call('POST', '/v1/services/web/update', { restartPolicy: { condition: 'none' }, command: null })
  t.equal(updated.status, 200)
  const { command: _, ...rest } = s.spec
  t.same((updated.body as ServiceRecord).spec, { ...rest, restartPolicy: { ...want.restartPolicy, condition: 'none' } })
})

t.test('malformed requests are 400s that name the field', async (t) => {
  const bad = [
    { body: { name: 'x', image: 'nginx', colour: 'red' }, want: 'unknown service field "colour"' },
    { body: { name: 'x', image: 'nginx', registryAuth: { token: 't' } }, want: 'registryAuth: unknown field "token"' },
    { body: { name: 'x', image: 'nginx', ports: '80:80' }, want: 'service "x": ports must be a list of {published, target, protocol, mode}' },
    { body: { name: 'x', image: 'nginx', mode: 'global' }, want: 'service "x": mode must be {replicated: {replicas: N}}, {global: {}}, {replicatedJob: {maxConcurrent: N, totalCompletions: N}} or {globalJob: {}}' },
    { body: { name: 'x', image: 'nginx', resources: { limits: 5 } }, want: 'resources.limits must be an object {nanoCpus, memoryBytes}' },
    { body: { name: 'x', image: 'nginx', endpointMode: 'dns' }, want: 'service "x": endpoint mode "dns" must be vip or dnsrr' },
  ]
  for (const c of bad) {
    const r = await call('POST', '/v1/services', c.body)
    t.same([r.status, r.body.error.message], [400, c.want], c.want)
  }
})

t.test('mesh service create|update: the CLI sends what the user gave, the manager fills the rest, refusals read the same', async (t) => {
  const env = { ...process.env, MESH_HOST: `tcp://127.0.0.1:${api.port}`, MESH_CERT_PATH: bundle }
  const created = await runMesh(['service', 'create', '--name', 'cli', '--detach', '--limit-memory', '50M', '--update-order', 'start-first', 'nginx', 'httpd', '-f'], { env })
  t.equal(created.code, 0, created.stderr)
  const want = defaultServiceSpec('cli', 'nginx')
  const spec = (await call('GET', '/v1/services/cli')).body.spec
  t.same(spec, {
    ...want, command: ['httpd', '-f'], resources: { ...want.resources, limits: { nanoCpus: 0, memoryBytes: 50 * 2 ** 20 } },
    updateConfig: { ...want.updateConfig, order: 'start-first' },
  })
  const updated = await runMesh(['service', 'update', '--detach', '--env-add', 'A=1', '--replicas', '2', 'cli'], { env })
  t.equal(updated.code, 0, updated.stderr)
  t.same((await call('GET', '/v1/services/cli')).body.spec, { ...spec, env: ['A=1'], mode: { replicated: { replicas: 2 } } }, 'update changes only what the flags say')
  const refused = await runMesh(['service', 'create', '--name', 'bad', '--detach', '--limit-memory', '10M', '--reserve-memory', '20M', 'nginx'], { env })
  t.equal(refused.code, 1)
  t.equal(refused.stderr, 'mesh: service "bad": memory reservation (20971520 bytes) exceeds the memory limit (10485760 bytes)\n', 'the words the stack loader uses')
})

t.test('mesh service create|update container flags reach the stored spec; "" on update clears; a bad value is one line', async (t) => {
  const env = { ...process.env, MESH_HOST: `tcp://127.0.0.1:${api.port}`, MESH_CERT_PATH: bundle }
  const created = await runMesh(['service', 'create', '--name', 'box', '--detach', '--hostname', '{{.Node.Hostname}}-{{.Task.Slot}}', '-u', '1000',
    '-w', '/srv', '--entrypoint', '/bin/sh -c', '--health-cmd', 'true', '--health-interval', '2s',
    '--mount', 'type=tmpfs,target=/cache,tmpfs-size=1M', 'nginx', 'sleep 1'], { env })
  t.equal(created.code, 0, created.stderr)
  const spec = (await call('GET', '/v1/services/box')).body.spec
  t.match(spec, {
    hostname: '{{.Node.Hostname}}-{{.Task.Slot}}', user: '1000', workdir: '/srv', entrypoint: ['/bin/sh', '-c'], command: ['sleep 1'],
    healthcheck: { test: ['CMD-SHELL', 'true'], intervalMs: 2000, timeoutMs: 0, retries: 0, startPeriodMs: 0 },
    mounts: [{ type: 'tmpfs', source: '', target: '/cache', readOnly: false, tmpfs: { sizeBytes: 2 ** 20 } }],
  })
  const cleared = await runMesh(['service', 'update', '--detach', '--hostname', '', '--user', '', '--entrypoint', '', '--no-healthcheck', '--mount-rm', '/cache', 'box'], { env })
  t.equal(cleared.code, 0, cleared.stderr)
  const after = (await call('GET', '/v1/services/box')).body.spec
  t.same([after.hostname, after.user, after.entrypoint, after.workdir, after.mounts], [undefined, undefined, undefined, '/srv', []])
  t.same(after.healthcheck?.test, ['NONE'])
  const refused = await runMesh(['service', 'update', '--detach', '--workdir', 'srv', 'box'], { env })
  t.equal(refused.code, 1)
  t.equal(refused.stderr, 'mesh: service "box": workdir "srv" must be an absolute path\n')
})
