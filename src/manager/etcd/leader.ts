import type { Etcd3, Lease, Watcher } from 'etcd3'
import type { Leadership } from '../leadership.ts'
import { type Candidate, electionTiming, type ElectionTiming, ElectionState } from './election-core.ts'

type LogFn = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void

export interface LeaderElectionOptions {
  /** A client of this manager's own etcd member (the caller owns it and closes it after stop()). */
  readonly client: Etcd3
  /** This manager's node id: what it announces, what leader() answers while it leads. */
  readonly nodeId: string
  /** Lease TTL, s (config.ts EtcdTiming.leaseTtlSeconds). */
  readonly ttlSeconds: number
  /** Key prefix of the election. Default `/mesh/election/manager/`. */
  readonly prefix?: string
  readonly onElected?: () => void
  readonly onDeposed?: () => void
  readonly log?: LogFn
  /** Monotonic-enough clock, ms. Default Date.now. */
  readonly now?: () => number
}

/**
 * Leader election among managers on an etcd lease (election-core.ts has the rules). The adapter: a lease kept
 * alive by hand (etcd3's own keep-alive reports a lost lease only after 2 × TTL, too late to step down first), a
 * candidate key bound to it, a watch on the prefix so a handover is seen at once, and a timer that deposes a
 * leader whose keep-alives stopped being acknowledged. Lifecycle: construct, start(), stop() (resigns).
 */
export class LeaderElection implements Leadership {
  readonly #o: LeaderElectionOptions
  readonly #prefix: string
  readonly #timing: ElectionTiming
  readonly #state: ElectionState
  readonly #now: () => number
  readonly #listeners = new Set<(leading: boolean) => void>()
  #lease: Lease | null = null
  #watcher: Watcher | null = null
  #tick: NodeJS.Timeout | null = null
  #deposeTimer: NodeJS.Timeout | null = null
  #running = false
  #busy: Promise<void> = Promise.resolve()

  constructor(o: LeaderElectionOptions) {
    this.#o = o
    this.#prefix = o.prefix ?? '/mesh/election/manager/'
    this.#timing = electionTiming(o.ttlSeconds)
    this.#state = new ElectionState({ marginMs: this.#timing.marginMs })
    this.#now = o.now ?? Date.now
  }

  isLeader(): boolean {
    return this.#state.isLeader()
  }

  leader(): string | undefined {
    return this.#state.leader()?.value
  }

  onChange(cb: (leading: boolean) => void): () => void {
    this.#listeners.add(cb)
    return () => this.#listeners.delete(cb)
  }

