import { Etcd3, type IOptions } from 'etcd3'
import type { MemberTls } from './tls.ts'
import { EtcdMemberError } from './errors.ts'
import { MEMBER_CERT_NAME } from './config.ts'

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>

/**
 * Runs each call once. etcd3's default puts a circuit breaker on every host (three failures close it for 5 s) and
 * retries three times: a member that restarts or joins would then stay unreachable for seconds after it serves, and
 * membership changes that etcd briefly refuses ("unhealthy cluster") would fail on the breaker instead of on
 * etcd's answer. Callers here retry themselves, bounded (membership.ts, leader.ts, waitReady).
 */
const once = { execute: (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) => Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal })) } as unknown as Policy

type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>

/**
 * The watch stream's reconnect delay: 250 ms doubling to 2 s (etcd3's default grows to 30 s, so a watch on a
 * member that restarted could stay blind for half a minute; its timers also outlive close() by as much).
 */
function watchBackoff(ms: number): Backoff {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, 2000)) } as unknown as Backoff
}

/**
 * An etcd client with the cluster's certificates (mutual TLS: etcd refuses a client without a certificate the
 * cluster CA signed). Unary calls get a deadline so a dead member fails a call instead of hanging it. The server is
 * checked by the name every member certificate carries (MEMBER_CERT_NAME, from the cluster CA only) rather than the
 * address dialled: gRPC would otherwise send the IP as TLS SNI, which Node deprecates (DEP0123) and etcd ignores.
 */
export function etcdClient(o: { endpoints: readonly string[]; tls: MemberTls; callTimeoutMs?: number; dialTimeoutMs?: number }): Etcd3 {
  const callTimeoutMs = o.callTimeoutMs ?? 5000
  return new Etcd3({
    hosts: [...o.endpoints],
    credentials: { rootCertificate: Buffer.from(o.tls.caPem), certChain: Buffer.from(o.tls.certPem), privateKey: Buffer.from(o.tls.keyPem) },
    dialTimeout: o.dialTimeoutMs ?? 5000,
    grpcOptions: { 'grpc.ssl_target_name_override': MEMBER_CERT_NAME },
    faultHandling: { host: () => once, global: once, watchBackoff: watchBackoff(125) },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  })
}

/**
 * Waits until the member answers a linearizable read (it has joined and the cluster has a quorum), bounded by
 * `timeoutMs`; throws EtcdMemberError with the last failure otherwise.
 */
export async function waitReady(client: Etcd3, o: { name: string; timeoutMs: number; intervalMs?: number }): Promise<void> {
  const deadline = Date.now() + o.timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      await client.get('/mesh/health').options({ deadline: Math.min(deadline, Date.now() + 2000) }).string()
      return
    } catch (err) {
      last = (err as Error).message
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 200))
  }
  throw new EtcdMemberError(`etcd member "${o.name}" did not answer within ${o.timeoutMs} ms: ${last}`)
}
