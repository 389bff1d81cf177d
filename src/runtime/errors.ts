import { MeshError } from '../base/errors.ts'

/**
 * The Docker engine refused a request. `engineMessage` is the engine's own text, unchanged (e.g.
 * `No such image: nosuch:latest`, `pull access denied for nosuch, repository does not exist or may require
 * 'docker login': denied: requested access to the resource is denied`): the runner reports exactly that to the
 * manager, so `service ps` shows what `docker` itself would have said.
 */
export class EngineError extends MeshError {
  readonly engineMessage: string
  /** HTTP status of the engine's answer; 0 when the socket failed or the error came inside a stream. */
  readonly statusCode: number
  constructor(op: string, subject: string, engineMessage: string, statusCode: number, options?: { cause?: unknown }) {
    super('MESH_ERR_DOCKER', `docker: ${op} ${subject}: ${engineMessage}`, options)
    this.engineMessage = engineMessage
    this.statusCode = statusCode
  }
}

interface ModemError {
  message?: unknown
  statusCode?: unknown
  json?: unknown
}

/**
 * The engine's text inside a dockerode/docker-modem error. docker-modem formats
 * `(HTTP code 404) no such container - No such container: abc ` and keeps the parsed body in `json` (not for
 * streamed endpoints such as pull, where only the formatted message is left).
 */
export function engineText(err: unknown): string {
  const e = (err ?? {}) as ModemError
  const json = e.json as { message?: unknown } | null | undefined
  if (json && typeof json === 'object' && typeof json.message === 'string') return json.message.trim()
  const msg = typeof e.message === 'string' ? e.message : String(err)
  const m = /^\(HTTP code \d+\) [^-]*- ([\s\S]*)$/.exec(msg)
  return (m ? m[1] as string : msg).trim()
}

/** Wrap a dockerode error as an EngineError naming the operation and its subject. */
export function engineError(op: string, subject: string, err: unknown): EngineError {
  if (err instanceof EngineError) return err
  const status = typeof (err as ModemError)?.statusCode === 'number' ? (err as ModemError).statusCode as number : 0
  return new EngineError(op, subject, engineText(err), status, { cause: err })
}

/** The manager could not learn an image tag's digest from its registry (registry-resolve.ts): the registry's status or the network's error, naming the image. */
export class RegistryError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_REGISTRY', message, options)
  }
}

/**
 * A task's secret or config files could not be made on this node: a value the manager has not sent (yet), a tmpfs
 * that would not mount, a file that could not be written. The message names the reference, never its value.
 */
export class TaskFilesError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_TASK_FILES', message, options)
  }
}
