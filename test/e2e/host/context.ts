import type { MeshLab } from '../../support/mesh-lab.ts'

/** What every part of test/e2e/host.test.ts gets: the lab with agents up, and the group the sockets are open to. */
export interface HostContext {
  c: MeshLab
  group: string
}
