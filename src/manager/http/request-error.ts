import { MeshError } from '../../base/errors.ts'
import { RequestRefusedError, type RefusalCode } from '../request-refused.ts'

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
}

/** The status an error thrown by a route answers with: its own, the refusal's, 400 for any other MeshError. */
export function statusOf(err: MeshError): number {
  if (err instanceof RequestError) return err.status
  if (err instanceof RequestRefusedError) return REFUSAL_STATUS[err.code]
  return 400
}
