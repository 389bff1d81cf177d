import { MeshError } from '../base/errors.ts'

/**
 * Errors of the compose loader. The message starts with the file and the key path, as users see it:
 * `stack.yml: services.web.ports[0]: invalid port "80:"`.
 */

/** A compose file does not parse, breaks the compose v3 schema, or asks for something mesh cannot do. */
export class StackFileError extends MeshError {
  /** The file as the user named it (`-c stack.yml`). */
  readonly file: string
  /** The key path inside it, `services.web.ports[0]`; empty for the whole file. */
  readonly path: string
  constructor(file: string, path: string, message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_STACK_FILE', `${file}: ${path === '' ? '' : `${path}: `}${message}`, options)
    this.file = file
    this.path = path
  }
}

/** A deploy cannot go ahead: a name is taken by a service outside the stack, a port by another service, … */
export class StackError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_STACK', message, options)
  }
}

/** A key path as users write it: `services.web.ports[0].target`. */
export type KeyPath = readonly (string | number)[]

export function formatPath(path: KeyPath): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else out += out === '' ? seg : `.${seg}`
  }
  return out
}
