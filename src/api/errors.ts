/**
 * Errors of the product vocabulary: a spec or a constraint that does not hold, wherever it enters (API, CLI, stack
 * loader). Codes are stable (docs/errors.md); the message names the subject and, when known, the fix.
 */
import { MeshError } from '../base/errors.ts'

/** A placement constraint does not parse or names a field mesh does not know. Rejected before the spec is stored. */
export class ConstraintError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CONSTRAINT', message, options)
  }
}

/** A service spec is invalid (negative replicas, a port published twice, reservations above limits, …). */
export class ServiceSpecError extends MeshError {
  /** Every problem found, one short sentence each (what `validateServiceSpec` returned). */
  readonly problems: readonly string[]
  constructor(service: string, problems: readonly string[], options?: { cause?: unknown }) {
    super('MESH_ERR_SERVICE_SPEC', `service "${service}": ${problems.join('; ')}`, options)
    this.problems = problems
  }
}

/** A create/update request for a service is malformed: not an object, an unknown field, bad registry credentials. */
export class ServiceRequestError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_SERVICE_REQUEST', message, options)
  }
}

/** A gossip key rotation stalled: ready nodes did not acknowledge a step in time (every node still holds both keys). */
export class KeyRotationError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_KEY_ROTATION', message, options)
  }
}

/**
 * A service is not converging: every slot that is not stable keeps failing (src/api/convergence.ts). `mesh service
 * create|update|scale|rollback` and `mesh stack deploy` end with it (exit 1) instead of waiting for ever.
 */
export class ConvergenceError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_NOT_CONVERGING', message, options)
  }
}