  /** Starts campaigning; resolves after the first round (elected or not). Failures are retried every keep-alive. */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#watch()
    await this.#serial(() => this.#round())
    this.#tick = setInterval(() => void this.#serial(() => this.#round()), this.#timing.keepaliveMs)
  }

  /** Resigns (the lease is revoked, so another manager leads at once) and stops campaigning. */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    if (this.#tick) clearInterval(this.#tick)
    if (this.#deposeTimer) clearTimeout(this.#deposeTimer)
    this.#tick = null
    this.#deposeTimer = null
    await this.#busy
    await this.#watcher?.cancel().catch(() => {})
    this.#watcher = null
    const lease = this.#lease
    this.#lease = null
    this.#state.leaseLost()
    this.#evaluate()
    if (lease) {
      try {
        await lease.revoke({ deadline: this.#now() + 2000 })
      } catch (err) {
        lease.release()
        this.#log('warn', 'resign: lease not revoked; it expires on its own', { err: (err as Error).message })
      }
    }
  }

  /**
   * Watches the prefix so a handover is seen at once. Not awaited: with etcd unreachable the watch waits for it,
   * and the keep-alive rounds (which poll the candidates too) must go on meanwhile.
   */
  #watch(): void {
    const refresh = (): void => void this.#serial(() => this.#refresh())
    this.#o.client.watch().prefix(this.#prefix).create().then((w) => {
      if (!this.#running) return void w.cancel().catch(() => {})
      this.#watcher = w
      w.on('put', refresh).on('delete', refresh).on('connected', refresh)
      w.on('error', (err) => this.#log('warn', 'election watch failed; polling only', { err: err.message }))
    }, (err: Error) => this.#log('warn', 'election watch not started; polling only', { err: err.message }))
  }

  /** Runs election steps one at a time (a keep-alive round and a watch refresh never interleave). */
  #serial(step: () => Promise<void>): Promise<void> {
    this.#busy = this.#busy.then(() => (this.#running ? step() : undefined)).catch((err: Error) => {
      this.#log('warn', 'election step failed', { err: err.message })
    })
    return this.#busy
  }

  /** One keep-alive round: a lease and key when there is none, a keep-alive otherwise, then the candidates. */
  async #round(): Promise<void> {
    try {
      if (!this.#lease) await this.#campaign()
      else await this.#keepalive(this.#lease)
    } finally {
      await this.#refresh().catch((err: Error) => {
        this.#log('warn', 'election candidates not read', { err: err.message })
        this.#evaluate()
      })
    }
  }

  async #campaign(): Promise<void> {
    const lease = this.#o.client.lease(this.#o.ttlSeconds, { autoKeepAlive: false })
    lease.on('lost', () => {}) // losses are seen in #keepalive's answer
    const sentAt = this.#now()
    let id: string
    try {
      id = await lease.grant()
    } catch (err) {
      lease.release()
      throw err
    }
    const key = `${this.#prefix}${BigInt(id).toString(16).padStart(16, '0')}`
    try {
      await lease.put(key).value(this.#o.nodeId).exec()
    } catch (err) {
      await lease.revoke({ deadline: this.#now() + 1000 }).catch(() => lease.release())
      throw err
    }
    this.#lease = lease
    this.#state.campaign(key)
    this.#state.leaseAcked(sentAt, this.#o.ttlSeconds)
    this.#armDepose()
    this.#log('info', 'campaigning', { key })
  }

  async #keepalive(lease: Lease): Promise<void> {
    const sentAt = this.#now()
    try {
      const res = await lease.keepaliveOnce({ deadline: sentAt + this.#timing.keepaliveMs * 2 })
      this.#state.leaseAcked(sentAt, Number(res.TTL))
      this.#armDepose()
    } catch (err) {
      if ((err as Error).name === 'EtcdLeaseInvalidError') {
        this.#log('warn', 'election lease expired; campaigning again', {})
        this.#lease = null
        lease.release()
        this.#state.leaseLost()
      } else {
        this.#log('warn', 'election keep-alive failed', { err: (err as Error).message })
      }
    }
  }

  /** Reads the candidates (lowest create revision first) and decides. */
  async #refresh(): Promise<void> {
    const res = await this.#o.client.getAll().prefix(this.#prefix).sort('Create', 'Ascend').options({ deadline: this.#now() + this.#timing.keepaliveMs * 2 }).exec()
    const candidates: Candidate[] = res.kvs.map((kv) => ({ key: kv.key.toString(), createRevision: String(kv.create_revision), value: kv.value.toString() }))
    this.#state.observe(candidates)
    if (this.#state.ownKey() !== undefined && !candidates.some((c) => c.key === this.#state.ownKey()) && this.#lease) {
      // Our key is gone (lease expired or revoked elsewhere): a new campaign on the next round.
      this.#lease.release()
      this.#lease = null
      this.#state.leaseLost()
    }
    this.#evaluate()
  }

  /** Deposes at the moment the lease stops being certainly alive, whether or not a keep-alive is in flight. */
  #armDepose(): void {
    if (this.#deposeTimer) clearTimeout(this.#deposeTimer)
    const wait = this.#state.safeUntilMs() - this.#now()
    if (!this.#running || !Number.isFinite(wait)) return
    this.#deposeTimer = setTimeout(() => this.#evaluate(), Math.max(0, wait) + 1)
    this.#deposeTimer.unref()
  }

  #evaluate(): void {
    const change = this.#state.evaluate(this.#now())
    if (change === null) return
    this.#log('info', change === 'elected' ? 'elected leader' : 'deposed', { node: this.#o.nodeId })
    const callbacks = [change === 'elected' ? this.#o.onElected : this.#o.onDeposed, ...[...this.#listeners].map((cb) => () => cb(change === 'elected'))]
    for (const cb of callbacks) {
      try {
        cb?.()
      } catch (err) {
        // A listener's failure must not stop the election (the depose timer calls this outside any step).
        this.#log('warn', 'leadership listener failed', { err: (err as Error).message })
      }
    }
  }

  #log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void {
    this.#o.log?.(level, msg, { sub: 'election', ...fields })
  }
}
