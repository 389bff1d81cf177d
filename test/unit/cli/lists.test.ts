/**
 * Every list command's fields, `--filter` keys and `--format` templates, on a fake manager client that answers the
 * GET routes from fixed records: service ls/ps/inspect/rm, node ls/ps/inspect, stack ls/services/ps, ca ls-clients,
 * key ls.
 */
import t from 'tap'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { NodeRecord, ServiceSpec, TaskRecord } from '../../../src/api/types.ts'
import type { ApiClient } from '../../../mesh/client.ts'
import { inspectAll, listServiceTasks, listServices, removeServices, resolveServices, withoutNow } from '../../../mesh/service-list.ts'
import { listNodeTasks, listNodes, resolveNodes } from '../../../mesh/node.ts'
import { listStackServices, listStackTasks, listStacks } from '../../../mesh/stack.ts'
import { adminClientList } from '../../../mesh/ca.ts'
import { renderKeys } from '../../../mesh/key.ts'
import { renderList, type ListFlags } from '../../../mesh/format/list.ts'
import type { ServiceView } from '../../../mesh/views.ts'

const NOW = 1_000_000
const spec = (name: string, o: Partial<ServiceSpec> = {}): ServiceSpec => ({ ...defaultServiceSpec(name, 'nginx:1'), ...o })
const services: ServiceView[] = [
  { id: 'aaaa11112222333344445555a', spec: spec('web', { ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], labels: { tier: 'front', 'com.docker.stack.namespace': 'shop' } }), version: 1, createdAt: 0, updatedAt: 0, running: 2, desired: 2 },
  { id: 'aaaa9999', spec: spec('webapi', { mode: { global: {} }, labels: { tier: 'back' } }), version: 1, createdAt: 0, updatedAt: 0, running: 3, desired: 3 },
  { id: 'bbbb0000', spec: spec('db', { mode: { replicatedJob: { maxConcurrent: 1, totalCompletions: 2 } }, labels: { 'com.docker.stack.namespace': 'shop' } }), version: 1, createdAt: 0, updatedAt: 0, running: 0, desired: 1 },
]
;(services[0] as ServiceView).spec.mode = { replicated: { replicas: 2 } }
const node = (id: string, hostname: string, role: 'manager' | 'worker', labels: Record<string, string>, state: NodeRecord['state'] = 'ready'): NodeRecord => ({
  id, hostname, role, labels, state, availability: 'active', addr: `10.0.0.${hostname.slice(-1)}`, stateChangedAt: 0, resources: { nanoCpus: 1e9, memoryBytes: 1e9 }, createdAt: 0, updatedAt: 0,
})
const nodes = [node('n1aaaaaaaaaaaaaaaaaaaaaaa', 'node1', 'manager', { zone: 'a' }), node('n2bbbbbbbbbbbbbbbbbbbbbbb', 'node2', 'worker', { zone: 'b' }), node('n3ccccccccccccccccccccccc', 'node3', 'worker', {}, 'down')]
const task = (id: string, s: ServiceView, slot: number, nodeId: string, desiredState: TaskRecord['desiredState'], state: TaskRecord['status']['state'], err?: string): TaskRecord => ({
  id, serviceId: s.id, serviceName: s.spec.name, slot, nodeId, specVersion: 1, spec: s.spec, desiredState,
  status: { state, message: state, timestamp: NOW - 3000, ...(err ? { err } : {}) }, createdAt: NOW - 3000, updatedAt: NOW,
})
const [web, webapi, db] = services as [ServiceView, ServiceView, ServiceView]
const tasks: TaskRecord[] = [
  task('t1web1111111111', web, 1, 'n1aaaaaaaaaaaaaaaaaaaaaaa', 'running', 'running'),
  task('t2web2222222222', web, 2, 'n2bbbbbbbbbbbbbbbbbbbbbbb', 'running', 'running'),
  task('t3web2old222222', web, 2, 'n2bbbbbbbbbbbbbbbbbbbbbbb', 'shutdown', 'failed', 'exit 1'),
  task('t4api1111111111', webapi, 0, 'n1aaaaaaaaaaaaaaaaaaaaaaa', 'running', 'running'),
  task('t5db11111111111', db, 1, 'n2bbbbbbbbbbbbbbbbbbbbbbb', 'running', 'starting'),
]

