import type { Etcd3 } from 'etcd3'
import type { ManagerHealth, ManagerProbe } from '../leadership.ts'
import { listMembers, type MemberInfo } from './membership.ts'

type LogFn = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void

export interface ManagerHealthOptions {
  /** A client of this manager's etcd (the caller owns it). */
  readonly client: Etcd3
  /**
   * A client of one member alone (its client URLs), to ask whether that member answers; kept while the member is
   * listed, closed by stop(). Default: none, and every listed member counts as reachable while a quorum answers.
   */
  readonly memberClient?: (clientUrls: readonly string[]) => Etcd3
  /** How often the managers are probed, ms (reads use the last probe in between). Default 2000. */
  readonly intervalMs?: number
  /** Deadline of each probe call, ms: an unreachable member costs this much, in the background only. Default 1000. */
  readonly callTimeoutMs?: number
  /** The key read to check for a quorum (a linearizable read). Default the election's prefix. */
  readonly quorumKey?: string
  readonly log?: LogFn
}

/**
 * Which managers answer, probed in the background every few seconds (never on a request's path): the member list
 * (etcd 3.4 serves it from the member's own state, so it answers without a quorum), each member's status asked of
 * that member alone, and one linearizable read, which only a quorum can answer. Lifecycle: construct, start()
 * (resolves after the first probe), stop().
 */
export class EtcdManagerHealth implements ManagerProbe {
  readonly #o: ManagerHealthOptions
  readonly #clients = new Map<string, Etcd3>()
  #health: ManagerHealth | undefined
  #members: readonly MemberInfo[] = []
  #timer: NodeJS.Timeout | null = null
  #running = false
  #stopped = false
  #probing: Promise<ManagerHealth> | null = null

  constructor(o: ManagerHealthOptions) {
    this.#o = o
  }

  health(): ManagerHealth | undefined {
    return this.#health
  }

  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#stopped = false
    await this.probe()
    this.#timer = setInterval(() => void this.probe(), this.#o.intervalMs ?? 2000)
    this.#timer.unref()
  }

  stop(): void {
    this.#running = false
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    this.#closeAll()
  }

  #closeAll(): void {
    for (const c of this.#clients.values()) c.close()
    this.#clients.clear()
  }

  /** One probe (one at a time: a call while one runs gets its answer). Never rejects. */
  probe(): Promise<ManagerHealth> {
    this.#probing ??= this.#probe().finally(() => { this.#probing = null })
    return this.#probing
  }

  async #probe(): Promise<ManagerHealth> {
    const timeout = this.#o.callTimeoutMs ?? 1000
    const deadline = (): Date => new Date(Date.now() + timeout)
    try {
      this.#members = (await listMembers(this.#o.client)).filter((m) => m.name !== '')
    } catch (err) {
      this.#o.log?.('warn', 'managers: member list not read; keeping the last one', { sub: 'managers', err: (err as Error).message })
    }
    const quorum = await this.#o.client.get(this.#o.quorumKey ?? '/mesh/election/manager/').options({ deadline: deadline() }).string()
      .then(() => true, () => false)
    const members = this.#members
    const reachable = this.#o.memberClient
      ? (await Promise.all(members.map(async (m) => ((await this.#answers(m, deadline())) ? m.name : null)))).filter((n): n is string => n !== null)
      : quorum ? members.map((m) => m.name) : []
    const health = Object.freeze({ members: Object.freeze(members.map((m) => m.name)), reachable: Object.freeze(reachable), quorum })
    if (this.#stopped) {
      this.#closeAll() // a probe that was under way when stop() ran: its clients are not kept
      return health
    }
    this.#forget(members)
    this.#health = health
    return health
  }

  /** Whether the member answers a status call of its own (a process that runs, with or without a quorum). */
  async #answers(m: MemberInfo, deadline: Date): Promise<boolean> {
    if (m.clientUrls.length === 0) return false
    const key = m.clientUrls.join(',')
    let c = this.#clients.get(key)
    if (!c) {
      c = (this.#o.memberClient as NonNullable<ManagerHealthOptions['memberClient']>)(remoteUrls(m.clientUrls))
      this.#clients.set(key, c)
    }
    return c.maintenance.status({ deadline }).then(() => true, () => false)
  }

  /** Closes the clients of members no longer listed. */
  #forget(members: readonly MemberInfo[]): void {
    const keep = new Set(members.map((m) => m.clientUrls.join(',')))
    for (const [key, c] of this.#clients) {
      if (keep.has(key)) continue
      c.close()
      this.#clients.delete(key)
    }
  }
}

/**
 * The client URLs that reach a member from another host. A managed member also listens on 127.0.0.1, and that URL,
 * asked from here, reaches the member that runs HERE: a dead member would answer as this one (a manager with no
 * quorum said `no quorum: 3 of 3 managers reachable`). Loopback URLs stay when they are all a member has (members of
 * one host, as in tests).
 */
export function remoteUrls(urls: readonly string[]): readonly string[] {
  const away = urls.filter((u) => !isLoopbackUrl(u))
  return away.length > 0 ? away : urls
}

function isLoopbackUrl(u: string): boolean {
  let host: string
  try {
    host = new URL(u).hostname.replace(/^\[|\]$/g, '')
  } catch {
    return false
  }
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}
