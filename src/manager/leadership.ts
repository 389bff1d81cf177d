/**
 * Leadership: whether this manager is the one that runs the orchestrator and scheduler. Every manager serves the
 * API; only the leader makes decisions that must be made once (assigning tasks, restarting failed ones). With
 * SQLite there is one manager and it always leads (AlwaysLeader); with etcd, src/manager/etcd's LeaderElection
 * decides on a lease.
 */
export interface Leadership {
  /** Whether this manager leads now. A leader that lost its lease answers false before another can lead. */
  isLeader(): boolean
  /** The leading manager's node id as last observed (this one's when it leads), or undefined when none leads. */
  leader(): string | undefined
  /** Hear every change of this manager's role; returns an unsubscribe function. */
  onChange(cb: (leading: boolean) => void): () => void
}

/** A single manager on SQLite: it always leads. `nodeId`: its node id, or how to read it once it registered. */
export class AlwaysLeader implements Leadership {
  readonly #id: () => string | undefined

  constructor(nodeId: string | (() => string | undefined)) {
    this.#id = typeof nodeId === 'string' ? () => nodeId : nodeId
  }

  isLeader(): boolean {
    return true
  }

  leader(): string | undefined {
    return this.#id()
  }

  onChange(_cb: (leading: boolean) => void): () => void {
    return () => {}
  }
}

/**
 * What a manager last learnt about the managers of its consensus store (etcd): who the members are, which of them
 * answered, and whether a quorum did. Probed in the background (etcd/manager-health.ts) and read from a cache: a
 * list never waits on an unreachable member.
 */
export interface ManagerHealth {
  /** The consensus members by name (a managed member is named by its manager's node id), as last listed. */
  readonly members: readonly string[]
  /** Those of `members` whose member process answered the last probe. */
  readonly reachable: readonly string[]
  /** Whether a quorum answered the last probe (a linearizable read): without one, writes cannot commit. */
  readonly quorum: boolean
}

/** The source of ManagerHealth; undefined until the first probe finished. */
export interface ManagerProbe {
  health(): ManagerHealth | undefined
}
