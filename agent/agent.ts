import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../src/config/index.ts'
import { Gossip, type GossipEvent } from '../src/gossip/index.ts'
import { Overlay } from '../src/overlay/index.ts'
import { ControlServer, CONTROL_SOCKET } from './control.ts'
import type { Logger } from './log.ts'

/**
 * agent/ — process wiring for `mesh agent`. Start order: data dir → gossip (bind, join) → overlay (WireGuard,
 * subnet claim, Docker network) → control socket.
 * Stop order is the reverse. SIGTERM and SIGINT mean a graceful leave (peers see `left`, not `failed`);
 * a second signal exits at once.
 */
export interface RunningAgent {
  gossip: Gossip
  overlay: Overlay
  /** Graceful leave and shutdown; resolves when everything is closed. */
  shutdown(reason: string): Promise<void>
}

export async function startAgent(config: Readonly<Config>, log: Logger): Promise<RunningAgent> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const glog = log.child({ sub: 'gossip' })
  const gossip = new Gossip(config.gossip, {
    onTransportError: (err, where) => glog.warn({ where, err: err.message }, 'transport error'),
  })
  gossip.on((e) => logEvent(glog, e))
  const olog = log.child({ sub: 'overlay' })
  const overlay = new Overlay(config.overlay, {
    gossip, dataDir: config.dataDir, advertiseAddr: config.gossip.advertiseAddr,
    log: (level, msg, fields) => olog[level](fields ?? {}, msg),
  })
  const control = new ControlServer(join(config.dataDir, CONTROL_SOCKET), {
    '/v1/status': async () => ({
      node: config.gossip.name,
      address: `${config.gossip.advertiseAddr}:${gossip.localAddress.port}`,
      members: gossip.members(),
      counters: gossip.counters(),
      overlay: await overlay.status(),
    }),
    '/v1/members': () => gossip.members(),
    '/v1/overlay': () => overlay.status(),
  })
  await control.start()
  try {
    await gossip.start()
    await overlay.start()
  } catch (err) {
    await overlay.stop().catch(() => undefined)
    await gossip.stop()
    await control.stop()
    throw err
  }
  log.info({ node: config.gossip.name, bind: `${config.gossip.bindAddr}:${config.gossip.bindPort}`,
    advertise: `${config.gossip.advertiseAddr}:${gossip.localAddress.port}`, encrypted: config.gossip.encryptKeys.length > 0,
    members: gossip.members().length }, 'agent started')

  let stopping: Promise<void> | null = null
  const shutdown = (reason: string): Promise<void> => {
    if (stopping) return stopping
    log.info({ reason }, 'leaving the cluster')
    stopping = (async () => {
      try {
        await overlay.stop().catch((err: Error) => log.error({ err: err.message }, 'overlay teardown failed'))
        await gossip.leave()
      } finally {
        await control.stop()
      }
      log.info('agent stopped')
    })()
    return stopping
  }
  return { gossip, overlay, shutdown }
}

function logEvent(log: Logger, e: GossipEvent): void {
  switch (e.type) {
    case 'user':
      log.debug({ event: e.name, ltime: e.ltime, bytes: e.payload.length }, 'user event')
      return
    case 'direct':
      log.debug({ bytes: e.payload.length }, 'direct message')
      return
    case 'conflict':
      log.error({ node: e.name, existing: e.existing, other: e.other }, 'conflicting address for node name: names must be unique')
      return
    case 'refuted':
      log.warn({ incarnation: e.incarnation, accusedBy: e.accusedBy }, 'refuted a suspicion about this node')
      return
    default:
      log.info({ event: e.type, node: e.member.name, address: `${e.member.ip}:${e.member.port}`, status: e.member.status,
        incarnation: e.member.incarnation }, `member ${e.type}`)
  }
}
