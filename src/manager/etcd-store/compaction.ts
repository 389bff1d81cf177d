/**
 * Keeps etcd's history bounded: every `intervalMs`, compacts etcd to `retain` revisions behind the etcd revision
 * this store's view has applied (so its own watch, which is at that revision, is never compacted under it; another
 * manager's watch that lags by more than `retain` is canceled by etcd and reloads its view, see EtcdStore). A
 * failed compaction (already compacted further, etcd unreachable) is logged at debug and retried next time.
 */
import type { Etcd3 } from 'etcd3'
import type { Clock, TimerHandle } from '../../base/clock.ts'
import type { StoreLog } from './etcd-store.ts'

export interface CompactorOptions {
  client: Etcd3
  clock: Clock
  log: StoreLog
  intervalMs: number
  /** etcd revisions kept (0: never compact). */
  retain: number
  appliedRevision(): number
}

export class Compactor {
  readonly #o: CompactorOptions
  #timer: TimerHandle | null = null
  #compacted = 0
  #running = false

  constructor(o: CompactorOptions) {
    this.#o = o
  }

  /** The etcd revision last compacted to (0: none yet). */
  get compacted(): number {
    return this.#compacted
  }

  start(): void {
    if (this.#running || this.#o.retain === 0 || this.#o.intervalMs === 0) return
    this.#running = true
    this.#schedule()
  }

  stop(): void {
    this.#running = false
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  /** One compaction now; resolves with the revision compacted to, or 0 when there was nothing to do. */
  async compactOnce(): Promise<number> {
    const target = this.#o.appliedRevision() - this.#o.retain
    if (target <= this.#compacted || target <= 1) return 0
    try {
      await this.#o.client.kv.compact({ revision: String(target), physical: false })
      this.#compacted = target
      this.#o.log('debug', 'store: compacted etcd history', { revision: target })
      return target
    } catch (err) {
      if (/compacted/.test((err as Error).message)) this.#compacted = target
      this.#o.log('debug', 'store: etcd compaction failed', { revision: target, error: (err as Error).message })
      return 0
    }
  }

  #schedule(): void {
    if (!this.#running) return
    this.#timer = this.#o.clock.setTimeout(() => {
      void this.compactOnce().finally(() => this.#schedule())
    }, this.#o.intervalMs)
  }
}
