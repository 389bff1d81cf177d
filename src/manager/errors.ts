/**
 * Errors of the manager's decision core (orchestrator, scheduler, update). Spec errors (ConstraintError,
 * ServiceSpecError) are src/api/errors.ts. Codes are stable; the message names
 * the subject (a constraint, a service) and, when known, the fix.
 */
import { MeshError } from '../base/errors.ts'

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

/** A node's traffic report (`POST /v1/agent/traffic`) is malformed or out of bounds; nothing of it is kept. */
export class TrafficReportError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_TRAFFIC_REPORT', message, options)
  }
}
