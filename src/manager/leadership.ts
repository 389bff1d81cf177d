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

/** A single manager on SQLite: it always leads. */
export class AlwaysLeader implements Leadership {
  readonly #id: string

  constructor(nodeId: string) {
    this.#id = nodeId
  }

  isLeader(): boolean {
    return true
  }

  leader(): string {
    return this.#id
  }

  onChange(_cb: (leading: boolean) => void): () => void {
    return () => {}
  }
}
