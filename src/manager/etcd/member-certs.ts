import type { Clock, TimerHandle } from '../../base/clock.ts'
import { caDigest, issuedBy, keepCrossSigned, renewalDueAt } from '../../pki/index.ts'
import { issueMemberTls, type MemberCertIssuer, type MemberTls } from './tls.ts'

/**
 * Keeps a manager's etcd member certificate valid and issued by the cluster's current root (the member's twin of
 * the node's CertificateKeeper, src/worker/certificates.ts). It renews
 *
 * - at two thirds of the certificate's life (90 days by default: without this a member refused its peers after it);
 * - at once when the current root did not issue it (`mesh ca rotate`): the new leaf is sent with the cross-signed
 *   root, so a member that still trusts only the old root verifies it;
 * - and rewrites the trusted roots file when the cluster's roots change (a rotation starts, then ends).
 *
 * etcd reads its certificate and key again on every new connection, but its trusted roots only when it starts, and
 * this node's own etcd clients hold the certificate they were made with. So every time new files are written,
 * `written` is told (the wiring asks for a restart of the agent outside a rotation). Until a member has restarted,
 * renewals carry the CA's bridge (tls.ts withMemberBridge; pki keepCrossSigned for a CA without one), so it
 * keeps verifying its peers' new certificates. A failed renewal is tried again after MEMBER_RENEW_RETRY_MS.
 *
 * The CA is the local manager's (`authority()`): any manager can sign, the CA lives in the store. Timers: the
 * injected clock; validity: the injected wall clock.
 */
export const MEMBER_RENEW_RETRY_MS = 30_000
/** Timers wait at most this long and look again (certificate lifetimes exceed setTimeout's range). */
const MAX_WAIT_MS = 3_600_000

/** The CA as a manager holds it: issues, trusts, and names its current root (cluster-ca.ts ClusterAuthority). */
export interface MemberCertAuthority extends MemberCertIssuer {
  status(): { digest: string }
}

export interface MemberCertKeeperOptions {
  /** The member's files as they are now (what the member started with). */
  tls: MemberTls
  /** The member's names: its node id (CN), the cluster id (O), the node's address (IP SAN). */
  identity: { nodeId: string; clusterId: string; addr: string }
  /** The local manager's CA; null while there is none (the manager half is reopening). */
  authority: () => MemberCertAuthority | null
  /** Writes the member's files (atomically, tls.ts writeMemberTls). */
  write: (tls: MemberTls) => Promise<void>
  /** New files are on disk: they take full effect when the member and this node's etcd clients start again. */
  written: (why: string) => void
  clock: Clock
  now: () => number
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

export class MemberCertKeeper {
  readonly #o: MemberCertKeeperOptions
  #tls: MemberTls
  #timer: TimerHandle | null = null
  #running = false
  #busy: Promise<void> | null = null
  #again = false

  constructor(o: MemberCertKeeperOptions) {
    this.#o = o
    this.#tls = o.tls
  }

  /** The member's files as last written. */
  get tls(): MemberTls {
    return this.#tls
  }

  /** Looks at once (a stale certificate or roots file is renewed now), then at the renewal time. */
  start(): Promise<void> {
    this.#running = true
    return this.check()
  }

  /** Resolves when no check is under way (a timer's check runs asynchronously: key generation, signatures). */
  get settled(): Promise<void> {
    return (this.#busy ?? Promise.resolve()).then(() => (this.#busy ? this.settled : undefined))
  }

  stop(): void {
    this.#running = false
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  /**
   * Compare with the CA (call it when the CA changes): renew when due or when the current root did not issue the
   * certificate; rewrite the roots file when the roots differ. One check at a time; a call during one runs again after.
   */
  check(): Promise<void> {
    if (this.#busy) {
      this.#again = true
      return this.#busy
    }
    this.#busy = this.#check().finally(() => {
      this.#busy = null
      if (this.#again && this.#running) {
        this.#again = false
        void this.check()
      }
    })
    return this.#busy
  }

  async #check(): Promise<void> {
    if (!this.#running) return
    const ca = this.#o.authority()
    if (!ca) return this.#arm(MEMBER_RENEW_RETRY_MS)
    try {
      const roots = ca.trust().roots
      const digest = ca.status().digest
      const current = roots.find((pem) => safeDigest(pem) === digest)
      if (!current) throw new Error('the CA names no current root among its trusted ones')
      const why = !(await issuedBy(this.#tls.certPem, current)) ? 'the cluster CA was rotated'
        : this.#o.now() >= renewalDueAt(this.#tls.certPem) ? 'two thirds of its lifetime passed'
          : roots.join('') !== this.#tls.caPem ? 'the cluster\'s trusted roots changed'
            : null
      if (why === null) return this.#arm(renewalDueAt(this.#tls.certPem) - this.#o.now())
      const next = why === 'the cluster\'s trusted roots changed' ? { ...this.#tls, caPem: roots.join('') } : await this.#issue(ca, current)
      await this.#o.write(next)
      this.#tls = next
      this.#o.log('info', why === 'the cluster\'s trusted roots changed' ? 'etcd member trusted roots updated' : 'etcd member certificate renewed', {
        why, renewAt: new Date(renewalDueAt(next.certPem)).toISOString(), roots: roots.length,
      })
      this.#o.written(why)
      this.#arm(renewalDueAt(next.certPem) - this.#o.now())
    } catch (err) {
      this.#o.log('warn', 'etcd member certificate renewal failed; will retry', { err: (err as Error).message })
      this.#arm(MEMBER_RENEW_RETRY_MS)
    }
  }

  async #issue(ca: MemberCertAuthority, currentRoot: string): Promise<MemberTls> {
    const issued = await issueMemberTls(ca, this.#o.identity)
    return { ...issued, certPem: keepCrossSigned(issued.certPem, this.#tls.certPem, currentRoot, this.#o.now()) }
  }

  #arm(ms: number): void {
    if (!this.#running) return
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null
      void this.check()
    }, Math.max(0, Math.min(MAX_WAIT_MS, ms)))
  }
}

function safeDigest(pem: string): string | null {
  try {
    return caDigest(pem)
  } catch {
    return null
  }
}
