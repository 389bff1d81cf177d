import { MeshError } from '../base/index.ts'

/** Ingress could not start or apply its configuration (a port in use, bad options, nft refused the ruleset). */
export class IngressError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_INGRESS', message, options)
  }
}