function fake(): ApiClient & { calls: string[] } {
  const calls: string[] = []
  const byRef = <T extends { id: string }>(list: T[], ref: string, name: (x: T) => string) => list.find((x) => x.id === ref || name(x) === ref)
  return {
    calls,
    async request<T>(method: string, path: string): Promise<T> {
      calls.push(`${method} ${path}`)
      const u = new URL(path, 'http://x')
      const p = u.pathname
      if (method === 'DELETE') return undefined as T
      if (p === '/v1/services') return services as T
      if (p === '/v1/nodes') return nodes as T
      if (p === '/v1/info') return { self: { id: nodes[0]?.id, hostname: 'node1' } } as T
      if (p === '/v1/tasks') {
        const s = u.searchParams.get('service')
        const n = u.searchParams.get('node')
        return tasks.filter((x) => (!s || x.serviceId === s) && (!n || x.nodeId === n)) as T
      }
      const m = /^\/v1\/(services|nodes)\/(.+)$/.exec(p)
      if (m) {
        const found = m[1] === 'services' ? byRef(services, decodeURIComponent(m[2] as string), (x) => x.spec.name) : byRef(nodes, decodeURIComponent(m[2] as string), (x) => x.hostname)
        if (!found) throw new Error(`${m[1] === 'services' ? 'service' : 'node'} "${m[2]}" not found`)
        return found as T
      }
      throw new Error(`unexpected ${method} ${path}`)
    },
  }
}

async function capture(run: (out: (s: string) => void) => Promise<void>): Promise<string> {
  let text = ''
  await run((s) => void (text += s))
  return text
}
const lines = (s: string) => s.trimEnd().split('\n')

t.test('service ls: table, -q (12-char ids as docker), every filter key, templates', async (t) => {
  const ls = (f: ListFlags) => capture((out) => listServices(fake(), f, out))
  const table = lines(await ls({}))
  t.match(table[0], /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/)
  t.match(table[1], /^aaaa11112222\s+web\s+replicated\s+2\/2\s+nginx:1\s+\*:8080->80\/tcp$/)
  t.match(table[2], /^aaaa9999\s+webapi\s+global\s+3\/3/)
  t.match(table[3], /^bbbb0000\s+db\s+replicated job\s+0\/1/)
  t.equal(await ls({ quiet: true }), 'aaaa11112222\naaaa9999\nbbbb0000\n')
  const cases: { filter: string[]; want: string[] }[] = [
    { filter: ['name=web'], want: ['web', 'webapi'] },
    { filter: ['name=webapi'], want: ['webapi'] },
    { filter: ['name=db', 'name=webapi'], want: ['webapi', 'db'] },
    { filter: ['id=aaaa'], want: ['web', 'webapi'] },
    { filter: ['id=aaaa1'], want: ['web'] },
    { filter: ['label=tier'], want: ['web', 'webapi'] },
    { filter: ['label=tier=back'], want: ['webapi'] },
    { filter: ['mode=replicated'], want: ['web'] },
    { filter: ['mode=global'], want: ['webapi'] },
    { filter: ['mode=replicated-job'], want: ['db'] },
    { filter: ['name=web', 'mode=global'], want: ['webapi'] },
    { filter: ['label=tier', 'id=bbbb'], want: [] },
  ]
  for (const c of cases) t.same((await ls({ filter: c.filter, format: '{{.Name}}' })).split('\n').filter(Boolean), c.want, c.filter.join(' '))
  await t.rejects(ls({ filter: ['mode=jobs'] }), { message: "invalid filter 'mode=jobs': want replicated, global, replicated-job, global-job" })
  await t.rejects(ls({ filter: ['node=x'] }), { message: "invalid filter 'node' (filters: id, label, mode, name)" })
  const fmt: { format: string; want: string }[] = [
    { format: '{{.ID}}\\t{{.Name}}', want: 'aaaa11112222\tweb' },
    { format: '{{.Mode}} {{.Replicas}} {{.Image}} {{.Ports}}', want: 'replicated 2/2 nginx:1 *:8080->80/tcp' },
    { format: '{{.Spec.Labels.tier}}', want: 'front' },
    { format: 'json', want: '{"ID":"aaaa11112222","Name":"web","Mode":"replicated","Replicas":"2/2","Image":"nginx:1","Ports":"*:8080->80/tcp"}' },
  ]
  for (const c of fmt) t.equal(lines(await ls({ format: c.format, filter: ['id=aaaa1'] }))[0], c.want, c.format)
  t.same(lines(await ls({ format: 'table {{.Name}}\\t{{.Replicas}}', filter: ['name=webapi'] })), ['NAME     REPLICAS', 'webapi   3/3'])
  t.same(JSON.parse(await ls({ json: true })), services, '--json: the whole array, unchanged')
})

