import { PkiError, PeerCertificateError } from './errors.ts'
import { CERT_ROLES, type CertRole } from './token.ts'
import { certificateToPem, isCaCertificate, parseCertificate, sameName, singleField, splitCertificates, x509 } from './x509.ts'

/** Who a verified peer certificate says the peer is. */
export interface NodeIdentity {
  readonly nodeId: string
  readonly role: CertRole
  readonly clusterId: string
  /** Lowercase hex, as RevocationList.serials holds it. */
  readonly serial: string
  /** ms since the epoch. */
  readonly notAfter: number
}

/** The revocation hook: node ids removed from the cluster and serials of certificates withdrawn one by one. */
export interface RevocationList {
  readonly nodeIds?: ReadonlySet<string>
  readonly serials?: ReadonlySet<string>
}

export interface VerifyOptions {
  readonly revoked?: RevocationList
}

/** A leaf, a cross-signed intermediate and a root: longer chains are refused. */
const MAX_CHAIN = 3

function checkValidity(cert: x509.X509Certificate, now: number, what: string): void {
  if (now < cert.notBefore.getTime()) {
    throw new PeerCertificateError('not-yet-valid', `${what} is not valid before ${cert.notBefore.toISOString()}`)
  }
  if (now > cert.notAfter.getTime()) {
    throw new PeerCertificateError('expired', `${what} expired at ${cert.notAfter.toISOString()}`)
  }
}

async function signedBy(cert: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  if (!sameName(cert.issuerName, issuer.subjectName)) return false
  try {
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true })
  } catch {
    return false
  }
}

/** Walks leaf → intermediates (from the chain) → a trusted root; returns the root, or throws 'untrusted'. */
async function findTrustAnchor(
  chain: x509.X509Certificate[],
  roots: x509.X509Certificate[],
  now: number,
): Promise<x509.X509Certificate> {
  let current = chain[0] as x509.X509Certificate
  const intermediates = chain.slice(1)
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    for (const root of roots) {
      if (await signedBy(current, root)) {
        checkValidity(root, now, `cluster CA ${root.subject}`)
        return root
      }
    }
    let next: x509.X509Certificate | undefined
    for (const candidate of intermediates) {
      if (isCaCertificate(candidate) && (await signedBy(current, candidate))) next = candidate
    }
    if (next === undefined) break
    checkValidity(next, now, `intermediate CA ${next.subject}`)
    current = next
  }
  throw new PeerCertificateError('untrusted', 'peer certificate is not issued by a trusted cluster CA')
}

/**
 * Verifies a peer's chain (PEM: its certificate first, then any intermediates) against the trusted roots at `now`
 * (ms since the epoch) and returns the node identity it proves. Throws PeerCertificateError naming the problem:
 * malformed, untrusted (wrong CA or bad signature), expired / not-yet-valid (leaf, intermediate or root),
 * not-a-node-cert (a CA, no serverAuth+clientAuth, or no single CN/OU/O), bad-role, wrong-cluster, revoked.
 */
