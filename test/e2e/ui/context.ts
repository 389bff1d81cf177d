/**
 * What test/e2e/ui.test.ts hands its parts (test/e2e/ui/<part>.ts, each `run(t, ctx)`): the 2-node lab
 * (1 manager + 1 worker, a dockerd each) after both nodes are ready and the `web` and `hello` services exist.
 */
import type { Lab, LabNode } from '../../lab/index.ts'
import type { Proc, RunResult } from '../../support/procs.ts'

export interface UiLab {
  lab: Lab
  /** node1: the manager (and an agent). */
  mgr: LabNode
  /** node2: a worker. */
  w1: LabNode
  /** The node's data dir (its manager socket, docker-api.sock, tls/). */
  dataDir: (n: LabNode) => string
  /** `mesh ARGS` on the manager, through its socket. */
  mesh: (args: string[], timeoutMs?: number) => Promise<RunResult>
  /** Processes the part starts: killed by PID at the end of the file. */
  procs: Proc[]
  /** A one-time dashboard login code and the dashboard URL (`mesh ui login --json`). */
  loginCode: () => Promise<{ code: string; url: string }>
}