t.test('service ps: capitalised desired state, every filter key, several services', async (t) => {
  const ps = (refs: string[], f: ListFlags) => capture((out) => listServiceTasks(fake(), refs, f, out, NOW))
  const table = lines(await ps(['web'], {}))
  t.match(table[0], /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR$/)
  t.match(table[1], /^t1web1111111\s+web\.1\s+nginx:1\s+node1\s+Running\s+Running 3s ago$/)
  t.match(table[3], /^t3web2old222\s+ \\_ web\.2\s+nginx:1\s+node2\s+Shutdown\s+Failed 3s ago\s+exit 1$/, 'an older task under its slot, as docker')
  const cases: { filter: string[]; want: string[] }[] = [
    { filter: ['desired-state=running'], want: ['t1web1111111', 't2web2222222'] },
    { filter: ['desired-state=shutdown'], want: ['t3web2old222'] },
    { filter: ['desired-state=Running', 'desired-state=shutdown'], want: ['t1web1111111', 't2web2222222', 't3web2old222'] },
    { filter: ['node=node2'], want: ['t2web2222222', 't3web2old222'] },
    { filter: ['node=n1aaaaaaaaaaaaaaaaaaaaaaa'], want: ['t1web1111111'] },
    { filter: ['name=web.2'], want: ['t2web2222222', 't3web2old222'] },
    { filter: ['id=t3'], want: ['t3web2old222'] },
    { filter: ['node=node2', 'desired-state=running'], want: ['t2web2222222'] },
  ]
  for (const c of cases) t.same(lines(await ps(['web'], { filter: c.filter, quiet: true })), c.want, c.filter.join(' '))
  await t.rejects(ps(['web'], { filter: ['desired-state=sleeping'] }), { message: "invalid filter 'desired-state=sleeping': want running, shutdown, accepted" })
  await t.rejects(ps(['no-tasks'], { filter: ['desired-state=sleeping'] }), { message: /^invalid filter 'desired-state=sleeping'/ }, 'checked even when no task is listed')
  await t.rejects(ps(['web'], { filter: ['label=x'] }), { message: "invalid filter 'label' (filters: id, name, node, desired-state)" })
  t.equal(await ps(['web'], { format: '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}', filter: ['id=t3'] }), 'web.2 node2 Shutdown Failed 3s ago exit 1\n')
  t.same(lines(await ps(['webapi', 'db'], { format: '{{.Name}}' })), ['db.1', 'webapi.node1'], 'several services, global tasks named by node')
  t.same(lines(await ps(['aaaa11112222'], { quiet: true })).length, 3, 'a service named by the id prefix ls -q prints')
})

t.test('service ids: ls -q | xargs service rm resolves each prefix; ambiguity is an error', async (t) => {
  const c = fake()
  t.same(await resolveServices(c, ['web', 'aaaa11112222', 'bbbb', 'aaaa9999', 'ghost']), ['aaaa11112222333344445555a', 'aaaa11112222333344445555a', 'bbbb0000', 'aaaa9999', 'ghost'])
  await t.rejects(resolveServices(c, ['aaaa']), { code: 'MESH_ERR_CONFIG', message: 'service "aaaa" is ambiguous (2 matches found): give more of its id, or its name' })
  const rm = fake()
  const ids = await capture((out) => listServices(rm, { quiet: true }, out))
  t.equal(await capture((out) => removeServices(rm, lines(ids), out)), ids, 'prints each argument as given')
  t.same(rm.calls.filter((x) => x.startsWith('DELETE')), services.map((s) => `DELETE /v1/services/${s.id}`))
})

