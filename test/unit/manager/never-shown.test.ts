/**
 * Issue 16, "must show": `mesh service inspect`, `mesh secret inspect`, the API answers and the dashboard's data
 * never show a secret value or a registry password. A real manager in this process (in-memory store, its HTTP API on
 * a unix socket), fake agents that run every task; a secret and a config made through the API, a service using the
 * secret with a registry credential, and a stack deployed with its own file secret. Then every read route, the
 * dashboard's view, the event log and the CLI's inspect commands are searched for each value in plain, base64 and
 * hex.
 */
import t from 'tap'
import { request } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import type { NodeRecord } from '../../../src/api/types.ts'
import { ManagerClient } from '../../../src/api/client.ts'
import { deployStack } from '../../../mesh/stack.ts'
import { runMesh } from '../../support/procs.ts'
import { testCsr } from '../../support/pki.ts'
import { startFakeAgents } from '../../support/fake-agents.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-never-shown-'))
const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
manager.start()
const res = { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }
const nodes: NodeRecord[] = [
  (await manager.registerSelf({ hostname: 'manager1', addr: '10.0.0.1', resources: res }, { csr: await testCsr() })).node,
  (await manager.join({ csr: await testCsr(), token: manager.tokens().worker, hostname: 'worker1', addr: '10.0.0.2', resources: res })).node,
]
const socketPath = join(dir, 'manager.sock')
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath })
const client = new ManagerClient({ dataDir: dir })
const stopAgents = startFakeAgents({ manager, store, nodes })
t.teardown(async () => {
  stopAgents()
  manager.stop()
  await new Promise<void>((r) => server.close(() => r()))
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

const SECRET = 'sekrit-db-password-4c1f9e'
const STACK_SECRET = 'stack-file-secret-77d2a0'
const PASSWORD = 'registry-pw-9b3e51'
const forms = (v: string) => [v, Buffer.from(v).toString('base64'), Buffer.from(v).toString('hex')]
const b64 = (v: string) => Buffer.from(v).toString('base64')
/**
 * The services' use of the secrets: on once the manager takes ServiceSpec.secrets (the deliver part); until then the
 * secrets exist (and are searched for) without a service naming them.
 */
const USES_SECRETS = false
const uses = (name: string, id = '') => (USES_SECRETS ? { secrets: [{ id, name, target: name, uid: '0', gid: '0', mode: 0o444 }] } : {})

/** GET over the socket; a stream (events) is read for `streamMs` and then closed. */
function get(path: string, streamMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (r) => {
      let body = ''
      r.setEncoding('utf8')
      r.on('data', (d: string) => { body += d })
      r.on('end', () => resolve(body))
      setTimeout(() => { req.destroy(); resolve(body) }, streamMs).unref()
    })
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)))
    req.end()
  })
}

t.test('no API answer, dashboard view, event or inspect output holds a secret value or a registry password', async (t) => {
  const secret = await client.request<{ id: string }>('POST', '/v1/secrets', { name: 'db_password', data: b64(SECRET) })
  const config = await client.request<{ id: string }>('POST', '/v1/configs', { name: 'app_conf', data: b64('port=80\n') })
  const spec = { ...defaultServiceSpec('web', 'registry:5000/web:1'), ...uses('db_password', secret.id) }
  await client.request('POST', '/v1/services?resolveImage=never', { ...spec, registryAuth: { username: 'ci', password: PASSWORD, serveraddress: 'registry:5000' } })
  writeFileSync(join(dir, 'pw.txt'), STACK_SECRET)
  const out: string[] = []
  await deployStack(client, {
    stack: 'st', files: [{ name: 'stack.yml', text: `services:\n  app:\n    image: busybox\n${USES_SECRETS ? '    secrets: [pw]\n' : ''}secrets:\n  pw: {file: ./pw.txt}\n` }],
    env: {}, cwd: dir, readFile: () => '', detach: true, resolveImage: 'never',
  }, { out: (s) => void out.push(s), err: (s) => void out.push(s) })
  t.ok(store.getObject('secret', 'st_pw'), 'the stack made its secret')
  await new Promise((r) => setTimeout(r, 300)) // the fake agents run the tasks

  const [svc] = store.listServices().filter((s) => s.spec.name === 'web')
  const routes = [
    '/v1/secrets', `/v1/secrets/${secret.id}`, '/v1/secrets/st_pw', '/v1/configs', `/v1/configs/${config.id}`,
    '/v1/services', `/v1/services/${svc?.id}`, '/v1/services/web', '/v1/tasks', '/v1/nodes', '/v1/info', '/v1/ui/view',
    '/metrics', '/v1/events?since=0',
  ]
  const answers = new Map<string, string>()
  for (const r of routes) answers.set(`GET ${r}`, await get(r))
  t.match(answers.get('GET /v1/secrets') ?? '', /"name":"db_password"/, 'the routes answer (secrets listed)')
  t.match(answers.get('GET /v1/ui/view') ?? '', /web/, 'the dashboard view names the service')
  t.match(answers.get('GET /v1/tasks') ?? '', /"serviceName":"web"/, 'tasks listed')
  const env = { ...process.env, MESH_DATA_DIR: dir, MESH_HOST: '' }
  for (const args of [['service', 'inspect', 'web'], ['service', 'inspect', 'st_app'], ['secret', 'inspect', 'db_password', 'st_pw'], ['secret', 'inspect', '--pretty', 'db_password'], ['service', 'ps', 'web']]) {
    const r = await runMesh(args, { env, timeoutMs: 60_000 })
    t.equal(r.code, 0, `mesh ${args.join(' ')} (${r.stderr.trim()})`)
    answers.set(`mesh ${args.join(' ')}`, r.stdout + r.stderr)
  }
  if (USES_SECRETS) t.match(answers.get('mesh service inspect web') ?? '', /db_password/, 'service inspect shows the reference, by name')
  answers.set('mesh stack deploy', out.join(''))
  for (const [where, text] of answers) {
    for (const v of [...forms(SECRET), ...forms(STACK_SECRET), ...forms(PASSWORD)]) {
      if (text.includes(v)) t.fail(`${where} shows ${v}`)
    }
  }
  t.ok(answers.get('GET /v1/configs')?.includes(b64('port=80\n')), "the search finds what may be shown (a config's value, base64)")
  t.pass(`${answers.size} answers searched for 3 values in 3 forms each`)
  t.notMatch(answers.get('GET /v1/secrets') ?? '', /sealed/, 'not even the sealed form')
})
