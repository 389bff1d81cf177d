/**
 * Errors of the manager's store (src/manager/store.ts and its backends). `StoreError` is the base every store
 * failure is an instance of; the subclasses carry the codes callers branch on (the API maps MESH_ERR_CONFLICT to
 * HTTP 409, and a watcher that gets MESH_ERR_COMPACTED re-reads the whole state and watches from its revision).
 */
import { MeshError } from '../base/errors.ts'

/** The store cannot do what was asked: it is closed, the file is unusable, a record lacks its id, misuse. */
export class StoreError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }, code = 'MESH_ERR_STORE') {
    super(code, message, options)
  }
}

/** A write would break a uniqueness rule (service name, node hostname). The transaction left nothing behind. */
export class StoreConflictError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, 'MESH_ERR_CONFLICT')
  }
}

/** `watch(fromRevision)` asked for history the store no longer keeps. Re-read `getState()` and watch from there. */
export class StoreCompactedError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, 'MESH_ERR_COMPACTED')
  }
}

/**
 * The store's consensus backend (etcd) could not commit: a majority of its members is unreachable, or none
 * answered within the bound. Nothing of the write is known to have happened; retry once quorum is back.
 */
export class NoQuorumError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, 'MESH_ERR_NO_QUORUM')
  }
}
