import { MeshError } from '../../base/errors.ts'
import type { NetworkRecord } from '../../api/network.ts'

/**
 * What every shape conversion of the Docker API shares: docker's time and duration encodings, the object version,
 * the networks by id or name, and the error dockerd answers with (`{"message": "..."}` and its status).
 */

/** The newest Docker Engine API version served (the shapes follow moby's api/swagger.yaml of this version). */
export const DOCKER_API_VERSION = '1.41'
/** The oldest one a versioned path may name (`/v1.24/nodes`), as dockerd's default minimum. */
export const DOCKER_MIN_API_VERSION = '1.24'

/** A refused Docker API request: dockerd's status and message (`node x not found`, `invalid filter 'x'`). */
export class DockerApiError extends MeshError {
  readonly status: number
  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_DOCKER_API', message, options)
    this.status = status
  }
}

export { dockerTime } from '../../api/docker-network.ts'

/** Milliseconds → docker's durations (time.Duration: nanoseconds). */
export function nanos(ms: number): number {
  return Math.round(ms * 1e6)
}

/** docker's `Version` of an object: the store revision it was read at (monotonic: it only grows). */
export interface ObjectVersion {
  Index: number
}

/** The cluster state a conversion reads besides the record itself. */
export interface ShapeContext {
  /** The store revision the answer was read at (every object's Version.Index). */
  revision: number
  /** The networks, the default one first (src/manager/networks list()). */
  networks: readonly NetworkRecord[]
  /** The VIP range of the default network (`10.78.0.0/16`): its prefix length goes with each VIP. */
  vipRange: string
}

/** A network by id or name (a spec names networks as the user gave them). */
export function findNetwork(c: ShapeContext, ref: string): NetworkRecord | undefined {
  return c.networks.find((n) => n.id === ref) ?? c.networks.find((n) => n.spec.name === ref)
}

/** `10.80.0.5` on `10.80.0.0/20` → `10.80.0.5/20` (docker writes addresses with their network's prefix length). */
export function withPrefix(ip: string, cidr: string): string {
  const len = cidr.split('/')[1]
  return len === undefined ? ip : `${ip}/${len}`
}

/** A map copied (docker shows `{}` rather than null for empty labels). */
export function labelsOf(m: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return { ...(m ?? {}) }
}
