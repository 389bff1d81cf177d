import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'
import type { NodeIdentity } from '../../pki/index.ts'

/**
 * The API's mutual TLS, seen from a request: the certificate chain the client presented (PEM, leaf first) and the
 * identity it proves, verified once per chain (src/pki verifyPeerCertificate through the manager's CA) and again
 * when the trusted roots change. The server asks every client for a certificate but lets a client without one
 * finish the handshake: such a caller is anonymous and reaches only GET /v1/ca and the join route (join token).
 */

/** What `listen` needs to serve TLS 1.3: our key, our chain (PEM), and the roots client certificates must chain to. */
export interface ServerTls {
  key: string
  cert: string
  ca: string[]
}

/** TLS options of the API server: TLS 1.3 only, client certificates requested (verified by the app, see above). */
export function serverTlsOptions(t: ServerTls, handshakeTimeoutMs: number): Record<string, unknown> {
  return { key: t.key, cert: t.cert, ca: t.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3', handshakeTimeout: handshakeTimeoutMs }
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n')
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`
}

/** The chain a TLS peer presented, as PEM (at most 4 certificates), or null when it sent none. */
export function peerChainPem(socket: TLSSocket): string | null {
  if (typeof socket.getPeerCertificate !== 'function') return null
  const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate | null
  if (!leaf?.raw) return null
  const parts: string[] = []
  const seen = new Set<string>()
  let c: DetailedPeerCertificate | undefined = leaf
  while (c?.raw && parts.length < 4 && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256)
    parts.push(toPem(c.raw))
    c = c.issuerCertificate
  }
  return parts.join('')
}

/** Verified chains by their text (the same client reconnecting is not verified again), bounded, oldest dropped. */
const verified = new Map<string, { roots: string; identity: Promise<NodeIdentity> }>()
const MAX_CACHED = 4096

/**
 * The identity a certificate chain proves, verified once per chain and set of trusted roots (a new connection of a
 * known client costs a map lookup). A cached identity past its certificate's notAfter is verified again (and
 * refused). Revocation is not cached: callers check membership and admin serials on every request.
 */
export function connectionIdentity(chainPem: string, rootsKey: string, now: number, verify: (chain: string) => Promise<NodeIdentity>): Promise<NodeIdentity> {
  const hit = verified.get(chainPem)
  if (hit && hit.roots === rootsKey) {
    return hit.identity.then((id) => (id.notAfter > now ? id : fresh(chainPem, rootsKey, verify)))
  }
  return fresh(chainPem, rootsKey, verify)
}

function fresh(chainPem: string, rootsKey: string, verify: (chain: string) => Promise<NodeIdentity>): Promise<NodeIdentity> {
  const identity = verify(chainPem)
  identity.catch(() => verified.delete(chainPem)) // a refusal is answered by the caller and not remembered
  verified.delete(chainPem)
  verified.set(chainPem, { roots: rootsKey, identity })
  if (verified.size > MAX_CACHED) verified.delete(verified.keys().next().value as string)
  return identity
}
