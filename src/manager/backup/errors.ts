import { MeshError } from '../../base/errors.ts'

/** A backup file that cannot be used (damaged, another format, a hostile record), or a restore target refused. */
export class BackupError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_BACKUP', message, options)
  }
}
