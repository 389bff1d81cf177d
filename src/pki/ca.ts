import { PkiError } from './errors.ts'
import {
  certificateToPem,
  cryptoRandomBytes,
  generateKeyPair,
  importKeyPair,
  isCaCertificate,
  type KeyAndCert,
  newSerialNumber,
  parseCertificate,
  privateKeyToPem,
  publicKeyDer,
  type RandomBytes,
  SIGNING_ALGORITHM,
  singleField,
  toCertDate,
  x509,
} from './x509.ts'

/** The cluster's root CA: a self-signed certificate and its private key, both PEM. Only managers hold the key. */
export type ClusterCa = KeyAndCert

export const DAY_MS = 24 * 60 * 60 * 1000

/** Root CA lifetime when none is given: 20 years, as Docker Swarm's. */
export const DEFAULT_CA_LIFETIME_MS = 20 * 365 * DAY_MS

/** Cluster and node ids go into certificate subjects: a conservative alphabet keeps them unambiguous there. */
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export function checkIdentifier(what: string, value: unknown): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new PkiError(`${what} must be 1–128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`)
  }
  return value
}

export function checkLifetime(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 60_000) {
    throw new PkiError(`${what} must be a whole number of milliseconds ≥ 60000, got ${value}`)
  }
  return value
}

export function checkNow(now: number): number {
  if (!Number.isFinite(now) || now < 0) throw new PkiError(`now must be milliseconds since the epoch, got ${now}`)
  return now
}

export interface CreateClusterCaOptions {
  readonly clusterId: string
  /** Wall-clock time, ms since the epoch; the certificate is valid from this second. */
  readonly now: number
  /** Default DEFAULT_CA_LIFETIME_MS (20 years). */
  readonly lifetimeMs?: number
  readonly randomBytes?: RandomBytes
}

async function subjectKeyId(publicKey: CryptoKey): Promise<string> {
  const ext = await x509.SubjectKeyIdentifierExtension.create(publicKey)
  return ext.keyId
}

/** CA extensions: basicConstraints CA (critical), keyCertSign + cRLSign (critical), key identifiers. */
async function caExtensions(subjectKey: CryptoKey, issuerKey: CryptoKey): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(subjectKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuerKey),
  ]
}

/**
 * A new self-signed root: CN=mesh-ca-<first 8 hex of its key id>, O=<cluster id>, ECDSA P-256. The key id in the
 * name keeps two roots of one cluster apart during a rotation, when both are trusted at once.
 */
export async function createClusterCa(options: CreateClusterCaOptions): Promise<ClusterCa> {
  const clusterId = checkIdentifier('cluster id', options.clusterId)
  const now = checkNow(options.now)
  const lifetimeMs = checkLifetime('CA lifetime', options.lifetimeMs ?? DEFAULT_CA_LIFETIME_MS)
  const keys = await generateKeyPair()
  const keyId = await subjectKeyId(keys.publicKey)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [`mesh-ca-${keyId.slice(0, 8)}`] }, { O: [clusterId] }],
    keys,
    serialNumber: newSerialNumber(options.randomBytes ?? cryptoRandomBytes),
    notBefore: toCertDate(now),
    notAfter: toCertDate(now + lifetimeMs),
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: await caExtensions(keys.publicKey, keys.publicKey),
  })
  return { certPem: certificateToPem(cert), keyPem: await privateKeyToPem(keys.privateKey) }
}

/** A CA ready to sign: its parsed certificate, its key pair, and the cluster id its subject names. */
export interface LoadedCa {
  readonly cert: x509.X509Certificate
  readonly keys: CryptoKeyPair
  readonly clusterId: string
}

/** Parses a ClusterCa and checks that the key belongs to the certificate and the certificate is a CA. */
export async function loadClusterCa(ca: ClusterCa, what = 'cluster CA'): Promise<LoadedCa> {
  let cert: x509.X509Certificate
  try {
    cert = parseCertificate(ca.certPem)
  } catch (err) {
    throw new PkiError(`${what}: certificate is unreadable: ${(err as Error).message}`, { cause: err })
  }
  if (!isCaCertificate(cert)) throw new PkiError(`${what}: certificate is not a CA (basicConstraints cA is not set)`)
  const clusterId = singleField(cert.subjectName, 'O')
  if (clusterId === undefined) throw new PkiError(`${what}: certificate subject names no single O (cluster id)`)
  const keys = await importKeyPair(ca.keyPem, `${what} key`)
  if (!(await publicKeyDer(keys)).equals(Buffer.from(cert.publicKey.rawData))) {
    throw new PkiError(`${what}: the private key does not belong to the certificate`)
  }
  return { cert, keys, clusterId }
}

export interface CrossSignOptions {
  /** Wall-clock time, ms since the epoch. */
  readonly now: number
  readonly randomBytes?: RandomBytes
}

/**
 * The rotation bridge (swarmkit's cross-signed intermediate): the new root's subject and public key, issued and
 * signed by the old root, valid until the earlier of the two roots expires. A leaf issued by the new root and sent
 * with this certificate verifies for peers that trust only the old root (leaf → cross-signed → old root) and for
 * peers that already trust the new one (leaf → new root). Returns the intermediate as PEM.
 */
export async function crossSignRoot(oldCa: ClusterCa, newCa: ClusterCa, options: CrossSignOptions): Promise<string> {
  const now = checkNow(options.now)
  const old = await loadClusterCa(oldCa, 'old CA')
  const next = await loadClusterCa(newCa, 'new CA')
  if (old.clusterId !== next.clusterId) {
    throw new PkiError(`cannot cross-sign: old CA is for cluster ${old.clusterId}, new CA for ${next.clusterId}`)
  }
  const notAfter = Math.min(old.cert.notAfter.getTime(), next.cert.notAfter.getTime())
  if (notAfter <= now) throw new PkiError('cannot cross-sign: one of the two roots has already expired')
  const cert = await x509.X509CertificateGenerator.create({
    subject: next.cert.subjectName,
    issuer: old.cert.subjectName,
    publicKey: next.keys.publicKey,
    signingKey: old.keys.privateKey,
    serialNumber: newSerialNumber(options.randomBytes ?? cryptoRandomBytes),
    notBefore: toCertDate(now),
    notAfter: new Date(notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: await caExtensions(next.keys.publicKey, old.keys.publicKey),
  })
  return certificateToPem(cert)
}
