/**
 * Part `deliver` of the secrets e2e: services use secrets and configs, and a value reaches only the nodes that need it.
 * - `mesh secret create db_password -` (stdin) and a config; service `app` (2 replicas spread over node2 and node3,
 *   `--secret db_password --config source=app_conf,target=/etc/app.conf`, published 8090) and service `plain`
 *   on node4 without: app's tasks read the value at /run/secrets/db_password (0444) and the config; plain's does not
 *   have the file.
 * - node4 runs no task of app: its data dir, its tmpfs mounts (/run), `docker inspect` of every container and the
 *   agents' logs hold no trace of the value (plain, hex, base64); no node's data dir or engine holds it either.
 * - Rotation under a request loop through node4's published port: `service update --secret-rm db_password
 *   --secret-add source=db_password_v2,target=db_password`: 0 failed requests, the new tasks read the new value, and
 *   the old tasks' tmpfs dirs are gone from their nodes.
 * Bounded: every wait has a limit; the request loop runs ≤ 20 s.
 */
import type { Test } from 'tap'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LabNode } from '../../lab/index.ts'
import { MESH_BIN, waitFor } from '../../support/procs.ts'
import type { Task } from '../../support/mesh-lab.ts'
import type { SecretsContext } from './context.ts'

const forms = (v: string): string[] => [v, Buffer.from(v).toString('hex'), Buffer.from(v).toString('base64')]
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Every regular file under `dir` (host side) whose bytes contain one of `needles`. */
function filesHolding(dir: string, needles: string[]): string[] {
  const hits: string[] = []
  const walk = (d: string): void => {
    let names: string[]
    try { names = readdirSync(d) } catch { return }
    for (const n of names) {
      const p = join(d, n)
      let st
      try { st = statSync(p) } catch { continue }
      if (st.isDirectory()) walk(p)
      else if (st.isFile() && st.size < 64 * 2 ** 20) {
        const b = readFileSync(p)
        if (needles.some((x) => b.includes(x))) hits.push(p)
      }
    }
  }
  walk(dir)
  return hits
}

