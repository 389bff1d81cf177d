import { realClock } from '../src/base/clock.ts'
import { MemberCertKeeper, memberHealth, writeMemberTls, type Manager } from '../src/manager/index.ts'
import type { Config } from '../src/config/index.ts'
import { etcdTlsDir } from './etcd-member.ts'
import { stopManager } from './manager-half.ts'
import type { ClusterParts } from './cluster.ts'
import type { Logger } from './log.ts'

/**
 * Wiring of the etcd member's certificate keeper (src/manager/etcd/member-certs.ts) on a serving manager with its
 * own member: renewals at two thirds of the certificate's life, a CA rotation's new leaf and roots. After new files
 * are written (and no rotation is running), the manager half restarts (stopManager, then the role's reopen: the
 * member from its files, new etcd clients, the manager, its API) so etcd loads the roots and this node's clients the
 * certificate: after a rotation, one restart per manager drops the old root. One manager at a
 * time: a key with a lease of RESTART_HOLD_S seconds is taken first and never released (the restarted half's client
 * is gone), so the next manager restarts only after that hold; none restarts while a member is unreachable.
 */
export const RESTART_KEY = '/mesh-coordination/member-restart'
export const RESTART_HOLD_S = 20
const RETRY_MS = 10_000

export interface MemberCertWiring {
  stop(): void
}

export function keepMemberCerts(config: Readonly<Config>, log: Logger, parts: ClusterParts, manager: Manager, clusterId: string): MemberCertWiring | null {
  const etcd = parts.etcd
  if (!etcd) return null
  const elog = log.child({ sub: 'etcd' })
  let restarting = false
  const keeper = new MemberCertKeeper({
    tls: etcd.tls,
    identity: { nodeId: etcd.member.config.name, clusterId, addr: config.gossip.advertiseAddr },
    authority: () => (parts.manager === manager ? manager.ca : null),
    write: async (tls) => { await writeMemberTls(etcdTlsDir(config.dataDir), tls) },
    written: (why) => {
      // While a rotation runs, the new leaf carries the cross-signed root: members and clients that trust only the
      // old root accept it, so nothing needs a restart yet. The rotation's end rewrites the roots file: then.
      if (restarting || manager.ca.status().rotating) return
      restarting = true
      void restartWhenFree(parts, manager, elog, why)
    },
    clock: realClock(),
    now: Date.now,
    log: (level, msg, fields) => elog[level](fields ?? {}, msg),
  })
  const off = manager.ca.onChange(() => void keeper.check())
  void keeper.start()
  return { stop: () => { off(); keeper.stop() } }
}

/** Restart this manager half once no other manager is restarting and every member answers (bounded by the half's life). */
async function restartWhenFree(parts: ClusterParts, manager: Manager, log: Logger, why: string): Promise<void> {
  for (;;) {
    const etcd = parts.etcd
    if (!etcd || parts.manager !== manager) return // stopped, demoted or restarted meanwhile: its next start reads the files
    try {
      const health = await memberHealth(etcd.client, etcd.tls)
      const down = health.filter((m) => !m.reachable).map((m) => m.name)
      if (down.length === 0) {
        const lease = etcd.client.lease(RESTART_HOLD_S, { autoKeepAlive: false })
        const id = await lease.grant()
        const taken = await etcd.client.if(RESTART_KEY, 'Create', '==', 0).then(etcd.client.put(RESTART_KEY).value(etcd.member.config.name).lease(id)).commit()
        if (taken.succeeded && parts.manager === manager) {
          log.info({ why }, 'restarting the manager half: its etcd member and clients load the new certificate files')
          await stopManager(parts)
          parts.role?.reopen()
          return
        }
        await lease.revoke().catch(() => undefined)
      } else {
        log.info({ down }, 'the manager half restarts for its new etcd certificate once every member answers')
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'manager half restart: will try again')
    }
    await new Promise((r) => setTimeout(r, RETRY_MS + Math.floor(Math.random() * 5_000)))
  }
}
