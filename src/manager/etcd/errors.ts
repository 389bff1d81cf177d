import { MeshError } from '../../base/errors.ts'

/**
 * The manager's own etcd member could not do what it was asked: a member config out of range, an `etcd` binary
 * that does not start or never answers, a member add/remove the cluster refused, or a leader election that cannot
 * reach etcd. The message names the member (its node id) and, when known, the fix.
 */
export class EtcdMemberError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_ETCD_MEMBER', message, options)
  }
}
