/**
 * Managers on a managed etcd (issue 15 items 2 and 8), with real `etcd` 3.4 members run by the agent's own wiring
 * (agent/cluster.ts openCluster, agent/etcd-member.ts) on 127.0.0.2 and 127.0.0.3, free ports, temp data dirs:
 * `--init --store etcd` starts a one-member etcd; a second agent joins with the manager token, gets its member and
 * the KEK over mutual TLS and runs a manager on its own member; both answer the same; a restart starts the worker
 * side first, then restarts the member from the data dir and opens the manager on it (agent/manager-role.ts);
 * demote refuses what would cost the quorum or the last manager, else removes the member.
 * Every wait is bounded; nothing asserts a duration. Members are stopped by PID (stopControlPlane) in teardown.
 */
import t from 'tap'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type http from 'node:http'
import { openCluster, stopControlPlane, type ClusterParts } from '../../../agent/cluster.ts'
import { createLogger } from '../../../agent/log.ts'
import type { Config } from '../../../src/config/index.ts'
import { createApp, listMembers, listen, RequestRefusedError, type Manager } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { createNodeKeyAndCsr } from '../../../src/pki/index.ts'
import type { Overlay } from '../../../src/overlay/index.ts'
import { freePort } from '../../support/etcd.ts'
import { waitFor } from '../../support/procs.ts'
import { agentConfig, emptyParts, reopenManager } from './agents.ts'

const log = createLogger('silent')
const resources = { nanoCpus: 1e9, memoryBytes: 2 ** 30 }
const WAIT_MS = 60_000

interface Agent {
  name: string
  config: Config
  parts: ClusterParts
  api: http.Server | null
}

/**
 * openCluster as the agent runs it (gossip and the data plane are not needed for the control plane); a restarted
 * manager's half opens after it (startCluster: reopen, serving its API and sockets, retiring on removal).
 */
async function open(a: Agent): Promise<Manager> {
  a.parts = emptyParts()
  try {
    await openCluster(a.config, log, {} as Overlay, a.parts, () => true)
    if (a.parts.reopenManager) await reopenManager(a.config, log, a.parts)
  } catch (err) {
    await stopControlPlane(a.parts)
    throw err
  }
  return a.parts.manager as Manager
}

/** The manager's own node and its API on TCP (what startCluster does, without the worker side). */
async function serveApi(a: Agent): Promise<void> {
  const m = a.parts.manager as Manager
  const addr = a.config.gossip.advertiseAddr
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const self = await m.registerSelf({ hostname: a.name, addr, resources }, { csr: csrPem, ipSans: [addr, '127.0.0.1'] }, a.parts.etcd?.member.config.name)
  a.api = await listen(createApp({ manager: m, local: false, apiPort: a.config.cluster.apiPort }, defaultServiceSpec),
    { host: addr, port: a.config.cluster.apiPort, tls: { key: keyPem, cert: self.certificate, ca: m.ca.trust().roots } })
  a.parts.servers.push(a.api)
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof RequestRefusedError) return err.message
    throw err
  }
  return 'not refused'
}

