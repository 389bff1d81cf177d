import { MeshError } from '../base/errors.ts'

/** A join token is malformed, or names another CA, or carries a secret that is not this cluster's. */
export class JoinTokenError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_JOIN_TOKEN', message, options)
  }
}

/** The CA certificate a joining node was handed is not the one its join token pins. */
export class CaPinError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CA_PIN', message, options)
  }
}

/** A certificate signing request is malformed, badly signed or asks for a key type the cluster does not issue. */
export class CsrError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CSR', message, options)
  }
}

/** Why a peer's certificate was refused; stable strings a caller may count in a metric. */
export type PeerCertificateProblem =
  | 'malformed'
  | 'untrusted'
  | 'expired'
  | 'not-yet-valid'
  | 'not-a-node-cert'
  | 'bad-role'
  | 'wrong-cluster'
  | 'revoked'

/** A peer's certificate chain does not prove a live node identity of this cluster. */
export class PeerCertificateError extends MeshError {
  readonly problem: PeerCertificateProblem
  constructor(problem: PeerCertificateProblem, message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_PEER_CERT', message, options)
    this.problem = problem
  }
}

/** The PKI was handed something of its own that is unusable: a bad CA key/cert pair, node id, SAN or lifetime. */
export class PkiError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_PKI', message, options)
  }
}
