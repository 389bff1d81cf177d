import { createHash } from 'node:crypto'
import { sameSecret } from '../base/secret.ts'
import { CaPinError, JoinTokenError, PkiError } from './errors.ts'
import { cryptoRandomBytes, isCaCertificate, parseCertificate, type RandomBytes } from './x509.ts'

/**
 * Join tokens that pin the cluster CA, as Docker Swarm's `SWMTKN-1-<CA digest>-<secret>` and kubeadm's
 * `--discovery-token-ca-cert-hash sha256:…` do:
 *
 *     MESHTKN-2-<64 hex: sha256 of the root CA certificate's DER>-<32 hex: 128-bit role secret>
 *
 * The joining node checks the CA it is handed against the digest before it sends the secret; the manager checks
 * the digest and then the secret against the worker and the manager secret, both compared in constant time.
 * (MESHTKN-1, the manager's current token, pins the cluster id instead and is not accepted here.)
 */

export type NodeRole = 'worker' | 'manager'

export const NODE_ROLES: readonly NodeRole[] = ['worker', 'manager']

/**
 * What a certificate's OU may name: a node role, or `admin` — a client certificate for people and tools
 * (`mesh ca issue-client`), never obtainable with a join token.
 */
export type CertRole = NodeRole | 'admin'

export const CERT_ROLES: readonly CertRole[] = ['worker', 'manager', 'admin']

export interface JoinToken {
  /** sha256 of the root CA certificate (DER), 64 lowercase hex digits. */
  readonly caDigest: string
  /** The role secret, 32 lowercase hex digits. */
  readonly secret: string
}

/** The two role secrets a cluster holds; a token carrying one of them joins with that role. */
export interface JoinSecrets {
  readonly worker: string
  readonly manager: string
}

const TOKEN_PREFIX = 'MESHTKN-2-'
const DIGEST = /^[0-9a-f]{64}$/
const SECRET = /^[0-9a-f]{32}$/
const TOKEN = /^MESHTKN-2-([0-9a-f]{64})-([0-9a-f]{32})$/
const TOKEN_SHAPE = 'expected MESHTKN-2-<64 hex digits>-<32 hex digits>'

export function formatJoinToken(token: JoinToken): string {
  if (!DIGEST.test(token.caDigest)) throw new JoinTokenError('join token: CA digest must be 64 lowercase hex digits')
  if (!SECRET.test(token.secret)) throw new JoinTokenError('join token: secret must be 32 lowercase hex digits')
  return `${TOKEN_PREFIX}${token.caDigest}-${token.secret}`
}

/**
 * Parses a token given on a command line or in a file: surrounding whitespace is forgiven, nothing else is.
 * Error messages never repeat the input, which may be a real secret typed into the wrong place.
 */
export function parseJoinToken(text: unknown): JoinToken {
  if (typeof text !== 'string') throw new JoinTokenError(`join token is not text; ${TOKEN_SHAPE}`)
  const trimmed = text.trim()
  if (trimmed.length > 200) throw new JoinTokenError(`join token is ${trimmed.length} characters long; ${TOKEN_SHAPE}`)
  if (trimmed.startsWith('MESHTKN-1-')) {
    throw new JoinTokenError('join token is version 1 (pins the cluster id, not the CA); ask a manager for a new one')
  }
  if (trimmed.startsWith('SWMTKN-')) throw new JoinTokenError('join token is a Docker Swarm token, not a mesh one')
  const m = TOKEN.exec(trimmed)
  if (!m) throw new JoinTokenError(`join token is malformed; ${TOKEN_SHAPE}`)
  return { caDigest: m[1] as string, secret: m[2] as string }
}

/** sha256 hex of the DER of one PEM certificate: what a join token pins. */
export function caDigest(pem: string): string {
  let der: Buffer
  try {
    der = Buffer.from(parseCertificate(pem).rawData)
  } catch (err) {
    throw new CaPinError(`CA certificate is not one PEM certificate: ${(err as Error).message}`, { cause: err })
  }
  return createHash('sha256').update(der).digest('hex')
}

export function newJoinSecret(randomBytes: RandomBytes = cryptoRandomBytes): string {
  return Buffer.from(randomBytes(16)).toString('hex')
}

/** A fresh worker and manager secret; equal ones (128 random bits twice) can only mean a broken random source. */
export function newJoinSecrets(randomBytes: RandomBytes = cryptoRandomBytes): JoinSecrets {
  const worker = newJoinSecret(randomBytes)
  const manager = newJoinSecret(randomBytes)
  if (manager === worker) throw new PkiError('random source returned the same join secret twice; refusing to use it')
  return { worker, manager }
}

/**
 * The manager's check of a presented token: it must pin this cluster's CA and carry one of the two secrets.
 * Both secrets are always compared, so the time taken does not tell which role a guess came close to.
 */
export function roleForJoinToken(token: JoinToken, cluster: { caDigest: string; secrets: JoinSecrets }): NodeRole {
  if (!sameSecret(token.caDigest, cluster.caDigest)) {
    throw new JoinTokenError('join token pins another cluster CA (rotated, or a token of another cluster)')
  }
  const isManager = sameSecret(token.secret, cluster.secrets.manager)
  const isWorker = sameSecret(token.secret, cluster.secrets.worker)
  if (isManager) return 'manager'
  if (isWorker) return 'worker'
  throw new JoinTokenError('join token secret is not valid for this cluster (rotated or mistyped)')
}

/**
 * The joining node's check of the CA certificate a manager handed it over a connection it cannot trust yet:
 * the digest must equal the one its join token pins, and the certificate must be a self-signed CA. Only after
 * this returns does the node send its secret and CSR. Returns the pinned PEM, normalised.
 */
export async function fetchAndPinCa(pem: string, expectedDigest: string): Promise<string> {
  if (!DIGEST.test(expectedDigest)) throw new CaPinError('expected CA digest must be 64 lowercase hex digits')
  const digest = caDigest(pem)
  if (!sameSecret(digest, expectedDigest)) {
    throw new CaPinError(
      `CA certificate sha256:${digest} is not the one the join token pins (sha256:${expectedDigest}); ` +
        'the manager is not the one the token came from, or the CA was rotated',
    )
  }
  const cert = parseCertificate(pem)
  if (!isCaCertificate(cert) || !(await cert.isSelfSigned())) {
    throw new CaPinError(`CA certificate sha256:${digest} is not a self-signed CA certificate`)
  }
  return cert.toString('pem') + '\n'
}
