/**
 * Compose networks become mesh networks: `<stack>_default` for services that name none, declared ones as
 * `<stack>_N` (or `name:`), `external` ones checked before anything changes, options (attachable, internal,
 * driver_opts.encrypted, ipam subnet, labels) and per-service aliases; deploy creates the stack's own networks before
 * its services, `stack rm` removes them after, retrying while a stopping task still holds one.
 */
import t from 'tap'
import { ApiError } from '../../../src/api/index.ts'
import { deployStack, removeStacks, type StackClient, type StackIo } from '../../../mesh/stack.ts'
import { errorOf, load } from './fixtures.ts'

const FILE = `
services:
  api:
    image: x
    networks:
      front:
        aliases: [api-front, www]
      back:
  db:
    image: y
    networks: [back, shared]
  worker:
    image: z
networks:
  front:
    attachable: true
    labels: [team=web]
    ipam: {config: [{subnet: 10.90.0.0/24}]}
  back:
    internal: true
    driver_opts: {encrypted: "false"}
    name: plain-back
  shared:
    external: true
`

t.test('conversion: names, options, aliases, the default network, external ones', async (t) => {
  const r = load({ 's.yml': FILE }, { stack: 'app' })
  t.same(r.warnings, [])
  t.same(r.networks, ['app_default', 'app_front', 'plain-back', 'shared'])
  const defs = Object.fromEntries(r.networkDefs.map((n) => [n.name, n]))
  t.same(defs.app_front?.create, {
    name: 'app_front', driver: 'overlay', attachable: true, internal: false, encrypted: true, subnet: '10.90.0.0/24',
    labels: { team: 'web', 'com.docker.stack.namespace': 'app' },
  })
  t.match(defs['plain-back']?.create, { name: 'plain-back', internal: true, encrypted: false, attachable: false })
  t.same([defs.shared?.external, defs.shared?.create], [true, undefined])
  t.match(defs.app_default?.create, { name: 'app_default', encrypted: true, labels: { 'com.docker.stack.namespace': 'app' } })
  const api = r.services.find((s) => s.name === 'app_api')
  t.same(api?.networks, [{ target: 'app_front', aliases: ['api-front', 'www'] }, { target: 'plain-back', aliases: [] }])
  t.same(r.services.find((s) => s.name === 'app_worker')?.networks, [{ target: 'app_default', aliases: [] }])
  t.equal(errorOf(() => load({ 's.yml': 'services:\n  a:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    driver_opts: {mtu: "1400"}\n' })),
    's.yml: networks.n.driver_opts.mtu: driver option "mtu" is not supported (mesh networks take encrypted: "true" or "false")')
  t.equal(errorOf(() => load({ 's.yml': 'services:\n  a:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    ipam: {config: [{subnet: 10.90.0.1/24}]}\n' })),
    's.yml: networks.n.ipam.config[0].subnet: subnet "10.90.0.1/24": host bits are set; did you mean 10.90.0.0/24?')
})

/** A manager client that keeps networks and services and records every request. */
function fakeManager(networks: { id: string; spec: { name: string; labels: Record<string, string> } }[] = [], busy = 0) {
  const calls: string[] = []
  let services: { id: string; version: number; spec: { name: string; labels: Record<string, string> } }[] = []
  let n = 0
  let stillBusy = busy
  const client: StackClient = {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      calls.push(`${method} ${path}`)
      if (method === 'GET' && path === '/v1/networks') return networks as T
      if (method === 'POST' && path === '/v1/networks') {
        const b = body as { name: string; labels: Record<string, string> }
        networks.push({ id: `net-${++n}`, spec: { name: b.name, labels: b.labels } })
        return {} as T
      }
      if (method === 'DELETE' && path.startsWith('/v1/networks/')) {
        if (stillBusy-- > 0) throw new ApiError(409, 'MESH_ERR_CONFLICT', 'network "x" is in use by task app_api.1 (running)')
        networks.splice(networks.findIndex((x) => x.id === decodeURIComponent(path.split('/').pop() as string)), 1)
        return {} as T
      }
      if (method === 'GET' && /^\/v1\/(secrets|configs)$/.test(path)) return [] as T
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
  return { client, calls, networks }
}

function io(): StackIo & { text: () => string } {
  let all = ''
  return { out: (s) => void (all += s), err: (s) => void (all += s), text: () => all }
}

const deploy = (client: StackClient, out: StackIo, text = FILE) =>
  deployStack(client, { stack: 'app', files: [{ name: 's.yml', text }], env: {}, cwd: '/', detach: true }, out)

t.test('a missing external network refuses the deploy before anything is sent', async (t) => {
  const m = fakeManager()
  const err = await deploy(m.client, io()).then(() => null, (e: Error) => e.message)
  t.equal(err, 'network "shared" is declared as external, but could not be found: create it first (mesh network create shared)')
  t.same(m.calls.filter((c) => !c.startsWith('GET')), [], 'no POST, no DELETE')
})

t.test('deploy creates the own networks before the services (once); rm removes them after, waiting for busy ones', async (t) => {
  const m = fakeManager([{ id: 'ext', spec: { name: 'shared', labels: {} } }], 2)
  const out = io()
  await deploy(m.client, out)
  t.equal(out.text(), 'Creating network app_default\nCreating network app_front\nCreating network plain-back\n' +
    'Creating service app_api\nCreating service app_db\nCreating service app_worker\n')
  const again = io()
  await deploy(m.client, again)
  t.notMatch(again.text(), /Creating network/, 'existing networks are kept')
  const rm = io()
  await removeStacks(m.client, ['app'], rm, { pollMs: 1, timeoutMs: 100, sleep: async () => undefined })
  t.equal(rm.text(), 'Removing service app_api\nRemoving service app_db\nRemoving service app_worker\n' +
    'Removing network app_default\nRemoving network app_front\nRemoving network plain-back\n')
  t.same(m.networks.map((n) => n.spec.name), ['shared'], 'the external network stays')
  t.equal(m.calls.filter((c) => c.startsWith('DELETE /v1/networks')).length, 5, 'two refusals while a task held one, then three removals')
})

t.test('rm gives up with the manager\'s words when a network stays busy', async (t) => {
  const m = fakeManager([{ id: 'n1', spec: { name: 'app_default', labels: { 'com.docker.stack.namespace': 'app' } } }], 1000)
  const err = await removeStacks(m.client, ['app'], io(), { pollMs: 1, timeoutMs: 5, sleep: async () => undefined }).then(() => null, (e: Error) => e.message)
  t.equal(err, 'network "x" is in use by task app_api.1 (running)')
})
