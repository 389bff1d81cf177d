import { realClock } from '../src/base/clock.ts'
import { MemberCertKeeper, writeMemberTls, type Manager } from '../src/manager/index.ts'
import type { Config } from '../src/config/index.ts'
import { etcdTlsDir } from './etcd-member.ts'
import type { ClusterParts } from './cluster.ts'
import type { Logger } from './log.ts'

/**
 * Wiring of the etcd member's certificate keeper (src/manager/etcd/member-certs.ts) on a serving manager with its
 * own member: renewals at two thirds of the certificate's life, a CA rotation's new leaf and roots, written to
 * `<data-dir>/etcd-tls` while etcd runs (it reads its certificate again per connection). etcd reads its trusted
 * roots, and this node's etcd clients their certificate, only when they start: after a rotation ends (or a renewal)
 * the agent says once that a restart of this manager's agent, one manager at a time, completes it (docs/operations.md).
 * The keeper looks again whenever the CA's roots change in the store, whichever manager changed them (polled).
 */
/** How often a manager looks whether the CA's roots changed in the store (a rotation made through another manager). */
export const CA_POLL_MS = 5_000

export interface MemberCertWiring {
  stop(): void
}

export function keepMemberCerts(config: Readonly<Config>, log: Logger, parts: ClusterParts, manager: Manager, clusterId: string): MemberCertWiring | null {
  const etcd = parts.etcd
  if (!etcd) return null
  const elog = log.child({ sub: 'etcd' })
  const keeper = new MemberCertKeeper({
    tls: etcd.tls,
    identity: { nodeId: etcd.member.config.name, clusterId, addr: config.gossip.advertiseAddr },
    authority: () => (parts.manager === manager ? manager.ca : null),
    write: async (tls) => { await writeMemberTls(etcdTlsDir(config.dataDir), tls) },
    written: (why) => {
      // While a rotation runs the new leaf carries the cross-signed root: every member and client accepts it as is.
      if (manager.ca.status().rotating) return
      elog.warn({ why }, 'etcd member certificate files renewed: restart this manager\'s agent (one manager at a time) so its etcd member trusts only the current root and its etcd clients use the new certificate')
    },
    clock: realClock(),
    now: Date.now,
    log: (level, msg, fields) => elog[level](fields ?? {}, msg),
  })
  // A rotation started or ended through another manager reaches this one only as a changed store value (no store
  // event, no ca.onChange here): look at the CA every CA_POLL_MS (a cached read; the keeper runs only on a change).
  let seen = caKey(manager)
  const poll = setInterval(() => {
    const now = caKey(manager)
    if (now === seen) return
    seen = now
    void keeper.check()
  }, CA_POLL_MS)
  poll.unref()
  const offCa = manager.ca.onChange(() => void keeper.check())
  void keeper.start()
  return { stop: () => { clearInterval(poll); offCa(); keeper.stop() } }
}

/** What the keeper compares: the current root and the trusted ones. */
function caKey(manager: Manager): string {
  try {
    const s = manager.ca.status()
    return `${s.digest}:${manager.ca.trust().roots.length}`
  } catch {
    return ''
  }
}
