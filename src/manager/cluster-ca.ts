import {
  type CertRole,
  type ClusterCa,
  caDigest,
  createClusterCa,
  crossSignRoot,
  DEFAULT_NODE_CERT_LIFETIME_MS,
  formatJoinToken,
  JoinTokenError,
  type JoinSecrets,
  newJoinSecret,
  newJoinSecrets,
  type NodeIdentity,
  type NodeRole,
  parseJoinToken,
  roleForJoinToken,
  signNodeCsr,
  verifyPeerCertificate,
} from '../pki/index.ts'
import { RequestRefusedError } from './request-refused.ts'
import type { Store, StoreTx } from './store.ts'

/**
 * The cluster's certificate authority as the manager holds it (src/pki does the cryptography): the root CA and its
 * key, the two join secrets (tokens are `MESHTKN-2-<sha256 of the root>-<secret>`), the admin client certificates
 * issued, and a CA rotation in progress. All of it lives in the store's meta keys, so it follows the store (and,
 * with the HA issue, every manager). The root key never leaves the store; nothing here is ever logged.
 *
 * Rotation (`mesh ca rotate`, swarmkit's root rotation): a new root is made and cross-signed by the old one; both
 * are trusted, leaves are issued by the new root and sent with the cross-signed certificate (so a peer that still
 * trusts only the old root verifies them); every node listed as pending renews its certificate when the watch
 * stream tells it the roots changed; when none is pending, the old root is dropped.
 */

interface CaState {
  current: ClusterCa
  previous?: ClusterCa
  /** The new root's certificate signed by the previous root; only while `previous` is trusted. */
  crossSigned?: string
  /**
   * After a rotation: its cross-signed certificate, kept for etcd member certificates only (memberBridge): a member
   * runs with the roots it loaded when it started, so until each has restarted, members issued after the rotation
   * must still chain to the previous root. Replaced by the next rotation's.
   */
  bridge?: string
  /** Node ids still holding a certificate of the previous root. */
  pending?: string[]
}

/** An admin client certificate (mesh ca issue-client): only serials listed here are accepted. */
export interface AdminClient {
  name: string
  serial: string
  notAfter: number
}

export interface CaStatus {
  /** sha256 of the current root (what join tokens pin). */
  digest: string
  rotating: boolean
  /** Node ids still to renew under the new root. */
  pending: string[]
}

const CA_KEY = 'ca'
const SECRETS_KEY = 'join_secrets'
const CLIENTS_KEY = 'admin_clients'
const LIFETIME_KEY = 'cert_lifetime_ms'

/** The trust the API's TLS needs: the roots clients are verified against and the chain suffix leaves carry. */
export interface CaTrust {
  roots: string[]
  /** The current root's PEM: what GET /v1/ca answers and join tokens pin. */
  current: string
}

export class ClusterAuthority {
  readonly #store: Store
  readonly #now: () => number
  readonly #listeners = new Set<() => void>()
  /** The parsed state and its current root's digest, kept until the stored value changes (parsed once, not per call). */
  #cache: { raw: string; state: CaState; digest: string } | null = null

  constructor(o: { store: Store; now: () => number }) {
    this.#store = o.store
    this.#now = o.now
  }