t.test('managers on a managed etcd: init, manager-token join, same answers, restart, demote', async (t) => {
  const apiPort = await freePort('127.0.0.2')
  const a: Agent = { name: 'm1', config: await agentConfig(t, 'm1', '127.0.0.2', { init: true, store: 'etcd', apiPort }), parts: emptyParts(), api: null }
  t.teardown(() => stopControlPlane(a.parts))
  const ma = await open(a)
  t.ok(a.parts.init?.created, 'a new cluster')
  t.ok(a.parts.etcd, 'on its own etcd member')
  await waitFor(() => a.parts.leadership?.leadership.isLeader(), WAIT_MS, { what: 'm1 leads' })
  t.equal(a.parts.leadership?.leadership.leader(), a.parts.etcd!.member.config.name, 'the election on its member: it leads, as its node id')
  const first = a.parts.etcd!.member.config.name
  t.same((await listMembers(a.parts.etcd!.client)).map((m) => m.name), [first], 'one member')
  t.equal(statSync(join(a.config.dataDir, 'etcd')).mode & 0o777, 0o700, 'etcd data dir 0700')
  t.equal(statSync(join(a.config.dataDir, 'etcd-tls', 'member-key.pem')).mode & 0o777, 0o600, 'member key 0600')
  t.match(readFileSync(join(a.config.dataDir, 'etcd-tls', 'ca.pem'), 'utf8'), ma.ca.trust().roots[0] as string, 'the member trusts the cluster CA the store holds')
  await serveApi(a)
  t.equal(ma.getNode('m1')?.id, first, 'the manager node took its member\'s name as its id')
  const secret = await ma.secrets.createSecret({ name: 'db', data: Buffer.from('hunter2').toString('base64') })
  /** The members' names: the managers' node ids. */
  const members = async () => (await listMembers(a.parts.etcd!.client)).map((m) => m.name).sort()
  const ids = (...hosts: string[]) => hosts.map((h) => ma.getNode(h)?.id).sort()

  const b: Agent = {
    name: 'm2', parts: emptyParts(), api: null,
    config: await agentConfig(t, 'm2', '127.0.0.3', { token: ma.tokens().manager, apiPort }),
  }
  b.config.gossip.join = ['127.0.0.2:7946']
  t.teardown(() => stopControlPlane(b.parts))
  let mb = await open(b)

  t.test('the second manager joined with its own member and the KEK', async (t) => {
    t.ok(b.parts.etcd, 'runs its own member')
    t.equal(b.parts.link, null, 'the worker link gave way to the manager')
    t.same(await members(), ids('m1', 'm2'), 'two members, named by the node ids')
    t.equal(b.parts.etcd?.member.config.name, mb.getNode('m2')?.id)
    t.equal(mb.getNode('m2')?.role, 'manager', 'registered as a manager')
    const kek = join(b.config.dataDir, 'vault', 'kek')
    t.equal(statSync(kek).mode & 0o777, 0o600, 'kek 0600')
    t.equal(statSync(join(b.config.dataDir, 'vault')).mode & 0o777, 0o700, 'vault folder 0700')
    t.same(readFileSync(kek, 'utf8'), readFileSync(join(a.config.dataDir, 'vault', 'kek'), 'utf8'), 'the cluster\'s KEK')
    t.same(mb.fileValues('secrets', [secret.id]), [{ id: secret.id, data: Buffer.from('hunter2').toString('base64') }], 'it opens the secrets made before it joined')
  })

  t.test('both answer the same service ls after a create through either', async (t) => {
    await ma.createService(defaultServiceSpec('web', 'mesh/busybox:1'))
    await mb.createService(defaultServiceSpec('api', 'mesh/busybox:1'))
    const names = (m: Manager) => m.listServices().map((s) => s.spec.name).sort().join(',')
    await waitFor(() => names(ma) === 'api,web' && names(mb) === 'api,web', WAIT_MS, { what: 'both managers list web and api' })
    t.same(ma.listServices(), mb.listServices(), 'the same records')
  })

  t.test('a restarted manager restarts its member from the data dir', async (t) => {
    await stopControlPlane(b.parts)
    mb = await open(b)
    t.equal(b.parts.init?.created, false)
    t.same(mb.listServices().map((s) => s.spec.name).sort(), ['api', 'web'], 'the state is there')
    t.same((await listMembers(b.parts.etcd!.client)).map((m) => m.name).sort(), ids('m1', 'm2'), 'still two members')
  })

  t.test('demote: refused while it would cost the quorum, and for the last manager; else the member goes first', async (t) => {
    await stopControlPlane(b.parts) // m2's member is down: removing m1 would leave 0 of 1 reachable
    t.equal(await refusal(ma.updateNode('m1', { role: 'worker' })),
      'node "m1": removing its etcd member would leave 0 of 1 managers reachable, fewer than a quorum (1); bring the unreachable managers back first')
    t.same(await members(), ids('m1', 'm2'), 'no member removed')
    mb = await open(b) // a restart: serveManager watches for the member's removal (retireOnRemoval)
    await waitFor(() => mb.getNode('m2')?.role === 'manager', WAIT_MS, { what: 'm2 back' })
    const demoted = await ma.updateNode('m2', { role: 'worker' })
    t.equal(demoted.role, 'worker')
    t.same(await members(), ids('m1'), 'm2\'s member removed')
    t.equal(await refusal(ma.updateNode('m1', { role: 'worker' })), 'node "m1" is the last manager: cannot demote it (promote another node first)')
    t.same(await members(), ids('m1'), 'm1 stays')
  })

  t.test('the demoted manager stops its manager and member and deletes <data-dir>/etcd', async (t) => {
    // Retiring ends with node.json rewritten (after the etcd dirs go): wait for the whole of it, then look.
    const role = (): unknown => { try { return (JSON.parse(readFileSync(join(b.config.dataDir, 'node.json'), 'utf8')) as { role?: unknown }).role } catch { return undefined } }
    await waitFor(() => b.parts.manager === null && !existsSync(join(b.config.dataDir, 'etcd')) && role() === 'worker', WAIT_MS, { what: 'm2 retired' })
    t.equal(b.parts.etcd, null, 'no member')
    t.equal(b.parts.store, null, 'no store')
    t.notOk(existsSync(join(b.config.dataDir, 'etcd-tls')), 'its member certificates deleted')
    t.match(JSON.parse(readFileSync(join(b.config.dataDir, 'node.json'), 'utf8')), { role: 'worker', manager: `127.0.0.2:${apiPort}` }, 'node.json names the remaining manager')
  })
})

t.test('autolock: the KEK reaches a new manager sealed; it starts locked and the cluster\'s unlock key opens it', async (t) => {
  const apiPort = await freePort('127.0.0.4')
  const a: Agent = { name: 'l1', config: await agentConfig(t, 'l1', '127.0.0.4', { init: true, store: 'etcd', autolock: true, apiPort }), parts: emptyParts(), api: null }
  t.teardown(() => stopControlPlane(a.parts))
  const ma = await open(a)
  const unlockKey = a.parts.init?.unlockKey as string
  t.ok(unlockKey, 'the new cluster has an unlock key')
  await serveApi(a)
  const secret = await ma.secrets.createSecret({ name: 'db', data: Buffer.from('hunter2').toString('base64') })
  const b: Agent = { name: 'l2', parts: emptyParts(), api: null, config: await agentConfig(t, 'l2', '127.0.0.5', { token: ma.tokens().manager, apiPort }) }
  b.config.gossip.join = ['127.0.0.4:7946']
  t.teardown(() => stopControlPlane(b.parts))
  const mb = await open(b)
  const kek = JSON.parse(readFileSync(join(b.config.dataDir, 'vault', 'kek'), 'utf8')) as Record<string, unknown>
  t.ok(kek.locked && !kek.kek, 'the KEK file holds it sealed, never in plain')
  t.equal(mb.vault.locked, true, 'the new manager starts locked')
  t.same(mb.fileValues('secrets', [secret.id]), [], 'and opens no secret')
  await mb.vault.unlock(unlockKey)
  t.equal(mb.vault.locked, false, 'mesh unlock with the cluster\'s key opens it')
  t.same(mb.fileValues('secrets', [secret.id]), [{ id: secret.id, data: Buffer.from('hunter2').toString('base64') }], 'the secrets open')
})
