import { MeshError } from '../../base/errors.ts'

/**
 * The vault cannot do what was asked: a sealed value or wrapped key that does not open (another key, a value moved
 * to another record, a damaged store), a missing or unreadable key-encryption key file, a wrong unlock key. The
 * message names the file or the record, never a key or a value.
 */
export class VaultError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_VAULT', message, options)
  }
}

/** The manager is locked (autolock, after a restart): nothing is answered until `mesh unlock`. */
export class ManagerLockedError extends MeshError {
  constructor(options?: { cause?: unknown }) {
    super('MESH_ERR_LOCKED', 'the manager is locked: run mesh unlock', options)
  }
}
