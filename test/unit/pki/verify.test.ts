import t from 'tap'
import {
  type ClusterCa,
  createClusterCa,
  createNodeKeyAndCsr,
  crossSignRoot,
  needsRenewal,
  renewalDueAt,
  type SignNodeCsrOptions,
  signNodeCsr,
  verifyPeerCertificate,
} from '../../../src/pki/index.ts'
import { loadClusterCa } from '../../../src/pki/ca.ts'
import { x509 } from '../../../src/pki/x509.ts'
import { DAY, NOW, rejectsWith } from './fixtures.ts'

const ca = await createClusterCa({ clusterId: 'c1', now: NOW - DAY })
const otherCa = await createClusterCa({ clusterId: 'c1', now: NOW - DAY })
const { csrPem } = await createNodeKeyAndCsr()
const issue = (options: Partial<SignNodeCsrOptions> = {}, from: ClusterCa = ca) =>
  signNodeCsr(from, csrPem, { nodeId: 'node-a', role: 'worker', clusterId: 'c1', now: NOW, ...options })

/** A certificate signed by the CA key with hand-picked fields, for shapes signNodeCsr would never produce. */
async function craft(subject: x509.JsonName, extensions: x509.Extension[]): Promise<string> {
  const issuer = await loadClusterCa(ca)
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer.cert.subjectName,
    publicKey: new x509.Pkcs10CertificateRequest(csrPem).publicKey,
    signingKey: issuer.keys.privateKey,
    serialNumber: '4a01',
    notBefore: new Date(NOW - DAY),
    notAfter: new Date(NOW + DAY),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  })
  return cert.toString('pem')
}
const NODE_EKU = new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth])

t.test('a node certificate verifies to the identity the manager put in it', async (t) => {
  const leaf = await issue({ nodeId: 'node-m', role: 'manager' })
  const id = await verifyPeerCertificate(leaf, [ca.certPem], NOW)
  t.match(id, { nodeId: 'node-m', role: 'manager', clusterId: 'c1', notAfter: NOW + 90 * DAY })
  t.match(id.serial, /^[0-9a-f]{32}$/)
  t.same(await verifyPeerCertificate(leaf + ca.certPem, [otherCa.certPem, ca.certPem], NOW), id, 'root sent along, several trusted')
})

t.test('refusals, each with its problem', async (t) => {
  const leaf = await issue()
  const serial = (await verifyPeerCertificate(leaf, [ca.certPem], NOW)).serial
  const shortCa = await createClusterCa({ clusterId: 'c1', now: NOW - DAY, lifetimeMs: 2 * DAY })
  const rogueRoot = await createClusterCa({ clusterId: 'c1', now: NOW - DAY })
  const cases: { name: string; chain: string | Promise<string>; roots?: string[]; now?: number; revoked?: { nodeIds?: Set<string>; serials?: Set<string> }; problem: string; message: RegExp }[] = [
    { name: 'garbage', chain: 'hello', problem: 'malformed', message: /unreadable: text outside CERTIFICATE blocks/ },
    { name: 'empty', chain: '', problem: 'malformed', message: /unreadable: no CERTIFICATE block/ },
    { name: 'key pasted after', chain: leaf + ca.keyPem, problem: 'malformed', message: /outside CERTIFICATE blocks/ },
    { name: 'four certificates', chain: leaf + leaf + leaf + leaf, problem: 'malformed', message: /4 certificates; at most 3/ },
    { name: 'other CA', chain: leaf, roots: [otherCa.certPem], problem: 'untrusted', message: /not issued by a trusted cluster CA/ },
    { name: 'issued by a rogue root, root sent along', chain: issue({}, rogueRoot).then((l) => l + rogueRoot.certPem), problem: 'untrusted', message: /trusted/ },
    { name: 'expired', chain: leaf, now: NOW + 90 * DAY + 1000, problem: 'expired', message: /^peer certificate expired at / },
    { name: 'not yet valid', chain: leaf, now: NOW - 2 * 60 * 60 * 1000, problem: 'not-yet-valid', message: /not valid before/ },
    { name: 'root expired', chain: issue({}, shortCa), roots: [shortCa.certPem], now: NOW + DAY + 1000, problem: 'expired', message: /cluster CA .* expired/ },
    { name: 'the CA itself', chain: ca.certPem, problem: 'not-a-node-cert', message: /not a node certificate/ },
    { name: 'no EKU', chain: craft([{ CN: ['n'] }, { OU: ['worker'] }, { O: ['c1'] }], []), problem: 'not-a-node-cert', message: /CN=n, OU=worker, O=c1 is not a node/ },
    { name: 'clientAuth only', chain: craft([{ CN: ['n'] }, { OU: ['worker'] }, { O: ['c1'] }], [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])]), problem: 'not-a-node-cert', message: /not a node/ },
    { name: 'no OU', chain: craft([{ CN: ['n'] }, { O: ['c1'] }], [NODE_EKU]), problem: 'not-a-node-cert', message: /not a node/ },
    { name: 'two CNs', chain: craft([{ CN: ['n', 'm'] }, { OU: ['worker'] }, { O: ['c1'] }], [NODE_EKU]), problem: 'not-a-node-cert', message: /not a node/ },
    { name: 'role root', chain: craft([{ CN: ['n'] }, { OU: ['root'] }, { O: ['c1'] }], [NODE_EKU]), problem: 'bad-role', message: /node n has role "root"; expected worker, manager or admin/ },
    { name: 'other cluster', chain: craft([{ CN: ['n'] }, { OU: ['worker'] }, { O: ['c2'] }], [NODE_EKU]), problem: 'wrong-cluster', message: /names cluster c2, not this one/ },
    { name: 'revoked node', chain: leaf, revoked: { nodeIds: new Set(['node-a']) }, problem: 'revoked', message: /node node-a \(serial [0-9a-f]+\) is revoked/ },
    { name: 'revoked serial', chain: leaf, revoked: { serials: new Set([serial]) }, problem: 'revoked', message: /revoked/ },
  ]
  for (const c of cases) {
    const chain = await c.chain
    await rejectsWith(
      t,
      () => verifyPeerCertificate(chain, c.roots ?? [ca.certPem], c.now ?? NOW, { revoked: c.revoked }),
      { code: 'MESH_ERR_PEER_CERT', problem: c.problem, message: c.message },
      c.name,
    )
  }
  t.ok(await verifyPeerCertificate(leaf, [ca.certPem], NOW, { revoked: { nodeIds: new Set(['node-b']), serials: new Set(['4a01']) } }), 'others revoked: still fine')
  await rejectsWith(t, () => verifyPeerCertificate(leaf, [], NOW), { code: 'MESH_ERR_PKI', message: /no trusted cluster CA/ }, 'no roots')
  await rejectsWith(t, () => verifyPeerCertificate(leaf, ['x'], NOW), { code: 'MESH_ERR_PKI', message: /trusted root 0 is unreadable/ }, 'bad root')
  await rejectsWith(t, () => verifyPeerCertificate(leaf, [ca.certPem, leaf], NOW), { code: 'MESH_ERR_PKI', message: /trusted root 1 \(CN=node-a, OU=worker, O=c1\) is not a CA/ }, 'a leaf as root')
})

