/**
 * The cluster PKI, as a library: a root CA per cluster, join tokens that pin it, node certificates issued from
 * CSRs, peer verification for mutual TLS, renewal timing and CA rotation. Modelled on Docker Swarm's (swarmkit
 * `ca/`) and kubeadm's CA-pinned discovery; docs/security.md ("Cluster PKI") is the operator's view.
 *
 * Flow. `mesh init` → createClusterCa + newJoinSecrets; the join token is formatJoinToken({ caDigest, secret }).
 * A joining node: parseJoinToken → fetches the CA over an unauthenticated connection → fetchAndPinCa (before it
 * sends anything secret) → createNodeKeyAndCsr (the key never leaves the node) → sends secret + CSR. The manager:
 * roleForJoinToken → signNodeCsr (the manager alone decides CN=node id, OU=role, O=cluster id and the SANs).
 * Peers: verifyPeerCertificate on every mutual-TLS connection; needsRenewal on a timer (two thirds of the life).
 * Rotation: createClusterCa again, crossSignRoot(old, new); new leaves are sent with the cross-signed intermediate
 * until every node trusts the new root, then the old one is dropped.
 *
 * Invariants: ECDSA P-256 / SHA-256 only; nothing here reads the clock or the filesystem (`now` is passed in, ms
 * since the epoch, and random bytes are injectable); every failure is a MeshError with a code (errors.ts); error
 * messages never repeat a token secret. Depends only on src/base, Node and @peculiar/x509. Must never import
 * another subsystem: the manager and the agent call it, not the other way round.
 */
export {
  type ClusterCa,
  type CreateClusterCaOptions,
  type CrossSignOptions,
  createClusterCa,
  crossSignRoot,
  DEFAULT_CA_LIFETIME_MS,
} from './ca.ts'
export {
  CERT_BACKDATE_MS,
  createNodeKeyAndCsr,
  DEFAULT_NODE_CERT_LIFETIME_MS,
  isDnsName,
  type NodeKeyAndCsr,
  type SignNodeCsrOptions,
  signNodeCsr,
} from './csr.ts'
export {
  CaPinError,
  CsrError,
  JoinTokenError,
  PeerCertificateError,
  type PeerCertificateProblem,
  PkiError,
} from './errors.ts'
export {
  caDigest,
  fetchAndPinCa,
  formatJoinToken,
  type JoinSecrets,
  type JoinToken,
  CERT_ROLES,
  type CertRole,
  NODE_ROLES,
  newJoinSecret,
  newJoinSecrets,
  type NodeRole,
  parseJoinToken,
  roleForJoinToken,
} from './token.ts'
export {
  certificateInfo,
  issuedBy,
  keepCrossSigned,
  type NodeIdentity,
  needsRenewal,
  pemCertificates,
  renewalDueAt,
  type RevocationList,
  type VerifyOptions,
  verifyPeerCertificate,
} from './verify.ts'
export { type RandomBytes } from './x509.ts'
