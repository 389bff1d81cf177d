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

/** The three refusals most writes make: bad input (400), an unknown object (404), a name or port taken (409). */
export const invalid = (msg: string): RequestRefusedError => new RequestRefusedError('MESH_ERR_INVALID', msg)
export const notFound = (msg: string): RequestRefusedError => new RequestRefusedError('MESH_ERR_NOT_FOUND', msg)
export const conflict = (msg: string): RequestRefusedError => new RequestRefusedError('MESH_ERR_CONFLICT', msg)