t.test('inspect: an array, several objects, --format per object, found ones printed before the error', async (t) => {
  const c = fake()
  const get = (ref: string) => c.request('GET', `/v1/services/${ref}`)
  t.same(JSON.parse(await capture((out) => inspectAll(['web', 'db'], get, undefined, out))).map((s: ServiceView) => s.spec.name), ['web', 'db'])
  t.equal(await capture((out) => inspectAll(['web', 'db'], get, '{{.Spec.Name}} {{.Spec.Mode}}', out)), 'web {"replicated":{"replicas":2}}\ndb {"replicatedJob":{"maxConcurrent":1,"totalCompletions":2}}\n')
  let printed = ''
  await t.rejects(inspectAll(['web', 'ghost'], get, '{{.ID}}', (s) => void (printed += s)), { message: 'service "ghost" not found' })
  t.equal(printed, 'aaaa11112222333344445555a\n')
})

t.test('node ls: full ids, every filter key, templates', async (t) => {
  const ls = (f: ListFlags) => capture((out) => listNodes(fake(), f, out))
  const table = lines(await ls({}))
  t.match(table[0], /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ROLE\s+ADDRESS\s+LABELS$/)
  t.match(table[1], /^n1aaaaaaaaaaaaaaaaaaaaaaa \*\s+node1\s+Ready\s+Active\s+Manager\s+10\.0\.0\.1\s+zone=a$/, 'self marked, as docker')
  t.match(table[2], /^n2bbbbbbbbbbbbbbbbbbbbbbb\s+node2\s/)
  t.equal(await ls({ format: '{{.Hostname}}={{.Self}}' }), 'node1=true\nnode2=false\nnode3=false\n')
  t.equal(await ls({ quiet: true }), nodes.map((n) => `${n.id}\n`).join(''))
  const cases: { filter: string[]; want: string[] }[] = [
    { filter: ['role=manager'], want: ['node1'] },
    { filter: ['role=worker'], want: ['node2', 'node3'] },
    { filter: ['name=node2'], want: ['node2'] },
    { filter: ['name=node'], want: ['node1', 'node2', 'node3'] },
    { filter: ['id=n3'], want: ['node3'] },
    { filter: ['label=zone'], want: ['node1', 'node2'] },
    { filter: ['node.label=zone=b'], want: ['node2'] },
    { filter: ['membership=accepted'], want: ['node1', 'node2', 'node3'] },
    { filter: ['membership=pending'], want: [] },
    { filter: ['role=worker', 'node.label=zone'], want: ['node2'] },
  ]
  for (const c of cases) t.same((await ls({ filter: c.filter, format: '{{.Hostname}}' })).split('\n').filter(Boolean), c.want, c.filter.join(' '))
  t.equal(await ls({ format: '{{.Hostname}} {{.Status}} {{.Availability}} {{.Role}} {{.Address}} {{.Labels}}', filter: ['id=n3'] }), 'node3 Down Active Worker 10.0.0.3 \n')
  await t.rejects(ls({ filter: ['role=boss'] }), { message: "invalid filter 'role=boss': want manager, worker" })
  await t.rejects(ls({ filter: ['colour=red'] }), { message: "invalid filter 'colour' (filters: id, label, membership, name, node.label, role)" })
})