t.test('renewal at two thirds of the life, on an injected clock', async (t) => {
  const leaf = await issue({ lifetimeMs: 90 * DAY })
  const notBefore = NOW - 60 * 60 * 1000
  const due = notBefore + Math.floor(((NOW + 90 * DAY - notBefore) * 2) / 3)
  t.equal(renewalDueAt(leaf), due)
  t.equal(renewalDueAt(leaf + ca.certPem), due, 'a chain: its first certificate (the leaf) decides')
  const cases = [
    { name: 'fresh', now: NOW, want: false },
    { name: 'day 59', now: NOW + 59 * DAY, want: false },
    { name: 'one ms before', now: due - 1, want: false },
    { name: 'at two thirds', now: due, want: true },
    { name: 'day 89', now: NOW + 89 * DAY, want: true },
    { name: 'expired', now: NOW + 91 * DAY, want: true },
  ]
  for (const c of cases) t.equal(needsRenewal(leaf, c.now), c.want, c.name)
  const renewed = await issue({ now: due })
  t.equal(needsRenewal(renewed, due), false, 'a renewed certificate starts a new life')
  t.ok(await verifyPeerCertificate(renewed, [ca.certPem], NOW + 89 * DAY), 'and verifies after the old one would have lapsed')
})

t.test('rotation: a new leaf with the cross-signed intermediate verifies under either root', async (t) => {
  const newCa = await createClusterCa({ clusterId: 'c1', now: NOW })
  const bridge = await crossSignRoot(ca, newCa, { now: NOW })
  const newLeaf = await issue({ nodeId: 'node-n' }, newCa)
  const oldLeaf = await issue({ nodeId: 'node-o' })
  t.equal((await verifyPeerCertificate(newLeaf + bridge, [ca.certPem], NOW)).nodeId, 'node-n', 'old root + bridge')
  t.equal((await verifyPeerCertificate(newLeaf + bridge, [newCa.certPem], NOW)).nodeId, 'node-n', 'new root, bridge ignored')
  t.equal((await verifyPeerCertificate(newLeaf, [newCa.certPem], NOW)).nodeId, 'node-n', 'new root alone')
  t.equal((await verifyPeerCertificate(oldLeaf, [ca.certPem, newCa.certPem], NOW)).nodeId, 'node-o', 'old leaf while both trusted')
  await rejectsWith(t, () => verifyPeerCertificate(newLeaf, [ca.certPem], NOW), { code: 'MESH_ERR_PEER_CERT', problem: 'untrusted' }, 'old root without the bridge')
  await rejectsWith(t, () => verifyPeerCertificate(oldLeaf, [newCa.certPem], NOW), { code: 'MESH_ERR_PEER_CERT', problem: 'untrusted' }, 'old leaf after the old root is dropped')
  const foreignBridge = await crossSignRoot(otherCa, newCa, { now: NOW })
  await rejectsWith(t, () => verifyPeerCertificate(newLeaf + foreignBridge, [ca.certPem], NOW), { code: 'MESH_ERR_PEER_CERT', problem: 'untrusted' }, 'bridge from a root we do not trust')
})
