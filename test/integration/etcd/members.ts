/**
 * Real etcd members for the tests of src/manager/etcd, started through the supervisor under test (EtcdMember)
 * on 127.0.0.1 with free ports, a temp data dir and certificates of a test cluster CA. Teardown stops every
 * member by its PID (the supervisor's stop: SIGTERM, then SIGKILL) and removes the temp dir.
 */
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Etcd3 } from 'etcd3'
import { type ClusterCa, createClusterCa, signNodeCsr } from '../../../src/pki/index.ts'
import {
  clientUrls, etcdClient, EtcdMember, issueMemberTls, type MemberCertIssuer, memberConfig, type MemberTls, peerUrl, type StartMode, waitReady, writeMemberTls,
} from '../../../src/manager/etcd/index.ts'

interface Teardown { teardown(fn: () => unknown): void }

export const CLUSTER_ID = 'etcd-test-cluster'

/** Where util-linux `setpriv` exists, members die with the test process even when it is SIGKILLed. */
const PDEATHSIG = existsSync('/usr/bin/setpriv') ? { bin: '/usr/bin/setpriv', binArgs: ['--pdeathsig', 'KILL', '--', 'etcd'] } : {}

/** A port nobody listens on right now (bound on 127.0.0.1 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export function caIssuer(ca: ClusterCa): MemberCertIssuer {
  return { issue: (csr, o) => signNodeCsr(ca, csr, { ...o, now: Date.now() }), trust: () => ({ roots: [ca.certPem] }) }
}

export interface TestMember {
  name: string
  member: EtcdMember
  tls: MemberTls
  /** A client of this member alone (its own endpoints). */
  client: Etcd3
  peerUrl: string
  endpoints: string[]
}

export interface TestCluster {
  ca: ClusterCa
  dir: string
  /** Makes certificates, config and supervisor for `name`, starts it in `mode`, waits until it serves. */
  start(name: string, mode: (peerUrl: string) => Promise<StartMode> | StartMode): Promise<TestMember>
  /** Ports and certificates for `name` without starting it (to learn its peer URL before a memberAdd). */
  prepare(name: string, issuer?: MemberCertIssuer): Promise<{ peerUrl: string; run(mode: StartMode): Promise<TestMember> }>
}

export async function testCluster(t: Teardown): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-etcd-member-test-'))
  const ca = await createClusterCa({ clusterId: CLUSTER_ID, now: Date.now() })
  const members: TestMember[] = []
  t.teardown(async () => {
    const t0 = Date.now()
    for (const m of members) m.client.close()
    await Promise.all(members.map(async (m) => {
      await m.member.stop()
      if (process.env.MESH_TEST_DEBUG) console.error(`teardown: ${m.name} stopped after ${Date.now() - t0} ms`)
    }))
    await rm(dir, { recursive: true, force: true })
  })
  const prepare = async (name: string, issuer: MemberCertIssuer = caIssuer(ca)): Promise<{ peerUrl: string; run(mode: StartMode): Promise<TestMember> }> => {
    const tls = await issueMemberTls(issuer, { nodeId: name, clusterId: CLUSTER_ID, addr: '127.0.0.1' })
    const files = await writeMemberTls(join(dir, name, 'etcd-tls'), tls)
    const config = memberConfig({
      name, addr: '127.0.0.1', dataDir: join(dir, name, 'etcd'), tls: files, clusterToken: CLUSTER_ID, clientPort: await freePort(), peerPort: await freePort(),
    })
    return {
      peerUrl: peerUrl(config),
      async run(mode) {
        const member = new EtcdMember({ config, mode, stopTimeoutMs: 5000, ...PDEATHSIG })
        const endpoints = clientUrls(config)
        const m: TestMember = { name, member, tls, client: etcdClient({ endpoints, tls, callTimeoutMs: 3000 }), peerUrl: peerUrl(config), endpoints }
        members.push(m)
        await member.start()
        try {
          await waitReady(m.client, { name, timeoutMs: 60_000 })
        } catch (err) {
          throw new Error(`${(err as Error).message}\n${member.logs().slice(-5).join('\n')}`)
        }
        return m
      },
    }
  }
  return {
    ca, dir, prepare,
    async start(name, mode) {
      const p = await prepare(name)
      return p.run(await mode(p.peerUrl))
    },
  }
}

/** Polls `check` until it returns a value other than undefined, at most `timeoutMs`; throws `what` otherwise. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
}
