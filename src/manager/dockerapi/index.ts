/**
 * mesh's Docker API: a read-only subset of the Docker Engine API's Swarm routes (API 1.41 shapes, moby's
 * api/swagger.yaml and api/types/swarm), so the ecosystem's own clients — the docker CLI, Prometheus's
 * dockerswarm_sd_configs, Traefik, Portainer, the Swarm visualizer — read mesh's nodes, services, tasks and networks.
 *
 *   GET|HEAD /_ping · /version · /info (Swarm section) · /nodes[/{id}] · /services[/{id}] · /tasks[/{id}] ·
 *   /networks[/{id}] · /events (swarm event types, since/until/filters)  — unversioned or /v1.24 … /v1.41
 *   any POST / PUT / DELETE → 501 naming the mesh command
 *
 * Who serves it: every manager, on `<data-dir>/docker-api.sock` (DOCKER_API_SOCKET in src/api; root and the `mesh`
 * group, as manager.sock) and on the 7947 API for admin client certificates (DOCKER_CERT_PATH layout). Mesh's own
 * routes are `/v1/…`, which never match `/v1.NN/…`. Invariants: nothing here writes to the store; no secret value,
 * registry credential or key is ever in an answer. Shape conversions are pure (one file per resource); router.ts
 * is the adapter. docs/docker-api.md.
 */
import express from 'express'
import { arch, hostname, release } from 'node:os'
import { MESH_VERSION } from '../../api/version.ts'
import type { Manager } from '../manager.ts'
import { dockerApi, type DockerApiOptions } from './router.ts'
import { dockerArch, goArch, type HostFacts } from './system.ts'

export { dockerApi, dockerPath, versionProblem, type DockerApiOptions } from './router.ts'
export { DOCKER_API_VERSION, DOCKER_MIN_API_VERSION, DockerApiError } from './shape.ts'
export { READ_ONLY, readOnlyMessage } from './writes.ts'

/** This host's facts as /version and /info report them. */
export function hostFacts(): HostFacts {
  return { arch: dockerArch(arch()), goArch: goArch(arch()), kernel: release(), hostname: hostname(), meshVersion: MESH_VERSION }
}

/** The app served on `<data-dir>/docker-api.sock`: the Docker API alone (every caller trusted: the socket is admin). */
export function createDockerApp(o: { manager: Manager; apiPort: number; host?: HostFacts }): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  const opts: DockerApiOptions = { manager: o.manager, apiPort: o.apiPort, host: o.host ?? hostFacts(), local: true }
  app.use(dockerApi(opts))
  app.use((_req, res) => { res.status(404).json({ message: 'page not found' }) })
  return app
}
