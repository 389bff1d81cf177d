import t from 'tap'
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto'
import {
  CERT_BACKDATE_MS,
  createClusterCa,
  createNodeKeyAndCsr,
  DEFAULT_NODE_CERT_LIFETIME_MS,
  type SignNodeCsrOptions,
  signNodeCsr,
} from '../../../src/pki/index.ts'
import { x509 } from '../../../src/pki/x509.ts'
import { DAY, NOW, rejectsWith, seededBytes } from './fixtures.ts'

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }

const ca = await createClusterCa({ clusterId: 'c1', now: NOW - DAY })
const base: SignNodeCsrOptions = { nodeId: 'node-a', role: 'worker', clusterId: 'c1', now: NOW }

t.test('createNodeKeyAndCsr: a P-256 key that stays local and a self-signed CSR for it', async (t) => {
  const { keyPem, csrPem } = await createNodeKeyAndCsr({ nodeIdHint: 'node-a' })
  t.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/)
  t.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n/)
  t.notOk(csrPem.includes(keyPem.split('\n')[1] as string), 'the CSR does not carry the private key')
  const csr = new x509.Pkcs10CertificateRequest(csrPem)
  t.ok(await csr.verify())
  t.equal(csr.subject, 'CN=node-a')
  t.equal(new x509.Pkcs10CertificateRequest((await createNodeKeyAndCsr()).csrPem).subject, '', 'no hint: empty subject')
  await rejectsWith(t, () => createNodeKeyAndCsr({ nodeIdHint: 'a b' }), { code: 'MESH_ERR_PKI' }, 'bad hint')
})

t.test('signNodeCsr: the fields the manager decides', async (t) => {
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const pem = await signNodeCsr(ca, csrPem, {
    ...base,
    role: 'manager',
    ipSans: ['10.0.0.7', 'fd00::7'],
    dnsSans: ['node-a', 'manager.mesh.internal'],
    randomBytes: seededBytes(9),
  })
  const cert = new X509Certificate(pem)
  const root = new X509Certificate(ca.certPem)
  t.equal(cert.subject, 'CN=node-a\nOU=manager\nO=c1')
  t.equal(cert.issuer, root.subject)
  t.ok(cert.verify(root.publicKey), 'signed by the CA key')
  t.ok(cert.checkPrivateKey(createPrivateKey(keyPem)), 'certifies the node key from the CSR')
  t.equal(cert.ca, false)
  t.same(cert.keyUsage, [SERVER_AUTH, CLIENT_AUTH], 'extended key usage: serverAuth + clientAuth')
  t.equal(cert.subjectAltName, 'DNS:node-a, DNS:manager.mesh.internal, IP Address:10.0.0.7, IP Address:FD00:0:0:0:0:0:0:7')
  t.equal(new Date(cert.validFrom).getTime(), NOW - CERT_BACKDATE_MS, 'backdated for clock skew')
  t.equal(new Date(cert.validTo).getTime(), NOW + DEFAULT_NODE_CERT_LIFETIME_MS, '90 days by default')
  t.equal(DEFAULT_NODE_CERT_LIFETIME_MS, 90 * DAY)
  const parsed = new x509.X509Certificate(pem)
  t.equal(parsed.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature)
  t.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.critical, true)
  const again = await signNodeCsr(ca, csrPem, { ...base, randomBytes: seededBytes(9) })
  t.equal(new X509Certificate(again).serialNumber, cert.serialNumber, 'serial from the injected random')
  const other = await signNodeCsr(ca, csrPem, base)
  t.not(new X509Certificate(other).serialNumber, cert.serialNumber, 'fresh serial otherwise')
  t.equal(new X509Certificate(other).subjectAltName, undefined, 'no SANs asked, none given')
})

t.test('lifetime: honoured, but never past the CA', async (t) => {
  const { csrPem } = await createNodeKeyAndCsr()
  const week = new X509Certificate(await signNodeCsr(ca, csrPem, { ...base, lifetimeMs: 7 * DAY }))
  t.equal(new Date(week.validTo).getTime(), NOW + 7 * DAY)
  const shortCa = await createClusterCa({ clusterId: 'c1', now: NOW, lifetimeMs: 10 * DAY })
  const capped = new X509Certificate(await signNodeCsr(shortCa, csrPem, base))
  t.equal(new Date(capped.validTo).getTime(), NOW + 10 * DAY, 'capped at the CA expiry')
  t.equal(new Date(capped.validFrom).getTime(), NOW, 'never before the CA either')
  await rejectsWith(t, () => signNodeCsr(shortCa, csrPem, { ...base, now: NOW + 11 * DAY }), { code: 'MESH_ERR_PKI', message: /CA has expired/ }, 'expired CA')
})

