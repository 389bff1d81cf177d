/**
 * Errors of the manager's decision core (orchestrator, scheduler, constraints). Codes are stable; the message names
 * the subject (a constraint, a service) and, when known, the fix.
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

/** No node can take a task of this service right now; the message is the scheduler's explanation. */
export class NoSuitableNodeError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_NO_SUITABLE_NODE', message, options)
  }
}

/** `mesh service rollback` on a service that has no previous spec. */
export class RollbackError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_ROLLBACK', message, options)
  }
}
