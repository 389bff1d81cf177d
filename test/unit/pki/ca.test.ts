import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { createClusterCa, crossSignRoot, DEFAULT_CA_LIFETIME_MS } from '../../../src/pki/index.ts'
import { x509 } from '../../../src/pki/x509.ts'
import { DAY, NOW, rejectsWith, seededBytes } from './fixtures.ts'

t.test('createClusterCa: self-signed P-256 root, CA constraints, 20-year default life', async (t) => {
  const ca = await createClusterCa({ clusterId: 'cluster-1', now: NOW, randomBytes: seededBytes(3) })
  t.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/)
  const cert = new X509Certificate(ca.certPem)
  t.match(cert.subject, /^CN=mesh-ca-[0-9a-f]{8}\nO=cluster-1$/)
  t.equal(cert.issuer, cert.subject, 'self-issued')
  t.ok(cert.verify(cert.publicKey), 'self-signed')
  t.equal(cert.ca, true)
  t.equal(cert.publicKey.asymmetricKeyType, 'ec')
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  t.equal(new Date(cert.validFrom).getTime(), NOW)
  t.equal(new Date(cert.validTo).getTime(), NOW + DEFAULT_CA_LIFETIME_MS)
  t.equal(DEFAULT_CA_LIFETIME_MS, 20 * 365 * DAY)
  const parsed = new x509.X509Certificate(ca.certPem)
  const basic = parsed.getExtension(x509.BasicConstraintsExtension)
  t.equal(basic?.ca, true)
  t.equal(basic?.critical, true)
  const usage = parsed.getExtension(x509.KeyUsagesExtension)
  t.equal(usage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, 'keyCertSign + cRLSign only')
  t.equal(usage?.critical, true)
  const again = await createClusterCa({ clusterId: 'cluster-1', now: NOW, randomBytes: seededBytes(3) })
  t.equal(new X509Certificate(again.certPem).serialNumber, cert.serialNumber, 'serial comes from the injected random')
  t.not(again.keyPem, ca.keyPem, 'each CA has its own key')
  const short = await createClusterCa({ clusterId: 'c', now: NOW, lifetimeMs: 2 * DAY })
  t.equal(new Date(new X509Certificate(short.certPem).validTo).getTime(), NOW + 2 * DAY, 'lifetimeMs honoured')
})

t.test('createClusterCa refuses bad options', async (t) => {
  const cases: { name: string; options: { clusterId: string; now: number; lifetimeMs?: number }; message: RegExp }[] = [
    { name: 'empty cluster id', options: { clusterId: '', now: NOW }, message: /cluster id must be/ },
    { name: 'comma in cluster id', options: { clusterId: 'a,O=evil', now: NOW }, message: /cluster id must be/ },
    { name: 'leading dash', options: { clusterId: '-x', now: NOW }, message: /cluster id must be/ },
    { name: 'NaN now', options: { clusterId: 'c', now: Number.NaN }, message: /now must be/ },
    { name: 'zero lifetime', options: { clusterId: 'c', now: NOW, lifetimeMs: 0 }, message: /CA lifetime must be/ },
    { name: 'fractional lifetime', options: { clusterId: 'c', now: NOW, lifetimeMs: 1e6 + 0.5 }, message: /CA lifetime must be/ },
  ]
  for (const c of cases) await rejectsWith(t, () => createClusterCa(c.options), { code: 'MESH_ERR_PKI', message: c.message }, c.name)
})

t.test('crossSignRoot: new subject and key, issued and signed by the old root', async (t) => {
  const oldCa = await createClusterCa({ clusterId: 'c1', now: NOW - 400 * DAY, lifetimeMs: 800 * DAY })
  const newCa = await createClusterCa({ clusterId: 'c1', now: NOW })
  const bridge = new X509Certificate(await crossSignRoot(oldCa, newCa, { now: NOW }))
  const oldCert = new X509Certificate(oldCa.certPem)
  const newCert = new X509Certificate(newCa.certPem)
  t.equal(bridge.subject, newCert.subject)
  t.equal(bridge.issuer, oldCert.subject)
  t.ok(bridge.publicKey.equals(newCert.publicKey), 'carries the new root key')
  t.ok(bridge.verify(oldCert.publicKey), 'signed by the old root key')
  t.notOk(bridge.verify(newCert.publicKey), 'not self-signed')
  t.equal(bridge.ca, true)
  t.equal(new Date(bridge.validTo).getTime(), new Date(oldCert.validTo).getTime(), 'ends with the earlier root')
  t.ok(bridge.checkIssued(oldCert), 'openssl sees the old root as its issuer')
})

t.test('crossSignRoot refuses mismatched or unusable CAs', async (t) => {
  const a = await createClusterCa({ clusterId: 'c1', now: NOW })
  const b = await createClusterCa({ clusterId: 'c2', now: NOW })
  const short = await createClusterCa({ clusterId: 'c1', now: NOW, lifetimeMs: DAY })
  await rejectsWith(t, () => crossSignRoot(a, b, { now: NOW }), { code: 'MESH_ERR_PKI', message: /cluster c1, new CA for c2/ }, 'other cluster')
  await rejectsWith(t, () => crossSignRoot(short, a, { now: NOW + 2 * DAY }), { code: 'MESH_ERR_PKI', message: /already expired/ }, 'expired root')
  await rejectsWith(t, () => crossSignRoot({ certPem: a.certPem, keyPem: b.keyPem }, a, { now: NOW }), { code: 'MESH_ERR_PKI', message: /old CA: the private key does not belong/ }, 'key of another CA')
  await rejectsWith(t, () => crossSignRoot({ certPem: 'nope', keyPem: a.keyPem }, a, { now: NOW }), { code: 'MESH_ERR_PKI', message: /old CA: certificate is unreadable/ }, 'unreadable certificate')
  await rejectsWith(t, () => crossSignRoot(a, { certPem: b.certPem, keyPem: 'nope' }, { now: NOW }), { code: 'MESH_ERR_PKI', message: /new CA key: not an ECDSA P-256 private key/ }, 'unreadable key')
})
