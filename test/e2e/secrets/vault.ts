/**
 * Part `vault` of test/e2e/secrets.test.ts: secrets and configs on the lab's manager through the CLI, nothing secret
 * at rest. A secret from stdin and a config from a file; `ls` and `inspect` (CLI and the raw API answer) never show
 * the secret's value; a service with registry credentials (the API body the CLI sends with --with-registry-auth: the
 * lab has no registry; its image is local) runs a task on a worker; then the secret value and the registry password,
 * in plain, hex and base64, are in no file of any node's data dir (the manager's manager.db, its WAL, everything)
 * nor in any agent's log; `rm` of the unused ones works. Bounded: ≈ 20 s.
 */
import type { Test } from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { MESH_BIN, waitFor } from '../../support/procs.ts'
import type { SecretsContext } from './context.ts'

/** Every regular file under `dir` (sockets, fifos skipped). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

/** The forms a grep looks for: plain, hex, base64. */
function forms(value: string): Buffer[] {
  const b = Buffer.from(value)
  return [b, Buffer.from(b.toString('hex')), Buffer.from(b.toString('base64'))]
}

export async function run(t: Test, { c }: SecretsContext): Promise<void> {
  const mgr = c.manager
  const tmp = mkdtempSync(join(tmpdir(), 'mesh-e2e-vault-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const SECRET = `s3cret-${randomBytes(12).toString('hex')}`
  const PASSWORD = `regpw-${randomBytes(12).toString('hex')}`
  const CONFIG = `listen 8080; # ${randomBytes(6).toString('hex')}\n`
  writeFileSync(join(tmp, 'secret'), SECRET, { mode: 0o600 })
  writeFileSync(join(tmp, 'app.conf'), CONFIG)
  const sh = (script: string) => mgr.exec(['sh', '-c', `MESH_DATA_DIR=${c.dataDir(mgr)} node ${MESH_BIN} ${script}`], { timeoutMs: 60_000 })
  const api = (method: string, path: string, bodyFile?: string) => mgr.exec(['curl', '-sS', '-m', '10', '--unix-socket', join(c.dataDir(mgr), 'manager.sock'),
    '-X', method, ...(bodyFile ? ['-H', 'content-type: application/json', '--data-binary', `@${bodyFile}`] : []), `http://mesh${path}`], { timeoutMs: 15_000 })

  // ---- create: the secret from stdin (never argv), the config from a file
  const created = await sh(`secret create --label env=e2e db_password - < ${join(tmp, 'secret')}`)
  t.equal(created.code, 0, `secret create: ${created.stderr}`)
  t.match(created.stdout, /^[0-9a-z]{25}\n$/, 'prints the ID')
  const conf = await c.mesh(['config', 'create', 'app_conf', join(tmp, 'app.conf')])
  t.equal(conf.code, 0, `config create: ${conf.stderr}`)
  rmSync(join(tmp, 'secret'))

  // ---- ls / inspect: never the value (CLI output and the raw API answer)
  const shown = [
    await c.mesh(['secret', 'ls']), await c.mesh(['secret', 'ls', '--format', 'json']), await c.mesh(['secret', 'inspect', 'db_password']),
    await c.mesh(['secret', 'inspect', '--pretty', 'db_password']), await api('GET', '/v1/secrets'), await api('GET', '/v1/secrets/db_password'),
  ]
  t.match(shown[0]?.stdout, /^ID\s+NAME\s+DRIVER\s+CREATED\s+UPDATED\n\S+\s+db_password\s/, 'secret ls')
  t.match(JSON.parse(shown[2]?.stdout ?? '[]'), [{ spec: { name: 'db_password', labels: { env: 'e2e' } } }], 'secret inspect: a JSON array')
  for (const [i, r] of shown.entries()) {
    const out = Buffer.from(r.stdout + r.stderr)
    t.notOk(forms(SECRET).some((f) => out.includes(f)) || out.includes('sealed'), `answer ${i}: no value in any form`)
  }
  t.equal((await c.mesh(['secret', 'ls', '-q', '--filter', 'label=env=e2e'])).stdout.trim().length, 25, 'ls -q --filter label=')
  const confShown = await c.mesh(['config', 'inspect', 'app_conf', '--format', '{{.Spec.Data}}'])
  t.equal(Buffer.from(confShown.stdout.trim(), 'base64').toString(), CONFIG, 'a config shows its data (base64), as docker')

  // ---- registry credentials: the body `service create --with-registry-auth` sends, on a worker
  const worker = c.workers[0]!
  writeFileSync(join(tmp, 'svc.json'), JSON.stringify({
    name: 'vaultauth', image: 'mesh/busybox:latest', command: ['sleep', '3600'], constraints: [`node.hostname==${worker.name}`],
    registryAuth: { username: 'e2e', password: PASSWORD, serveraddress: '127.0.0.1:5999' },
  }))
  const svc = await api('POST', '/v1/services?resolveImage=never', join(tmp, 'svc.json'))
  t.notOk(svc.stdout.includes(PASSWORD) || svc.stdout.includes('registryAuth'), 'the create answer hides the credentials')
  await waitFor(async () => ((await c.running('vaultauth')).length === 1 ? true : null), 60_000, { intervalMs: 1000, what: 'vaultauth running' })
  const inspected = await c.mesh(['service', 'inspect', 'vaultauth'])
  t.notOk(inspected.stdout.includes(PASSWORD) || inspected.stdout.includes('registryAuth'), 'service inspect hides them')

  // ---- nothing secret at rest: every file of every node's data dir, and every agent's log so far
  const leaks: string[] = []
  let scanned = 0
  for (const n of c.lab.nodes) {
    for (const f of filesUnder(c.dataDir(n))) {
      let bytes: Buffer
      try {
        bytes = readFileSync(f)
      } catch {
        continue // gone while we walked (a temp file)
      }
      scanned++
      for (const [what, value] of [['secret', SECRET], ['registry password', PASSWORD]] as const) {
        for (const form of forms(value)) if (bytes.includes(form)) leaks.push(`${what} in ${f}`)
      }
    }
    const agent = c.agents.get(n.name)
    const log = Buffer.from(`${agent?.stdout() ?? ''}${agent?.stderr() ?? ''}`)
    for (const value of [SECRET, PASSWORD]) for (const form of forms(value)) if (log.includes(form)) leaks.push(`a value in ${n.name}'s agent log`)
  }
  t.ok(filesUnder(c.dataDir(mgr)).some((f) => f.endsWith('manager.db')), 'the manager\'s store was scanned')
  t.same(leaks, [], `no value in plain, hex or base64 in ${scanned} files of ${c.lab.nodes.length} data dirs, nor in the agents' logs`)

  // ---- rm of unused ones; an unknown one is one line
  t.equal((await c.mesh(['service', 'rm', 'vaultauth'])).code, 0)
  const rm = await c.mesh(['secret', 'rm', 'db_password'])
  t.same([rm.code, rm.stdout], [0, 'db_password\n'], 'secret rm')
  t.equal((await c.mesh(['config', 'rm', 'app_conf'])).code, 0, 'config rm')
  const gone = await c.mesh(['secret', 'inspect', 'db_password'])
  t.same([gone.code, gone.stderr], [1, 'mesh: secret "db_password": not found\n'], 'gone: one line')
  t.equal((await c.mesh(['secret', 'ls', '-q'])).stdout, '', 'none left')
}
