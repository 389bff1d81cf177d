import { isIP } from 'node:net'
import { checkIdentifier, checkLifetime, checkNow, type ClusterCa, DAY_MS, loadClusterCa } from './ca.ts'
import { CsrError, PkiError } from './errors.ts'
import { CERT_ROLES, type CertRole } from './token.ts'
import {
  certificateToPem,
  cryptoRandomBytes,
  generateKeyPair,
  newSerialNumber,
  privateKeyToPem,
  type RandomBytes,
  SIGNING_ALGORITHM,
  toCertDate,
  x509,
} from './x509.ts'

/** Node certificate lifetime when none is given: 90 days, as Docker Swarm's. */
export const DEFAULT_NODE_CERT_LIFETIME_MS = 90 * DAY_MS

/** notBefore is set this far in the past so a peer whose clock runs a little behind accepts a fresh certificate. */
export const CERT_BACKDATE_MS = 60 * 60 * 1000

/**
 * How far notBefore goes back: CERT_BACKDATE_MS, or a tenth of a short lifetime (a 2-minute certificate is not
 * backdated an hour, which would put its renewal point, two thirds of its validity, before it was issued).
 */
export function backdateMs(lifetimeMs: number): number {
  return Math.min(CERT_BACKDATE_MS, Math.floor(lifetimeMs / 10))
}

/** The joining node's half: a fresh key that never leaves it and a CSR carrying only its public half. */
export interface NodeKeyAndCsr {
  readonly keyPem: string
  readonly csrPem: string
}

/**
 * Makes a node key and a CSR for it. The CSR's subject is a hint at most (`nodeIdHint`); the manager decides the
 * names in the certificate.
 */
export async function createNodeKeyAndCsr(options: { nodeIdHint?: string } = {}): Promise<NodeKeyAndCsr> {
  const keys = await generateKeyPair()
  const name = options.nodeIdHint === undefined ? [] : [{ CN: [checkIdentifier('node id hint', options.nodeIdHint)] }]
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name, keys, signingAlgorithm: SIGNING_ALGORITHM })
  return { keyPem: await privateKeyToPem(keys.privateKey), csrPem: csr.toString('pem') + '\n' }
}

export interface SignNodeCsrOptions {
  readonly nodeId: string
  /** worker or manager for a node; admin for a client certificate (mesh ca issue-client). */
  readonly role: CertRole
  readonly clusterId: string
  /** IP addresses the node serves on (IPv4 or IPv6), put in subjectAltName. */
  readonly ipSans?: readonly string[]
  /** DNS names the node serves on, put in subjectAltName. */
  readonly dnsSans?: readonly string[]
  /** Default DEFAULT_NODE_CERT_LIFETIME_MS (90 days); never extends past the CA's own expiry. */
  readonly lifetimeMs?: number
  /** Wall-clock time, ms since the epoch. */
  readonly now: number
  readonly randomBytes?: RandomBytes
}

const LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const DNS_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(\\.${LABEL})*$`)

/** Whether `name` may stand in a certificate's DNS SANs (a host name: labels of letters, digits and hyphens). */
export function isDnsName(name: string): boolean {
  return DNS_NAME.test(name)
}

function subjectAltNames(ipSans: readonly string[], dnsSans: readonly string[]): x509.JsonGeneralNames {
  for (const ip of ipSans) if (isIP(ip) === 0) throw new PkiError(`IP SAN ${JSON.stringify(ip)} is not an IP address`)
  for (const dns of dnsSans) {
    if (!isDnsName(dns)) throw new PkiError(`DNS SAN ${JSON.stringify(dns)} is not a host name`)
  }
  return [
    ...dnsSans.map((value) => ({ type: 'dns' as const, value })),
    ...ipSans.map((value) => ({ type: 'ip' as const, value })),
  ]
}

async function readCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem)
  } catch (err) {
    throw new CsrError(`certificate request is not a PEM PKCS#10 request: ${(err as Error).message}`, { cause: err })
  }
  const algorithm = csr.publicKey.algorithm as Partial<EcKeyAlgorithm>
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    const key = [algorithm.name, algorithm.namedCurve].filter(Boolean).join(' ')
    throw new CsrError(`certificate request key is ${key}; only ECDSA P-256 is issued`)
  }
  let valid = false
  try {
    valid = await csr.verify()
  } catch (err) {
    throw new CsrError(`certificate request signature cannot be checked: ${(err as Error).message}`, { cause: err })
  }
  if (!valid) {
    throw new CsrError('certificate request signature does not match its key (tampered, or made without the key)')
  }
  return csr
}

/**
 * The manager's half: issues a node certificate for the public key in `csrPem`. Everything else the CSR asks for
 * (subject, SANs, extensions) is ignored; the certificate names CN=<node id>, OU=<role>, O=<cluster id>, the SANs
 * given here, serverAuth + clientAuth, and is valid from CERT_BACKDATE_MS before `now` for `lifetimeMs`.
 */
export async function signNodeCsr(ca: ClusterCa, csrPem: string, options: SignNodeCsrOptions): Promise<string> {
  const nodeId = checkIdentifier('node id', options.nodeId)
  const clusterId = checkIdentifier('cluster id', options.clusterId)
  if (!CERT_ROLES.includes(options.role)) {
    throw new PkiError(`role must be worker, manager or admin, got ${String(options.role)}`)
  }
  const now = checkNow(options.now)
  const lifetimeMs = checkLifetime('node certificate lifetime', options.lifetimeMs ?? DEFAULT_NODE_CERT_LIFETIME_MS)
  const sans = subjectAltNames(options.ipSans ?? [], options.dnsSans ?? [])
  const issuer = await loadClusterCa(ca)
  if (issuer.clusterId !== clusterId) {
    throw new PkiError(`cluster CA is for cluster ${issuer.clusterId}, not ${clusterId}`)
  }
  const notAfter = Math.min(now + lifetimeMs, issuer.cert.notAfter.getTime())
  if (notAfter <= now) throw new PkiError('cluster CA has expired; rotate it before issuing node certificates')
  const csr = await readCsr(csrPem)
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
  ]
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans))
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [nodeId] }, { OU: [options.role] }, { O: [clusterId] }],
    issuer: issuer.cert.subjectName,
    publicKey: csr.publicKey,
    signingKey: issuer.keys.privateKey,
    serialNumber: newSerialNumber(options.randomBytes ?? cryptoRandomBytes),
    notBefore: toCertDate(Math.max(now - backdateMs(lifetimeMs), issuer.cert.notBefore.getTime())),
    notAfter: toCertDate(notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  })
  return certificateToPem(cert)
}