  /**
   * Creates the root and join secrets when the store has none (a new cluster, or one made before the PKI).
   * Returns true when it created them (the join tokens changed).
   */
  async ensure(clusterId: string, certLifetimeMs?: number, premade?: ClusterCa): Promise<boolean> {
    if (this.#store.getMeta(CA_KEY) && this.#store.getMeta(SECRETS_KEY)) return false
    const ca = premade ?? await createClusterCa({ clusterId, now: this.#now() })
    const secrets = newJoinSecrets()
    const created = await this.#store.transact((tx) => {
      if (tx.getMeta(CA_KEY) && tx.getMeta(SECRETS_KEY)) return false
      tx.setMeta(CA_KEY, JSON.stringify({ current: ca } satisfies CaState))
      tx.setMeta(SECRETS_KEY, JSON.stringify(secrets))
      if (certLifetimeMs !== undefined) tx.setMeta(LIFETIME_KEY, String(certLifetimeMs))
      tx.deleteMeta('token_worker') // MESHTKN-1 tokens of a cluster made before the PKI: no longer accepted
      tx.deleteMeta('token_manager')
      return true
    })
    if (created) this.#changed()
    return created
  }

  /** Hear every change of the roots (rotation start and end) — the API's TLS context and the watch streams. */
  onChange(cb: () => void): () => void {
    this.#listeners.add(cb)
    return () => this.#listeners.delete(cb)
  }

  #changed(): void {
    for (const cb of this.#listeners) cb()
  }

  /** The stored CA state and its current root's digest. */
  #loaded(): { state: CaState; digest: string } {
    const raw = this.#store.getMeta(CA_KEY)
    if (!raw) throw new RequestRefusedError('MESH_ERR_UNAVAILABLE', 'the cluster CA is not initialised yet')
    if (this.#cache?.raw !== raw) {
      const state = JSON.parse(raw) as CaState
      this.#cache = { raw, state, digest: caDigest(state.current.certPem) }
    }
    return this.#cache
  }

