import { ControlError } from '../base/errors.ts'
import { socketPermissionMessage } from '../base/unix-socket.ts'
import { NotJsonError, errorOf, jsonRequest, type HttpTarget } from './http.ts'
import { CommandConnError } from './command-conn.ts'
import { commandConnMessage } from './client.ts'

/**
 * The client half of the agent's control socket: HTTP over the unix socket `<data-dir>/mesh.sock` (root only, or
 * root:mesh 0660 with a `mesh` group, like docker.sock), answering the shapes of ./status.ts. The server half is agent/control.ts. A remote agent is reached
 * the same way through `ssh … mesh dial-stdio --control` (an AgentTarget with a dialing HttpTarget).
 */
export const CONTROL_SOCKET = 'mesh.sock'

/** Where the agent is: a local socket path, or a target and how to name it in messages (`ssh://root@h`). */
export type AgentTarget = string | { target: HttpTarget; where: string; timeoutMs?: number }

/** GET a JSON document from the control socket; every failure is one ControlError line. */
export async function controlGet<T>(agent: AgentTarget, path: string, timeoutMs = 5000): Promise<T> {
  return controlRequest<T>(agent, 'GET', path, timeoutMs)
}

/** POST to the control socket (an action such as `mesh leave`); every failure, refusals included, is one ControlError line. */
export async function controlPost<T>(agent: AgentTarget, path: string, timeoutMs: number): Promise<T> {
  return controlRequest<T>(agent, 'POST', path, timeoutMs)
}

async function controlRequest<T>(agent: AgentTarget, method: 'GET' | 'POST', path: string, timeoutMs: number): Promise<T> {
  const { target, where, local } = typeof agent === 'string'
    ? { target: { socketPath: agent }, where: agent, local: true }
    : { target: agent.target, where: agent.where, local: false }
  const wait = typeof agent === 'string' || !agent.timeoutMs ? timeoutMs : Math.max(timeoutMs, agent.timeoutMs)
  let reply
  try {
    reply = await jsonRequest(target, { method, path, timeoutMs: wait })
  } catch (err) {
    if (err instanceof NotJsonError) throw new ControlError(`agent at ${where} sent a reply that is not JSON`)
    if (err instanceof CommandConnError) throw new ControlError(commandConnMessage(where, err), { cause: err })
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES') throw new ControlError(socketPermissionMessage(where), { cause: err })
    const why = code === 'ENOENT' || code === 'ECONNREFUSED'
      ? 'is the agent running? (start it with `mesh agent`, or pass the same --data-dir)'
      : (err as Error).message
    throw new ControlError(`cannot reach the ${local ? 'local ' : ''}agent at ${where}: ${why}`, { cause: err })
  }
  if (reply.status >= 400) throw new ControlError(errorOf(reply).message)
  return reply.body as T
}
