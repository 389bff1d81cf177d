import { MeshError } from '../base/errors.ts'

/** What a refused request is: the HTTP layer answers 400, 404, 409, 401 or 503 for these codes. */
export type RefusalCode = 'MESH_ERR_INVALID' | 'MESH_ERR_NOT_FOUND' | 'MESH_ERR_CONFLICT' | 'MESH_ERR_TOKEN' | 'MESH_ERR_UNAUTHORIZED' | 'MESH_ERR_UNAVAILABLE'

/**
 * A request the manager refuses before changing anything: bad input, an unknown node or service, a name or port
 * already taken, a wrong join token. The code says which; src/manager/http maps it to the HTTP status.
 */
export class RequestRefusedError extends MeshError {
  declare readonly code: RefusalCode
  constructor(code: RefusalCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}
