import t from 'tap'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import tls from 'node:tls'
import type { Test } from 'tap'
import type { AddressInfo } from 'node:net'
import {
  type ClusterCa,
  createClusterCa,
  createNodeKeyAndCsr,
  crossSignRoot,
  type NodeRole,
  signNodeCsr,
  verifyPeerCertificate,
} from '../../../src/pki/index.ts'

// Node's tls and openssl check validity against the real clock, so these certificates start now.
const now = Date.now()

interface Node {
  keyPem: string
  certPem: string
}

async function node(ca: ClusterCa, nodeId: string, role: NodeRole): Promise<Node> {
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const certPem = await signNodeCsr(ca, csrPem, { nodeId, role, clusterId: 'c1', ipSans: ['127.0.0.1'], now })
  return { keyPem, certPem }
}

const toPem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`

/**
 * A mutual-TLS server on 127.0.0.1:0 that requires a client certificate, verifies the peer chain with
 * verifyPeerCertificate as well, and answers with the identity it found.
 */
async function startServer(t: Test, server: Node, roots: string[], chain = server.certPem) {
  let accepted = 0
  const srv = tls.createServer(
    { key: server.keyPem, cert: chain, ca: roots, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (socket) => {
      accepted++
      const peer = socket.getPeerCertificate(true)
      let pem = toPem(peer.raw)
      if (peer.issuerCertificate && peer.issuerCertificate !== peer && peer.issuerCertificate.fingerprint256 !== peer.fingerprint256) {
        pem += toPem(peer.issuerCertificate.raw)
      }
      verifyPeerCertificate(pem, roots, Date.now()).then(
        (id) => socket.end(JSON.stringify({ ...id, protocol: socket.getProtocol() })),
        (err: Error) => socket.end(JSON.stringify({ error: err.message })),
      )
    },
  )
  const clientErrors: string[] = []
  srv.on('tlsClientError', (err: Error & { code?: string }) => clientErrors.push(err.code ?? err.message))
  const failedHandshake = once(srv, 'tlsClientError')
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  t.teardown(() => srv.close())
  return { port: (srv.address() as AddressInfo).port, clientErrors, failedHandshake, accepted: () => accepted }
}

function connect(port: number, client: Node, roots: string[], chain = client.certPem): Promise<{ body?: string; error?: string; authorized: boolean }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, key: client.keyPem, cert: chain, ca: roots, rejectUnauthorized: true, minVersion: 'TLSv1.3' })
    let body = ''
    let authorized = false
    socket.on('secureConnect', () => (authorized = socket.authorized))
    socket.on('data', (d: Buffer) => (body += d.toString()))
    socket.on('end', () => resolve({ body, authorized }))
    socket.on('error', (err: Error & { code?: string }) => resolve({ error: err.code ?? err.message, authorized }))
  })
}

const ca = await createClusterCa({ clusterId: 'c1', now })
const otherCa = await createClusterCa({ clusterId: 'c1', now })
const manager = await node(ca, 'manager-1', 'manager')
const worker = await node(ca, 'worker-1', 'worker')
const stranger = await node(otherCa, 'worker-1', 'worker')

t.test('Node tls: mutual TLS 1.3 between two nodes of the cluster CA', async (t) => {
  const { port } = await startServer(t, manager, [ca.certPem])
  const got = await connect(port, worker, [ca.certPem])
  t.equal(got.error, undefined)
  t.equal(got.authorized, true, 'the client verified the server against the root')
  t.match(JSON.parse(got.body as string), { nodeId: 'worker-1', role: 'worker', clusterId: 'c1', protocol: 'TLSv1.3' })
})

t.test('Node tls: a client pinned to another CA refuses the server', async (t) => {
  const { port } = await startServer(t, manager, [ca.certPem])
  const got = await connect(port, worker, [otherCa.certPem])
  // The server sends its root along (OpenSSL completes the chain from `ca`), which this client does not trust.
  t.match(got.error, /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/)
  t.equal(got.body, undefined, 'no answer')
})

t.test('Node tls: the server refuses a client certificate from another CA', async (t) => {
  const { port, clientErrors, failedHandshake, accepted } = await startServer(t, manager, [ca.certPem])
  const got = await connect(port, stranger, [ca.certPem])
  t.ok(got.error !== undefined || got.body === '', 'the client gets no answer')
  t.notOk(got.body?.includes('nodeId'), 'no identity handed out')
  await failedHandshake
  t.equal(accepted(), 0, 'the server never completed a handshake')
  t.ok(clientErrors.length > 0, 'the server reported a failed handshake')
  t.equal((await connect(port, worker, [ca.certPem])).authorized, true, 'the same server still takes a cluster node')
  t.equal(accepted(), 1)
})

t.test('Node tls: during rotation a new-root server with the bridge is accepted by an old-root client', async (t) => {
  const newCa = await createClusterCa({ clusterId: 'c1', now })
  const bridge = await crossSignRoot(ca, newCa, { now })
  const rotated = await node(newCa, 'manager-2', 'manager')
  const { port } = await startServer(t, rotated, [ca.certPem, newCa.certPem], rotated.certPem + bridge)
  const got = await connect(port, worker, [ca.certPem])
  t.equal(got.error, undefined)
  t.equal(got.authorized, true)
  t.match(JSON.parse(got.body as string), { nodeId: 'worker-1' })
})

t.test('openssl verify accepts a node certificate and refuses one of another CA', async (t) => {
  const dir = t.testdir({})
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  const root = file('root.pem', ca.certPem)
  const leaf = file('leaf.pem', worker.certPem)
  for (const purpose of ['sslserver', 'sslclient']) {
    const out = execFileSync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', root, leaf], { encoding: 'utf8' })
    t.equal(out.trim(), `${leaf}: OK`, purpose)
  }
  const foreign = file('foreign.pem', stranger.certPem)
  t.throws(() => execFileSync('openssl', ['verify', '-CAfile', root, foreign], { stdio: 'pipe' }), 'another CA: refused')
  const newCa = await createClusterCa({ clusterId: 'c1', now })
  const bridge = file('bridge.pem', await crossSignRoot(ca, newCa, { now }))
  const newLeaf = file('new-leaf.pem', (await node(newCa, 'worker-2', 'worker')).certPem)
  const out = execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', root, '-untrusted', bridge, newLeaf], { encoding: 'utf8' })
  t.equal(out.trim(), `${newLeaf}: OK`, 'old root + cross-signed intermediate')
  t.throws(() => execFileSync('openssl', ['verify', '-CAfile', root, newLeaf], { stdio: 'pipe' }), 'old root alone: refused')
})