  #state(): CaState {
    return this.#loaded().state
  }

  /** sha256 of the current root (what join tokens pin). */
  #digest(): string {
    return this.#loaded().digest
  }

  #secrets(): JoinSecrets {
    return JSON.parse(this.#store.getMeta(SECRETS_KEY) ?? '{}') as JoinSecrets
  }

  trust(): CaTrust {
    const s = this.#state()
    return { roots: s.previous ? [s.current.certPem, s.previous.certPem] : [s.current.certPem], current: s.current.certPem }
  }

  status(): CaStatus {
    const s = this.#state()
    return { digest: this.#digest(), rotating: s.previous !== undefined, pending: s.pending ?? [] }
  }

  certLifetimeMs(): number {
    const v = Number(this.#store.getMeta(LIFETIME_KEY))
    return Number.isSafeInteger(v) && v >= 60_000 ? v : DEFAULT_NODE_CERT_LIFETIME_MS
  }

  tokens(): { worker: string; manager: string } {
    const digest = this.#digest()
    const s = this.#secrets()
    return { worker: formatJoinToken({ caDigest: digest, secret: s.worker }), manager: formatJoinToken({ caDigest: digest, secret: s.manager }) }
  }

  async rotateToken(role: NodeRole): Promise<string> {
    const secret = newJoinSecret()
    await this.#store.transact((tx) => {
      const s = JSON.parse(tx.getMeta(SECRETS_KEY) ?? '{}') as JoinSecrets
      tx.setMeta(SECRETS_KEY, JSON.stringify({ ...s, [role]: secret }))
    })
    return this.tokens()[role]
  }

  /** The role a presented token grants, or null (malformed, another CA, a rotated or wrong secret). */
  roleFor(token: string): NodeRole | null {
    try {
      return roleForJoinToken(parseJoinToken(token), { caDigest: this.#digest(), secrets: this.#secrets() })
    } catch (err) {
      if (err instanceof JoinTokenError) return null
      throw err
    }
  }

  /**
   * A certificate for the key in `csrPem`, issued by the current root, as the PEM chain a peer presents (leaf, then
   * the cross-signed root while a rotation runs). The names come from the caller, never from the CSR.
   */
  async issue(csrPem: string, o: { nodeId: string; role: CertRole; clusterId: string; ipSans?: string[]; dnsSans?: string[]; lifetimeMs?: number }): Promise<string> {
    const s = this.#state()
    const leaf = await signNodeCsr(s.current, csrPem, {
      nodeId: o.nodeId, role: o.role, clusterId: o.clusterId, now: this.#now(), lifetimeMs: o.lifetimeMs ?? this.certLifetimeMs(),
      ...(o.ipSans ? { ipSans: o.ipSans } : {}), ...(o.dnsSans ? { dnsSans: o.dnsSans } : {}),
    })
    return s.crossSigned ? leaf + s.crossSigned : leaf
  }

  /**
   * The cross-signed certificate of the current root (while a rotation runs, and kept after it): what an etcd
   * member certificate is sent with, so members still running with only the previous root accept it. Null before
   * any rotation.
   */
  memberBridge(): string | null {
    const s = this.#state()
    return s.crossSigned ?? s.bridge ?? null
  }

  /** Who a peer's certificate chain proves it is (any trusted root); throws PeerCertificateError. */
  identify(chainPem: string): Promise<NodeIdentity> {
    return verifyPeerCertificate(chainPem, this.trust().roots, this.#now())
  }

  // ---- admin client certificates -------------------------------------------------------------------------

  adminClients(): AdminClient[] {
    return JSON.parse(this.#store.getMeta(CLIENTS_KEY) ?? '[]') as AdminClient[]
  }

  isAdminSerial(serial: string): boolean {
    return this.adminClients().some((c) => c.serial === serial && c.notAfter > this.#now())
  }

  /** Records an issued admin client certificate (its serial and expiry; never the key, which the client made). */
  async recordAdminClient(c: AdminClient): Promise<void> {
    await this.#store.transact((tx) => {
      const now = this.#now()
      const kept = (JSON.parse(tx.getMeta(CLIENTS_KEY) ?? '[]') as AdminClient[]).filter((x) => x.notAfter > now)
      tx.setMeta(CLIENTS_KEY, JSON.stringify([...kept, c]))
    })
  }

  /** Withdraws every admin client certificate issued under `name`; returns how many. */
  async revokeAdminClient(name: string): Promise<number> {
    return this.#store.transact((tx) => {
      const all = JSON.parse(tx.getMeta(CLIENTS_KEY) ?? '[]') as AdminClient[]
      const kept = all.filter((x) => x.name !== name)
      tx.setMeta(CLIENTS_KEY, JSON.stringify(kept))
      return all.length - kept.length
    })
  }

  // ---- rotation ------------------------------------------------------------------------------------------

  /**
   * Starts a root rotation: a new root, cross-signed by the current one; every node in `nodeIds` is pending until
   * it renews. Refused while a rotation runs. With no node pending it finishes at once.
   */
  async rotate(nodeIds: string[]): Promise<CaStatus> {
    const old = this.#state()
    if (old.previous) throw new RequestRefusedError('MESH_ERR_CONFLICT', `a CA rotation is already running (${(old.pending ?? []).length} nodes still to renew)`)
    const clusterId = this.#store.getMeta('cluster_id') as string
    const next = await createClusterCa({ clusterId, now: this.#now() })
    const crossSigned = await crossSignRoot(old.current, next, { now: this.#now() })
    await this.#store.transact((tx) => {
      const s = JSON.parse(tx.getMeta(CA_KEY) as string) as CaState
      if (s.previous) throw new RequestRefusedError('MESH_ERR_CONFLICT', 'a CA rotation is already running')
      tx.setMeta(CA_KEY, JSON.stringify(finishIfDone({ current: next, previous: s.current, crossSigned, pending: nodeIds })))
    })
    this.#changed()
    return this.status()
  }

  /** A node renewed under the current root (or was removed): no longer pending; the last one ends the rotation. */
  async settled(nodeId: string): Promise<void> {
    const s = this.#state()
    if (!s.previous || !(s.pending ?? []).includes(nodeId)) return
    const done = await this.#store.transact((tx) => settle(tx, nodeId))
    if (done) this.#changed()
  }
}

function settle(tx: StoreTx, nodeId: string): boolean {
  const s = JSON.parse(tx.getMeta(CA_KEY) as string) as CaState
  if (!s.previous) return false
  const next = finishIfDone({ ...s, pending: (s.pending ?? []).filter((id) => id !== nodeId) })
  tx.setMeta(CA_KEY, JSON.stringify(next))
  return next.previous === undefined
}

function finishIfDone(s: CaState): CaState {
  if ((s.pending ?? []).length > 0) return s
  const bridge = s.crossSigned ?? s.bridge
  return bridge ? { current: s.current, bridge } : { current: s.current }
}
