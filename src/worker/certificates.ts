import type { Clock, TimerHandle } from '../base/clock.ts'
import type { CaRoots } from '../api/watch.ts'
import { caDigest, createNodeKeyAndCsr, issuedBy, renewalDueAt } from '../pki/index.ts'
import type { NodeTls } from './tls-files.ts'
import type { ManagerTransport } from './transport.ts'

/**
 * Keeps this node's certificate valid (swarmkit's renewer): renews at two thirds of its life (src/pki renewalDueAt)
 * with a new key each time, and at once when the watch stream says the current root is one that did not issue our
 * certificate (a CA rotation). A failed renewal is retried every 30 s. The new material is saved (data dir) and
 * handed to the transport by `save`. Timers: the injected clock; validity: the injected wall clock.
 */
export const RENEW_RETRY_MS = 30_000
/** Timers wait at most this long and look again (long certificate lifetimes exceed setTimeout's range). */
const MAX_WAIT_MS = 3_600_000

export interface CertificateKeeperOptions {
  transport: ManagerTransport
  clock: Clock
  now: () => number
  save(tls: NodeTls): void
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

export class CertificateKeeper {
  readonly #o: CertificateKeeperOptions
  #tls: NodeTls | null = null
  #timer: TimerHandle | null = null
  #running = false
  #renewing: Promise<void> | null = null
  /** Why a renewal that failed was wanted: the retry renews whatever the certificate's age. */
  #retryWhy: string | null = null

  constructor(o: CertificateKeeperOptions) {
    this.#o = o
  }

  /** The material in use (after a join, a restart, or an in-process issue). */
  use(tls: NodeTls): void {
    this.#tls = tls
    if (this.#running) this.#schedule()
  }

  start(): void {
    this.#running = true
    this.#schedule()
  }

  stop(): void {
    this.#running = false
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Roots pushed by the manager: trust them, and renew now if the current root did not issue our certificate. */
  roots(r: CaRoots): void {
    const tls = this.#tls
    if (!tls || !Array.isArray(r.roots) || r.roots.some((x) => typeof x !== 'string') || typeof r.digest !== 'string') return
    const current = r.roots.find((pem) => safeDigest(pem) === r.digest)
    if (!current) {
      this.#o.log('warn', 'the manager pushed CA roots without the current one; ignored')
      return
    }
    const changed = r.roots.join('') !== tls.ca.join('')
    if (changed) {
      this.#tls = { ...tls, ca: r.roots }
      this.#o.save(this.#tls)
      this.#o.log('info', 'cluster CA roots updated', { roots: r.roots.length })
    }
    void issuedBy(tls.cert, current).then((ours) => {
      if (!ours && this.#running) void this.renew('the cluster CA was rotated')
    })
  }

  /** Renew now (one at a time): a new key and CSR, the manager's new certificate, saved. */
  renew(why: string): Promise<void> {
    this.#renewing ??= this.#renew(why).finally(() => {
      this.#renewing = null
    })
    return this.#renewing
  }

  async #renew(why: string): Promise<void> {
    try {
      const { keyPem, csrPem } = await createNodeKeyAndCsr()
      const r = await this.#o.transport.renew(csrPem)
      if (r.status !== 200 || typeof r.body?.certificate !== 'string' || !Array.isArray(r.body.ca)) throw new Error(r.message)
      this.#tls = { ca: r.body.ca, cert: r.body.certificate, key: keyPem }
      this.#retryWhy = null
      this.#o.save(this.#tls)
      this.#o.log('info', 'node certificate renewed', { why, renewAt: new Date(renewalDueAt(this.#tls.cert)).toISOString() })
      if (this.#running) this.#schedule()
    } catch (err) {
      this.#retryWhy = why
      this.#o.log('warn', 'node certificate renewal failed; will retry', { why, err: (err as Error).message })
      if (this.#running) this.#arm(RENEW_RETRY_MS)
    }
  }

  #schedule(): void {
    if (!this.#tls) return
    this.#arm(renewalDueAt(this.#tls.cert) - this.#o.now())
  }

  #arm(ms: number): void {
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null
      const tls = this.#tls
      if (!tls) return
      if (this.#retryWhy) void this.renew(this.#retryWhy)
      else if (this.#o.now() >= renewalDueAt(tls.cert)) void this.renew('two thirds of its lifetime passed')
      else this.#schedule()
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
