/**
 * End-to-end, the trust issue on a 1+3 lab (a dockerd each), as an attacker on the underlay and an operator see it:
 * a capture of the underlay bridge from before the workers join, through a service created with a secret env value
 * and `--with-registry-auth`, its logs and remote events, holds none of those secrets; plain HTTP and TLS 1.2 to
 * 7947 get nothing; standard clients (curl) verify the manager by its IP SAN with an admin bundle from
 * `mesh ca issue-client`; the join token, a worker certificate and a revoked client are refused; node certificates
 * with a 2-minute lifetime renew; `mesh ca rotate` under a request loop through a published port fails no request;
 * `mesh node rm` ends a node's certificate at once; gossip is encrypted by default and `mesh key rotate` (and the
 * automatic rotation, every minute here) under a request loop fails no request, decrypts every packet and suspects
 * no more members than a control window of the same length. Addresses: only the lab's own namespaces.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isRoot, type LabNode } from '../lab/index.ts'
import { MESH_BIN, sleep, waitFor } from '../support/procs.ts'
import { meshLab, type MeshLab, type Node } from '../support/mesh-lab.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(480_000)

let pcap = ''
let capture = ''
/** Capture mesh's ports on the underlay bridge (in the lab's own net namespace), bounded to 10 minutes. */
async function startCapture(c: MeshLab): Promise<void> {
  pcap = join(c.manager.dir, 'underlay.pcap')
  const r = await c.lab.client.exec(['sh', '-c',
    `timeout -s INT 600 tcpdump -i lab0 -U -s 0 -w ${pcap} 'tcp port 7947 or port 7946' >/dev/null 2>&1 & echo $!`])
  capture = r.stdout.trim()
  await sleep(1500) // tcpdump attached
}

const c = await meshLab(t, { nodes: 4, prefix: `trust${randomBytes(3).toString('hex')}`, managerArgs: ['--cert-expiry', '2m', '--gossip-key-rotation', '1m'], beforeJoin: startCapture })
const [mgr, w1, w2, w3] = c.lab.nodes as [LabNode, LabNode, LabNode, LabNode]
const API = `${mgr.ip}:7947`
const envSecret = randomBytes(16).toString('hex')
const regPassword = randomBytes(12).toString('hex')
const regAuth = Buffer.from(`ci-user:${regPassword}`).toString('base64')
const bundle = join(mgr.dir, 'ops-bundle')
const WEB = ['sh', '-c', 'echo "secret=$SECRET"; mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']

/** The mesh CLI on `on` with extra environment (HOME for the docker config, MESH_HOST/MESH_CERT_PATH for remote). */
function meshEnv(on: LabNode, env: Record<string, string>, args: string[], timeoutMs = 120_000) {
  const vars = Object.entries({ MESH_DATA_DIR: c.dataDir(on), ...env }).map(([k, v]) => `${k}=${v}`)
  return on.exec(['env', ...vars, 'node', MESH_BIN, ...args], { timeoutMs })
}
const remote = (on: LabNode, args: string[], certPath = bundle) => meshEnv(on, { MESH_HOST: `tcp://${API}`, MESH_CERT_PATH: certPath }, args)
const curl = (on: LabNode, args: string[]) => on.exec(['curl', '-s', '-m', '5', ...args])
const tlsOf = (n: LabNode) => ({ cert: join(c.dataDir(n), 'tls/node.pem'), key: join(c.dataDir(n), 'tls/node-key.pem'), ca: join(c.dataDir(n), 'tls/ca.pem') })