t.test('node ps: self by default, named nodes, the task filters', async (t) => {
  const c = fake()
  t.same(lines(await capture((out) => listNodeTasks(c, [], { format: '{{.Name}}' }, out, NOW))), ['web.1', 'webapi.node1'], 'default: the manager\'s own node')
  t.ok(c.calls.includes('GET /v1/info'))
  t.same(lines(await capture((out) => listNodeTasks(fake(), ['node2'], { format: '{{.Name}}' }, out, NOW))), ['db.1', 'web.2', 'web.2'], 'by hostname')
  t.same(lines(await capture((out) => listNodeTasks(fake(), ['node2'], { filter: ['desired-state=running'], quiet: true }, out, NOW))), ['t5db11111111', 't2web2222222'])
  const table = lines(await capture((out) => listNodeTasks(fake(), ['n2b'], {}, out, NOW)))
  t.match(table[3], /^t3web2old222\s+ \\_ web\.2\s+/, 'an older task of a slot shown under it, as docker')
  t.same(await resolveNodes(fake(), ['self', 'node3', 'n2', 'ghost']), [nodes[0]?.id, nodes[2]?.id, nodes[1]?.id, 'ghost'])
  await t.rejects(resolveNodes(fake(), ['n']), { message: 'node "n" is ambiguous (3 matches found): give more of its id, or its hostname' })
})

t.test('stack ls / services / ps take the same flags', async (t) => {
  const io = () => {
    const o = { text: '', err: '' }
    return { o, io: { out: (s: string) => void (o.text += s), err: (s: string) => void (o.err += s) } }
  }
  const a = io()
  await listStacks(fake(), { format: '{{.Name}}:{{.Services}}' }, a.io)
  t.equal(a.o.text, 'shop:2\n')
  const q = io()
  await listStacks(fake(), { quiet: true }, q.io)
  t.equal(q.o.text, 'shop\n')
  await t.rejects(listStacks(fake(), { filter: ['name=shop'] }, q.io), { message: "invalid filter 'name': this command takes no filter" })
  const b = io()
  await listStackServices(fake(), 'shop', { filter: ['mode=replicated-job'], format: '{{.Name}} {{.Mode}}' }, b.io)
  t.equal(b.o.text, 'db replicated job\n')
  const c = io()
  await listStackTasks(fake(), 'shop', { filter: ['desired-state=running'], format: '{{.Name}} {{.DesiredState}}' }, c.io, NOW)
  t.equal(c.o.text, 'db.1 Running\nweb.1 Running\nweb.2 Running\n')
  const j = io()
  await listStacks(fake(), true, j.io)
  t.same(JSON.parse(j.o.text), [{ name: 'shop', services: 2 }], '--json (and the boolean form) unchanged')
})

t.test('ca ls-clients and key ls', async (t) => {
  const clients = [{ name: 'ops', serial: 'ab01', notAfter: '2027-01-01T00:00:00.000Z' }, { name: 'ci', serial: 'cd02', notAfter: '2027-02-01T00:00:00.000Z' }]
  const v = adminClientList(clients)
  t.match(renderList(v, {}), /^NAME\s+SERIAL\s+EXPIRES\nops\s+ab01\s+2027-01-01T00:00:00.000Z\nci/)
  t.equal(renderList(v, { quiet: true }), 'ops\nci\n')
  t.equal(renderList(v, { filter: ['name=c'], format: '{{.Name}} {{.Expires}}' }), 'ci 2027-02-01T00:00:00.000Z\n')
  t.equal(renderList(v, { filter: ['serial=AB01'], quiet: true }), 'ops\n')
  const keys = { encrypted: true, version: 2, keys: [{ fingerprint: 'sha256:11', primary: true }, { fingerprint: 'sha256:22', primary: false }], rotatedAt: 0, rotationIntervalMs: 0, rotation: null }
  t.equal(renderKeys(keys, { quiet: true }), 'sha256:11\nsha256:22\n')
  t.equal(renderKeys(keys, { filter: ['primary=false'], format: '{{.Fingerprint}}' }), 'sha256:22\n')
  t.match(renderKeys(keys, {}), /FINGERPRINT\s+PRIMARY\nsha256:11\s+yes\n.*\n\nkeyring version 2/s, 'the default view keeps the rotation settings')
  t.same(JSON.parse(renderKeys(keys, { json: true })), keys)
})

t.test('service inspect leaves out the manager clock the convergence wait reads', (t) => {
  t.same(withoutNow({ id: 'x', spec: { name: 'web' }, running: 1, now: 123 }), { id: 'x', spec: { name: 'web' }, running: 1 })
  t.end()
})