export async function run(t: Test, ctx: SecretsContext): Promise<void> {
  const c = ctx.c
  const [mgr, w1, w2, w3] = c.lab.nodes as [LabNode, LabNode, LabNode, LabNode]
  const value = `pw-${randomBytes(12).toString('hex')}`
  const value2 = `pw2-${randomBytes(12).toString('hex')}`
  const tmp = mkdtempSync(join(tmpdir(), 'mesh-deliver-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  /** `mesh <kind> create NAME -` with the value on stdin (never in argv). */
  const create = async (kind: 'secret' | 'config', name: string, content: string) => {
    const file = join(tmp, name)
    writeFileSync(file, content, { mode: 0o600 })
    const r = await mgr.exec(['sh', '-c', 'f=$1; shift; exec "$@" < "$f"', 'sh', file, 'env', `MESH_DATA_DIR=${c.dataDir(mgr)}`, 'node', MESH_BIN, kind, 'create', name, '-'])
    t.equal(r.code, 0, `mesh ${kind} create ${name} - (${r.stderr.trim()})`)
  }
  await create('secret', 'db_password', value)
  await create('config', 'app_conf', 'listen=80\n')

  const unknown = await c.mesh(['service', 'create', '--name', 'nope', '--secret', 'no_such_secret', 'mesh/busybox:latest', 'true'])
  t.equal(unknown.stderr.trim(), 'mesh: secret "no_such_secret" not found', 'an unknown secret: one line')
  t.equal((await c.mesh(['service', 'inspect', 'nope'])).code, 1, 'and no service')

  // app's tasks serve a digest of the secret they read (the value itself never goes over the wire).
  const serve = 'mkdir -p /www && sha256sum /run/secrets/db_password | cut -c1-16 > /www/index.html && exec httpd -f -p 80 -h /www'
  const app = await c.mesh(['service', 'create', '--name', 'app', '--replicas', '2', '--update-monitor', '1s',
    '--constraint', 'node.role==worker', '--constraint', `node.hostname!=${w3.name}`, '--secret', 'db_password',
    '--config', 'source=app_conf,target=/etc/app.conf', '-p', '8090:80', 'mesh/busybox:latest', 'sh', '-c', serve], 180_000)
  t.equal(app.code, 0, `app converges (${app.stderr.trim()})`)
  const plain = await c.mesh(['service', 'create', '--name', 'plain', '--update-monitor', '1s', '--constraint', `node.hostname==${w3.name}`,
    'mesh/busybox:latest', 'sleep', '3600'], 180_000)
  t.equal(plain.code, 0, `plain converges (${plain.stderr.trim()})`)

  const nodeOf = (x: Task): LabNode => c.lab.nodes.find((n) => n.name === c.nodeName.get(x.nodeId)) as LabNode
  const exec = (x: Task, service: string, cmd: string) => nodeOf(x).docker(['exec', `${service}.${x.slot}.${x.id}`, 'sh', '-c', cmd], { timeoutMs: 20_000 })
  const appTasks = await c.running('app')
  t.same(appTasks.map((x) => nodeOf(x).name).sort(), [w1.name, w2.name], 'app runs on node2 and node3, not on node4')
  for (const x of appTasks) {
    const r = await exec(x, 'app', 'cat /run/secrets/db_password; echo; stat -c %a /run/secrets/db_password; cat /etc/app.conf; touch /run/secrets/db_password 2>/dev/null || echo read-only')
    t.same(r.stdout.trim().split('\n'), [value, '444', 'listen=80', 'read-only'],
      `${nodeOf(x).name}: the secret at /run/secrets/db_password (0444, read-only) and the config at /etc/app.conf`)
  }
  const [plainTask] = await c.running('plain')
  const none = await exec(plainTask as Task, 'plain', 'test -e /run/secrets/db_password && echo present || echo absent')
  t.equal(none.stdout.trim(), 'absent', 'plain\'s task has no such file')

  // node4 never got the value: data dir, tmpfs mounts, its engine, the logs.
  const needles = forms(value)
  const found = (s: string) => needles.some((x) => s.includes(x))
  t.same(filesHolding(c.dataDir(w3), needles), [], `${w3.name}: nothing in its data dir`)
  const mounts = await w3.exec(['findmnt', '-rn', '-o', 'TARGET,SOURCE'])
  t.notMatch(mounts.stdout, /mesh-task-files/, `${w3.name}: no task-files tmpfs`)
  const inRun = await w3.exec(['sh', '-c', `grep -rlsF -D skip -e '${needles.join("' -e '")}' /run /dev/shm; true`], { timeoutMs: 30_000 })
  t.equal(inRun.stdout.trim(), '', `${w3.name}: no tmpfs file (/run, /dev/shm) holds it`)
  for (const n of c.lab.nodes) {
    t.same(filesHolding(c.dataDir(n), needles), [], `${n.name}: no trace in its data dir`)
    const ids = (await n.docker(['ps', '-aq'])).stdout.trim().split('\n').filter(Boolean)
    const inspect = ids.length > 0 ? (await n.docker(['inspect', ...ids])).stdout : ''
    t.notOk(found(inspect), `${n.name}: docker inspect of its ${ids.length} containers shows no value`)
  }
  const binds = (await w1.docker(['inspect', '-f', '{{range .Mounts}}{{.Source}} {{.Destination}} {{.RW}};{{end}}', `app.${appTasks.find((x) => nodeOf(x) === w1)?.slot}.${appTasks.find((x) => nodeOf(x) === w1)?.id}`])).stdout
  t.match(binds, new RegExp(`/run/mesh/${w1.name}/tasks/[0-9a-f]+/secret-0 /run/secrets/db_password false`), `${w1.name}: docker inspect shows the bind path, read-only`)
  for (const n of c.lab.nodes) {
    const p = c.agents.get(n.name)
    t.notOk(found(`${p?.stdout() ?? ''}${p?.stderr() ?? ''}`), `${n.name}: no trace in the agent's log`)
  }
  for (const n of c.lab.nodes) t.same(filesHolding(join(n.dir, 'log'), needles), [], `${n.name}: no trace in its lab logs`)

  // Rotation under a request loop through node4 (which runs none of app's tasks).
  await create('secret', 'db_password_v2', value2)
  const [d1, d2] = [value, value2].map((v) => createHash('sha256').update(v).digest('hex').slice(0, 16))
  await waitFor(async () => (await c.fetchLoop(w3.ip, 8090, 2)).every((r) => r.body === d1), 20_000, { intervalMs: 500, what: 'app serving through node4' })
  // The loop runs until the rotation has converged and 1.5 s more (a loaded machine makes each request slow), bounded.
  const stopFile = join(c.lab.stateDir, 'rotation-done')
  const load = c.fetchLoop(w3.ip, 8090, 20_000, 0.02, 240, stopFile)
  await sleep(1000)
  const upd = await c.mesh(['service', 'update', '--update-order', 'start-first', '--secret-rm', 'db_password',
    '--secret-add', 'source=db_password_v2,target=db_password', 'app'], 180_000)
  t.equal(upd.code, 0, `the rotation converges (${upd.stderr.trim()})`)
  await sleep(1500)
  writeFileSync(stopFile, '')
  const got = await load
  const failed = got.filter((r) => r.body === 'ERR' || r.body === '' || (r.body !== d1 && r.body !== d2)).length
  t.ok(got.length > 0 && got[0]?.body === d1, `the request loop ran from before the rotation (${got.length} requests)`)
  t.equal(failed, 0, `0 failed of ${got.length} requests during the rotation`)
  t.equal(got.at(-1)?.body, d2, 'the last answers come from tasks with the new value')
  const fresh = await c.running('app')
  t.notOk(fresh.some((x) => appTasks.some((o) => o.id === x.id)), 'every task was replaced')
  for (const x of fresh) {
    t.equal((await exec(x, 'app', 'cat /run/secrets/db_password')).stdout, value2, `${nodeOf(x).name}: the new task reads the new value`)
  }
  for (const n of [w1, w2]) {
    const live = fresh.filter((x) => nodeOf(x) === n).map((x) => x.id).sort()
    await waitFor(async () => {
      const dirs = (await n.exec(['ls', `/run/mesh/${n.name}/tasks`])).stdout.trim().split('\n').filter(Boolean)
      const mounted = (await n.exec(['findmnt', '-rn', '-S', 'mesh-task-files', '-o', 'TARGET'])).stdout.trim().split('\n').filter(Boolean)
      const want = live.map((id) => `/run/mesh/${n.name}/tasks/${id}`).join()
      return dirs.sort().join() === live.join() && mounted.sort().join() === want ? dirs : null
    }, 20_000, { intervalMs: 500, what: `${n.name}: only the live tasks' files and tmpfs mounts left` })
    t.pass(`${n.name}: the old tasks' tmpfs unmounted and removed, the ${live.length} new one(s) kept`)
  }
  await c.mesh(['service', 'rm', 'app', 'plain'])
}