t.test('a capture of the underlay holds no token, credential, env value or registry password', async (t) => {
  const home = join(mgr.dir, 'home')
  mkdirSync(join(home, '.docker'), { recursive: true })
  writeFileSync(join(home, '.docker/config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: regAuth } } }))
  const created = await meshEnv(mgr, { HOME: home }, ['service', 'create', '--name', 'web', '--update-monitor', '1s', '--replicas', '3', '-p', '8080:80',
    '--env', `SECRET=${envSecret}`, '--with-registry-auth', 'mesh/busybox:latest', ...WEB], 180_000)
  t.equal(created.code, 0, `service created with a secret env value and registry auth (${created.stderr.trim()})`)
  const issued = await c.mesh(['ca', 'issue-client', 'ops', '--out', bundle])
  t.equal(issued.code, 0, `admin bundle issued (${issued.stderr.trim()})`)
  const logs = await remote(w1, ['service', 'logs', 'web'])
  t.match(logs.stdout, `secret=${envSecret}`, 'the task logs (uploaded by each agent) reach a remote CLI')
  const inspect = await remote(w1, ['service', 'inspect', 'web'])
  t.match(inspect.stdout, envSecret, 'a remote admin reads the spec over TLS')
  const events = await w1.exec(['env', `MESH_HOST=tcp://${API}`, `MESH_CERT_PATH=${bundle}`, 'timeout', '10', 'node', MESH_BIN, 'events', '--since', '10m'], { timeoutMs: 30_000 })
  t.match(events.stdout, /web/, `remote events arrive (${events.stderr.trim()})`)
  const managerToken = (await c.mesh(['token', 'show', 'manager', '-q'])).stdout.trim()
  await c.lab.client.exec(['kill', '-INT', capture])
  await sleep(1000)
  const bytes = readFileSync(pcap)
  t.ok(bytes.length > 20_000, `the capture saw mesh's traffic (${bytes.length} bytes)`)
  const text = bytes.toString('latin1')
  const secrets: [string, string][] = [
    ['worker token', c.token], ['worker token secret', c.token.slice(-32)], ['manager token secret', managerToken.slice(-32)],
    ['env value', envSecret], ['registry password', regPassword], ['registry auth', regAuth],
    ['a worker key', readFileSync(tlsOf(w2).key, 'utf8').split('\n')[1] as string],
  ]
  for (const [what, s] of secrets) t.notOk(text.includes(s), `no ${what} in the capture`)
  t.notOk(/HTTP\/1\.1 \d{3}|GET \/v1\//.test(text), 'no plain HTTP on 7947')
})

t.test('plain HTTP and TLS 1.2 get nothing; standard clients verify the manager; only admin certificates administer', async (t) => {
  const plain = await c.lab.client.exec(['curl', '-s', '-m', '5', '-o', '-', '-w', '\n%{http_code}', `http://${API}/v1/nodes`])
  t.not(plain.code, 0, `plain HTTP fails (curl exit ${plain.code})`)
  t.notMatch(plain.stdout, /hostname|\[\{/, 'and gets no data')
  const tls12 = await c.lab.client.exec(['sh', '-c', `openssl s_client -connect ${API} -tls1_2 </dev/null 2>&1`], { timeoutMs: 15_000 })
  t.match(tls12.stdout, /alert protocol version/, 'TLS 1.2 is refused with a protocol-version alert')
  t.match(tls12.stdout, /no peer certificate available/, 'before any certificate is shown')
  const b = { ca: join(bundle, 'ca.pem'), cert: join(bundle, 'cert.pem'), key: join(bundle, 'key.pem') }
  const listed = await curl(w1, ['--cacert', b.ca, '--cert', b.cert, '--key', b.key, `https://${API}/v1/nodes`])
  t.equal(listed.code, 0, `curl verifies the manager's certificate by its IP SAN (${listed.stderr.trim()})`)
  t.equal((JSON.parse(listed.stdout || '[]') as Node[]).length, 4, 'and lists the nodes')
  const cli = await remote(w2, ['node', 'ls', '--json'])
  t.equal(cli.code, 0, `MESH_HOST + MESH_CERT_PATH from a worker (${cli.stderr.trim()})`)
  const noCert = await meshEnv(w2, { MESH_HOST: `tcp://${API}` }, ['node', 'ls'])
  t.equal(noCert.code, 1)
  t.match(noCert.stderr, /needs a client certificate: on a manager run `mesh ca issue-client/, 'MESH_HOST alone: one line saying what to do')
  const code = (r: { stdout: string }) => r.stdout.trim().split('\n').pop()
  const joinToken = await curl(w1, ['--cacert', b.ca, '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${(await c.mesh(['token', 'show', 'manager', '-q'])).stdout.trim()}`, `https://${API}/v1/nodes`])
  t.equal(code(joinToken), '401', 'the manager join token is not an admin credential')
  const worker = tlsOf(w1)
  const asWorker = await curl(w1, ['--cacert', worker.ca, '--cert', worker.cert, '--key', worker.key, '-o', '/dev/null', '-w', '%{http_code}', `https://${API}/v1/nodes`])
  t.equal(code(asWorker), '403', 'a worker certificate cannot use the cluster API')
  t.equal((await c.mesh(['ca', 'revoke-client', 'ops'])).code, 0)
  const revoked = await curl(w1, ['--cacert', b.ca, '--cert', b.cert, '--key', b.key, '-o', '/dev/null', '-w', '%{http_code}', `https://${API}/v1/nodes`])
  t.equal(code(revoked), '401', 'a revoked client certificate is refused at once')
})

t.test('2-minute certificates renew; mesh ca rotate under load fails no request; node rm ends a certificate', async (t) => {
  const renewed = (n: LabNode) => (c.agents.get(n.name)?.stdout() ?? '').includes('node certificate renewed')
  await waitFor(() => [w1, w2, w3].every(renewed), 150_000, { intervalMs: 2000, what: 'every worker renewed its 2-minute certificate' })
  t.pass('every worker renewed its certificate at two thirds of its life')
  const oldToken = c.token
  const load = c.fetchLoop(w2.ip, 8080, 3000, 0.05, 45)
  await sleep(2000)
  const rotated = await c.mesh(['ca', 'rotate', '--timeout', '2m'], 150_000)
  t.equal(rotated.code, 0, `mesh ca rotate finishes (${rotated.stderr.trim()})`)
  t.match(rotated.stdout, /rotated: 4\/4 nodes renewed/)
  const got = await load
  const failed = got.filter((r) => r.body === 'ERR' || r.body === '').length
  t.ok(got.length > 100, `the request loop ran (${got.length} requests)`)
  t.equal(failed, 0, `0 failed of ${got.length} requests through a published port during the rotation`)
  const newToken = (await c.mesh(['token', 'show', 'worker', '-q'])).stdout.trim()
  t.not(newToken, oldToken, 'the join token pins the new root')
  t.equal(newToken.slice(-32), oldToken.slice(-32), 'with the same secret')
  const nodes = await c.json<Node[]>(['node', 'ls'])
  t.equal(nodes.filter((n) => n.state === 'ready').length, 4, 'every node still ready')
  const ps = await c.running('web')
  t.equal(ps.length, 3, 'every task still running')
  const gone = nodes.find((n) => n.hostname === w3.name) as Node
  await c.killAgent(w3) // stopped first, as an operator would: a removed node gets no new gossip keys
  await waitFor(async () => (await c.json<Node[]>(['node', 'ls'])).find((n) => n.id === gone.id)?.state === 'down', 60_000, { intervalMs: 1000, what: `${w3.name} down` })
  const rm = await c.mesh(['node', 'rm', '--force', gone.id])
  t.equal(rm.code, 0, `node rm --force ${w3.name}`)
  const w3tls = tlsOf(w3)
  const after = await curl(w3, ['--cacert', w3tls.ca, '--cert', w3tls.cert, '--key', w3tls.key, '-o', '/dev/null', '-w', '%{http_code}', `https://${API}/v1/agent/watch`])
  t.equal(after.stdout.trim(), '401', 'the removed node\'s certificate is refused at once')
})

/** Gossip counters summed over the nodes still in the cluster (suspicions started, packets no key decrypted). */
async function gossipCounts(nodes: LabNode[]): Promise<{ suspicions: number; decryptFailures: number }> {
  let suspicions = 0
  let decryptFailures = 0
  for (const n of nodes) {
    const st = JSON.parse((await c.mesh(['status', '--json'], 30_000, n)).stdout) as { counters: { suspicions: number; decryptFailures: number } }
    suspicions += st.counters.suspicions
    decryptFailures += st.counters.decryptFailures
  }
  return { suspicions, decryptFailures }
}

t.test('gossip is encrypted; mesh key rotate and the automatic rotation under load: no failed request, no decrypt failure, no extra suspicion', async (t) => {
  const nodes = [mgr, w1, w2]
  const ls = JSON.parse((await c.mesh(['key', 'ls', '--json'])).stdout) as { encrypted: boolean; version: number; rotatedAt: number }
  t.ok(ls.encrypted, 'the cluster gossips encrypted with no key flag given')
  t.ok(ls.version >= 4, `the automatic rotation (every minute here) has run: keyring version ${ls.version}`)
  const c0 = await gossipCounts(nodes)
  const control = await c.fetchLoop(w2.ip, 8080, 2000, 0.05, 20)
  const c1 = await gossipCounts(nodes)
  const load = c.fetchLoop(w2.ip, 8080, 2000, 0.05, 20)
  await sleep(1000)
  const rotated = await c.mesh(['key', 'rotate'], 60_000)
  const during = await load
  const c2 = await gossipCounts(nodes)
  t.equal(rotated.code, 0, `mesh key rotate finishes (${rotated.stderr.trim()})`)
  t.match(rotated.stdout, /step 3\/3: old key removed from every node/)
  const failed = (rs: { body: string }[]) => rs.filter((r) => r.body === 'ERR' || r.body === '').length
  t.equal(failed(control), 0, `control window: 0 failed of ${control.length}`)
  t.equal(failed(during), 0, `rotation window: 0 failed of ${during.length} requests`)
  t.equal(c2.decryptFailures, 0, 'no packet failed to decrypt on any node, through every rotation of this run')
  const suspectedInRotation = c2.suspicions - c1.suspicions
  const suspectedInControl = c1.suspicions - c0.suspicions
  t.ok(suspectedInRotation <= suspectedInControl, `suspicions: ${suspectedInRotation} during the rotation, ${suspectedInControl} in the control window`)
})