t.test('a CSR with a forged subject, SANs and CA flag gets only what the manager decided', async (t) => {
  const keys = (await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify'])) as CryptoKeyPair
  const forged = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: ['manager-1'] }, { OU: ['manager'] }, { O: ['c1'] }],
    keys,
    signingAlgorithm: ECDSA,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'evil.example' }, { type: 'ip', value: '10.9.9.9' }]),
      new x509.BasicConstraintsExtension(true, 5, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  })
  const pem = await signNodeCsr(ca, forged.toString('pem'), { ...base, nodeId: 'node-b', role: 'worker', ipSans: ['10.0.0.8'] })
  const cert = new X509Certificate(pem)
  t.equal(cert.subject, 'CN=node-b\nOU=worker\nO=c1')
  t.equal(cert.subjectAltName, 'IP Address:10.0.0.8')
  t.equal(cert.ca, false)
  t.same(cert.keyUsage, [SERVER_AUTH, CLIENT_AUTH])
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey))
  t.ok(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(spki), 'the CSR key is the one certified')
})

t.test('signNodeCsr refuses bad requests and bad options', async (t) => {
  const { csrPem } = await createNodeKeyAndCsr({ nodeIdHint: 'node-aaaa' })
  const der = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).rawData)
  const at = der.indexOf('node-aaaa')
  der.write('node-aaab', at)
  const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST')
  const rsaKeys = (await webcrypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair
  const rsa = await x509.Pkcs10CertificateRequestGenerator.create({ keys: rsaKeys, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' } })
  const other = await createClusterCa({ clusterId: 'c2', now: NOW })
  const cases: { name: string; csr?: string; ca?: typeof ca; options?: Partial<SignNodeCsrOptions>; code: string; message: RegExp }[] = [
    { name: 'tampered subject', csr: tampered, code: 'MESH_ERR_CSR', message: /signature does not match/ },
    { name: 'RSA key', csr: rsa.toString('pem'), code: 'MESH_ERR_CSR', message: /RSASSA-PKCS1-v1_5; only ECDSA P-256/ },
    { name: 'not a CSR', csr: ca.certPem, code: 'MESH_ERR_CSR', message: /not a PEM PKCS#10 request/ },
    { name: 'garbage', csr: 'hello', code: 'MESH_ERR_CSR', message: /not a PEM PKCS#10 request/ },
    { name: 'bad role', options: { role: 'root' as 'worker' }, code: 'MESH_ERR_PKI', message: /role must be worker, manager or admin, got root/ },
    { name: 'node id with comma', options: { nodeId: 'a,OU=manager' }, code: 'MESH_ERR_PKI', message: /node id must be/ },
    { name: 'empty node id', options: { nodeId: '' }, code: 'MESH_ERR_PKI', message: /node id must be/ },
    { name: 'cluster mismatch', options: { clusterId: 'c2' }, code: 'MESH_ERR_PKI', message: /CA is for cluster c1, not c2/ },
    { name: 'other cluster CA', ca: other, code: 'MESH_ERR_PKI', message: /CA is for cluster c2, not c1/ },
    { name: 'bad IP SAN', options: { ipSans: ['10.0.0.256'] }, code: 'MESH_ERR_PKI', message: /IP SAN "10.0.0.256" is not an IP address/ },
    { name: 'bad DNS SAN', options: { dnsSans: ['a_b.example'] }, code: 'MESH_ERR_PKI', message: /DNS SAN "a_b.example" is not a host name/ },
    { name: 'wildcard DNS SAN', options: { dnsSans: ['*.example'] }, code: 'MESH_ERR_PKI', message: /not a host name/ },
    { name: 'negative lifetime', options: { lifetimeMs: -1 }, code: 'MESH_ERR_PKI', message: /lifetime must be/ },
    { name: 'CA key of another CA', ca: { certPem: ca.certPem, keyPem: other.keyPem }, code: 'MESH_ERR_PKI', message: /private key does not belong/ },
    { name: 'empty CA', ca: { certPem: '', keyPem: '' }, code: 'MESH_ERR_PKI', message: /certificate is unreadable/ },
  ]
  for (const c of cases) {
    await rejectsWith(t, () => signNodeCsr(c.ca ?? ca, c.csr ?? csrPem, { ...base, ...c.options }), { code: c.code, message: c.message }, c.name)
  }
})

