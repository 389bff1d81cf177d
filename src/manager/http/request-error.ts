import { MeshError } from '../../base/errors.ts'
import { RequestRefusedError, type RefusalCode } from '../request-refused.ts'
import { StoreConflictError, StoreError } from '../store-errors.ts'

/** A request the HTTP layer refuses itself (a body that is not an object, a missing field), with its status. */
export class RequestError extends MeshError {
  readonly status: number
  constructor(status: number, code: string, message: string) {
    super(code, message)
    this.status = status
  }
}

const REFUSAL_STATUS: Record<RefusalCode, number> = {
  MESH_ERR_INVALID: 400,
  MESH_ERR_NOT_FOUND: 404,
  MESH_ERR_CONFLICT: 409,
  MESH_ERR_TOKEN: 401,
  MESH_ERR_UNAUTHORIZED: 401,
  MESH_ERR_UNAVAILABLE: 503,
}

/**
 * The status an error thrown by a route answers with: its own, the refusal's, 409 for a store uniqueness conflict,
 * 503 for any other store failure (the store is closed or unusable: worth a retry, and agents retry 5xx), 400 for
 * any other MeshError.
 */
export function statusOf(err: MeshError): number {
  if (err instanceof RequestError) return err.status
  if (err instanceof RequestRefusedError) return REFUSAL_STATUS[err.code]
  if (err instanceof StoreConflictError) return 409
  if (err instanceof StoreError) return 503
  return 400
}