export async function verifyPeerCertificate(
  chainPem: string,
  trustedRoots: readonly string[],
  now: number,
  options: VerifyOptions = {},
): Promise<NodeIdentity> {
  let chain: x509.X509Certificate[]
  try {
    chain = splitCertificates(chainPem)
  } catch (err) {
    throw new PeerCertificateError('malformed', `peer certificate chain is unreadable: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (chain.length > MAX_CHAIN) {
    const message = `peer certificate chain has ${chain.length} certificates; at most ${MAX_CHAIN}`
    throw new PeerCertificateError('malformed', message)
  }
  if (trustedRoots.length === 0) throw new PkiError('no trusted cluster CA to verify a peer against')
  const roots = trustedRoots.map((pem, i) => {
    let root: x509.X509Certificate
    try {
      root = parseCertificate(pem)
    } catch (err) {
      throw new PkiError(`trusted root ${i} is unreadable: ${(err as Error).message}`, { cause: err })
    }
    if (!isCaCertificate(root)) throw new PkiError(`trusted root ${i} (${root.subject}) is not a CA certificate`)
    return root
  })
  const leaf = chain[0] as x509.X509Certificate
  const anchor = await findTrustAnchor(chain, roots, now)
  checkValidity(leaf, now, 'peer certificate')
  return nodeIdentity(leaf, anchor, options.revoked ?? {})
}

function nodeIdentity(leaf: x509.X509Certificate, anchor: x509.X509Certificate, revoked: RevocationList): NodeIdentity {
  const usages = leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []
  const nodeId = singleField(leaf.subjectName, 'CN')
  const role = singleField(leaf.subjectName, 'OU')
  const clusterId = singleField(leaf.subjectName, 'O')
  if (
    isCaCertificate(leaf) ||
    !usages.includes(x509.ExtendedKeyUsage.serverAuth) ||
    !usages.includes(x509.ExtendedKeyUsage.clientAuth) ||
    nodeId === undefined ||
    role === undefined ||
    clusterId === undefined
  ) {
    throw new PeerCertificateError('not-a-node-cert', `peer certificate ${leaf.subject} is not a node certificate`)
  }
  if (!(CERT_ROLES as readonly string[]).includes(role)) {
    const message = `peer certificate for node ${nodeId} has role ${JSON.stringify(role)}; expected worker, manager or admin`
    throw new PeerCertificateError('bad-role', message)
  }
  if (clusterId !== singleField(anchor.subjectName, 'O')) {
    const message = `peer certificate for node ${nodeId} names cluster ${clusterId}, not this one`
    throw new PeerCertificateError('wrong-cluster', message)
  }
  const serial = leaf.serialNumber.toLowerCase()
  if (revoked.nodeIds?.has(nodeId) || revoked.serials?.has(serial)) {
    throw new PeerCertificateError('revoked', `peer certificate for node ${nodeId} (serial ${serial}) is revoked`)
  }
  return { nodeId, role: role as CertRole, clusterId, serial, notAfter: leaf.notAfter.getTime() }
}

/** When a certificate should be renewed: two thirds of the way from notBefore to notAfter (ms since the epoch). */
export function renewalDueAt(certPem: string): number {
  const cert = splitCertificates(certPem)[0] // a chain's first: its leaf (a rotation adds the cross-signed root)
  if (cert === undefined) throw new PkiError('no certificate in PEM text')
  const from = cert.notBefore.getTime()
  return from + Math.floor(((cert.notAfter.getTime() - from) * 2) / 3)
}

/** True once `now` has reached two thirds of the certificate's life. */
export function needsRenewal(certPem: string, now: number): boolean {
  return now >= renewalDueAt(certPem)
}

/** True when `certPem`'s first certificate is signed by the root `rootPem` (names and signature), at any time. */
export async function issuedBy(certPem: string, rootPem: string): Promise<boolean> {
  const cert = splitCertificates(certPem)[0]
  if (cert === undefined) return false
  const root = parseCertificate(rootPem)
  if (!sameName(cert.issuerName, root.subjectName)) return false
  try {
    return await cert.verify({ publicKey: root.publicKey, signatureOnly: true })
  } catch {
    return false
  }
}

/** The serial (lowercase hex) and expiry (ms since the epoch) of the first certificate in `pem`. */
export function certificateInfo(pem: string): { serial: string; notAfter: number } {
  const cert = splitCertificates(pem)[0]
  if (cert === undefined) throw new PkiError('no certificate in PEM text')
  return { serial: cert.serialNumber.toLowerCase(), notAfter: cert.notAfter.getTime() }
}

/** The certificates of a PEM bundle, each as PEM, in order; strict: text outside CERTIFICATE blocks is refused. */
export function pemCertificates(pem: string): string[] {
  return splitCertificates(pem).map(certificateToPem)
}

/**
 * A renewed chain for a certificate that peers verify with the roots they loaded when they started (etcd reads its
 * trusted-CA file once): `issued` as the CA gave it (leaf, then the cross-signed root while a rotation runs), and
 * when it carries no cross-signed root, the one `previous` carried for the CURRENT root (same subject and key,
 * signed by the root before it), while still valid. So a peer that still trusts only the previous root keeps
 * verifying renewals made after the rotation finished, until it restarts with the current roots. At most one is
 * kept: the one for the current root (an older rotation's is dropped).
 */
export function keepCrossSigned(issuedPem: string, previousPem: string, currentRootPem: string, now: number): string {
  const issued = splitCertificates(issuedPem)
  if (issued.length > 1) return issuedPem
  let previous: x509.X509Certificate[]
  try {
    previous = splitCertificates(previousPem).slice(1)
  } catch {
    return issuedPem
  }
  const root = parseCertificate(currentRootPem)
  const rootKey = Buffer.from(root.publicKey.rawData)
  const cross = previous.find((c) => isCaCertificate(c) && sameName(c.subjectName, root.subjectName) && !Buffer.from(c.rawData).equals(Buffer.from(root.rawData)) &&
    Buffer.from(c.publicKey.rawData).equals(rootKey) && c.notBefore.getTime() <= now && now < c.notAfter.getTime())
  return cross ? issuedPem + certificateToPem(cross) : issuedPem
}
