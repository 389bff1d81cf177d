import type { MeshLab } from '../../support/mesh-lab.ts'

/** What every part of test/e2e/networks.test.ts gets: the lab (1 manager + 3 workers) with agents up. */
export interface NetworksContext {
  c: MeshLab
}
