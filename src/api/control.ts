import { ControlError } from '../base/errors.ts'
import { socketPermissionMessage } from '../base/unix-socket.ts'
import { NotJsonError, errorOf, jsonRequest } from './http.ts'

/**
 * The client half of the agent's control socket: HTTP over the unix socket `<data-dir>/mesh.sock` (root only, or
 * root:mesh 0660 with a `mesh` group, like docker.sock), answering the shapes of ./status.ts. The server half is agent/control.ts.
 */
export const CONTROL_SOCKET = 'mesh.sock'

/** GET a JSON document from the control socket; every failure is one ControlError line. */
export async function controlGet<T>(socketPath: string, path: string, timeoutMs = 5000): Promise<T> {
  return controlRequest<T>(socketPath, 'GET', path, timeoutMs)
}

/** POST to the control socket (an action such as `mesh leave`); every failure, refusals included, is one ControlError line. */
export async function controlPost<T>(socketPath: string, path: string, timeoutMs: number): Promise<T> {
  return controlRequest<T>(socketPath, 'POST', path, timeoutMs)
}

async function controlRequest<T>(socketPath: string, method: 'GET' | 'POST', path: string, timeoutMs: number): Promise<T> {
  let reply
  try {
    reply = await jsonRequest({ socketPath }, { method, path, timeoutMs })
  } catch (err) {
    if (err instanceof NotJsonError) throw new ControlError(`agent at ${socketPath} sent a reply that is not JSON`)
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES') throw new ControlError(socketPermissionMessage(socketPath), { cause: err })
    const why = code === 'ENOENT' || code === 'ECONNREFUSED'
      ? 'is the agent running? (start it with `mesh agent`, or pass the same --data-dir)'
      : (err as Error).message
    throw new ControlError(`cannot reach the local agent at ${socketPath}: ${why}`, { cause: err })
  }
  if (reply.status >= 400) throw new ControlError(errorOf(reply).message)
  return reply.body as T
}
