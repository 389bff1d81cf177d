import { MeshError } from '../base/errors.ts'

/** The DNS server could not bind its addresses, or an upstream exchange failed (the message names the address). */
export class DnsError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_DNS', message, options)
  }
}
