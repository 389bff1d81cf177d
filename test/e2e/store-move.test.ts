/**
 * End-to-end, issue 15 item 2 on the netns lab (1 manager + 2 workers, a dockerd each), driven with the `mesh` CLI:
 * the cluster starts on SQLite (`mesh agent --init`); `mesh node promote node2` moves its state into a managed etcd
 * on node1 and promotes; a curl through the ingress keeps answering throughout; afterwards the manager on etcd
 * schedules (scale), and node1's data dir holds `etcd/` and `manager.db.moved-<time>`, no manager.db.
 * Addresses: only the lab's own namespaces. No timing is asserted.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot, type LabNode } from '../lab/index.ts'
import { waitFor } from '../support/procs.ts'
import { meshLab } from '../support/mesh-lab.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(600_000)

const c = await meshLab(t, { nodes: 3, prefix: `smv${randomBytes(3).toString('hex')}` })
const [mgr, w1] = c.lab.nodes as [LabNode, LabNode, LabNode]
const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']

t.test('the first promote moves a SQLite cluster into etcd; the ingress answers throughout', async (t) => {
  const dir = c.dataDir(mgr)
  t.ok(existsSync(join(dir, 'manager.db')), 'the cluster starts on SQLite')
  const up = await c.mesh(['service', 'create', '--name', 'web', '--update-monitor', '1s', '--replicas', '2', '-p', '8080:80', 'mesh/busybox:latest', ...WEB], 180_000)
  t.equal(up.code, 0, `service create: ${up.stderr.trim()}`)
  const tmp = mkdtempSync(join(tmpdir(), 'mesh-smv-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const stopFile = join(tmp, 'stop')
  const loop = c.fetchLoop(w1.ip, 8080, 2000, 0.2, 240, stopFile)

  const p = await c.mesh(['node', 'promote', 'node2'], 120_000)
  t.same([p.code, p.stdout, p.stderr], [0, 'Node node2 promoted to a manager in the swarm.\n', ''], 'docker\'s answer')
  const ls = await c.mesh(['node', 'ls'])
  t.match(ls.stdout, /node1\s+Ready\s+Active\s+Leader\s+Manager/, 'node1 leads, on etcd')
  t.match(ls.stdout, /node2\s+Ready\s+Active\s+\S*\s*Manager/, 'node2 is a manager')
  t.notOk(existsSync(join(dir, 'manager.db')), 'manager.db is gone')
  t.equal(readdirSync(dir).filter((f) => /^manager\.db\.moved-[0-9TZ-]+$/.test(f)).length, 1, 'kept as manager.db.moved-<time>')
  t.ok(existsSync(join(dir, 'etcd', 'member')), 'node1 runs an etcd member')

  const scale = await c.mesh(['service', 'scale', 'web=3'], 180_000)
  t.equal(scale.code, 0, `the manager on etcd schedules: ${scale.stderr.trim()}`)
  await waitFor(async () => (await c.running('web')).length === 3, 120_000, { intervalMs: 1000, what: 'web at 3 on etcd' })
  writeFileSync(stopFile, '')
  const got = await loop
  t.ok(got.length > 0, 'the curl loop ran')
  t.same(got.filter((x) => x.body === 'ERR'), [], `every curl through the ingress answered (${got.length})`)
})
