/**
 * Certificates for tests of the manager API (mutual TLS on 7947): a CSR for in-process joins, and a TLS listener
 * of an in-process Manager with an admin client, node clients and an anonymous client, as real callers are.
 *
 *   const api = await tlsApi(t, manager)
 *   await jsonRequest(api.target(api.admin), { method: 'GET', path: '/v1/nodes', timeoutMs: 2000 })
 *   const w1 = await api.joinNode('w1')                // a worker joined over the API, with its certificate
 */
import type http from 'node:http'
import { createNodeKeyAndCsr } from '../../src/pki/index.ts'
import { managerCertificateCheck, type ClientTls, type HttpTarget, jsonRequest, defaultServiceSpec } from '../../src/api/index.ts'
import { createApp, listen, type Manager, type JoinResult } from '../../src/manager/index.ts'
import type { ApiLimits } from '../../src/config/index.ts'
import type { Registry } from 'prom-client'
import type { NodeRecord, Resources } from '../../src/api/types.ts'

let shared: Promise<{ keyPem: string; csrPem: string }> | null = null

/** One key and CSR reused by every in-process join of a test process (the manager decides the names anyway). */
export function testKey(): Promise<{ keyPem: string; csrPem: string }> {
  shared ??= createNodeKeyAndCsr()
  return shared
}

export async function testCsr(): Promise<string> {
  return (await testKey()).csrPem
}

const RES: Resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }

/** Join a node in-process with the worker token (or `token`). */
export async function joinAs(m: Manager, hostname: string, o: { addr?: string; resources?: Resources; token?: string } = {}): Promise<JoinResult> {
  return m.join({ token: o.token ?? m.tokens().worker, hostname, addr: o.addr ?? '10.0.0.9', resources: o.resources ?? RES, csr: await testCsr() })
}

interface Teardown { teardown(fn: () => unknown): void }

export interface TlsApi {
  server: http.Server
  port: number
  /** Roots and the manager check, no client certificate. */
  anonymous: ClientTls
  /** An admin client certificate (as `mesh ca issue-client` makes). */
  admin: ClientTls
  target(tls: ClientTls): HttpTarget
  /** Join a node over the API with the worker token (or `token`): its record and its client TLS. */
  joinNode(hostname: string, o?: { token?: string; addr?: string }): Promise<{ node: NodeRecord; tls: ClientTls }>
}

/** The manager's API on 127.0.0.1 with TLS 1.3, as the agent serves it (closed at teardown). */
export async function tlsApi(t: Teardown, m: Manager, o: { limits?: ApiLimits; metrics?: Registry } = {}): Promise<TlsApi> {
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const clusterId = m.clusterInfo().clusterId
  const cert = await m.ca.issue(csrPem, { nodeId: 'api-test', role: 'manager', clusterId, ipSans: ['127.0.0.1'], dnsSans: ['localhost'] })
  const roots = m.ca.trust().roots
  const server = await listen(createApp({ manager: m, local: false, ...(o.metrics ? { metrics: o.metrics } : {}) }, defaultServiceSpec), { host: '127.0.0.1', port: 0, tls: { key: keyPem, cert, ca: roots } }, o.limits)
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections()
    server.close(() => r())
  }))
  const port = (server.address() as { port: number }).port
  const anonymous: ClientTls = { ca: roots, checkServerIdentity: managerCertificateCheck }
  const adminKey = await createNodeKeyAndCsr()
  const adminCert = await m.ca.issue(adminKey.csrPem, { nodeId: 'test-admin', role: 'admin', clusterId })
  const { certificateInfo } = await import('../../src/pki/index.ts')
  const info = certificateInfo(adminCert)
  await m.ca.recordAdminClient({ name: 'test-admin', serial: info.serial, notAfter: info.notAfter })
  const admin: ClientTls = { ...anonymous, cert: adminCert, key: adminKey.keyPem }
  const target = (tls: ClientTls): HttpTarget => ({ host: '127.0.0.1', port, tls })
  return {
    server, port, anonymous, admin, target,
    async joinNode(hostname, jo = {}) {
      const k = await createNodeKeyAndCsr()
      const r = await jsonRequest(target(anonymous), {
        method: 'POST', path: '/v1/agent/join', timeoutMs: 5000,
        headers: { authorization: `Bearer ${jo.token ?? m.tokens().worker}` },
        body: { hostname, addr: jo.addr ?? '10.0.0.9', resources: RES, csr: k.csrPem },
      })
      if (r.status !== 200) throw new Error(`join ${hostname}: ${r.status} ${JSON.stringify(r.body)}`)
      const b = r.body as { nodeId: string; certificate: string; ca: string[] }
      return { node: m.getNode(b.nodeId) as NodeRecord, tls: { ca: b.ca, cert: b.certificate, key: k.keyPem, checkServerIdentity: managerCertificateCheck } }
    },
  }
}
