import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { OverlayConfig } from '../config/overlay.ts'
import { parseCidr } from '../base/cidr.ts'
import { SubnetPool } from './ipam.ts'
import { readLease } from './lease.ts'
import { linkInfo } from './links.ts'
import { TAG_SUBNET, TAG_SUBNET_HELD, TAG_WG_KEY, TAG_WG_PORT } from './tags.ts'
import { KEY_FILE, loadOrCreateKey } from './wg-keys.ts'

/**
 * Live restore: an agent that stopped without leaving (SIGTERM, or a handover to a new process) left its WireGuard
 * interface, routes, firewall and Docker network up and its subnet lease on disk. The next start puts the overlay
 * tags it had (key, port, subnet, held) in gossip BEFORE gossip starts, so the first alive it sends (and the
 * refutation that follows a restart) carries them, and peers never drop this node's WireGuard peer or route.
 * Null when there is nothing to resume: overlay off, no key or lease, or no interface left.
 */
export async function resumeTags(c: Readonly<OverlayConfig>, dataDir: string): Promise<Record<string, string> | null> {
  if (c.mode === 'off' || !existsSync(join(dataDir, KEY_FILE))) return null
  const subnet = readLease(dataDir, c.range, new SubnetPool(parseCidr(c.range, 'overlay range'), c.subnetPrefix))
  if (!subnet || !(await linkInfo(c.ifname))) return null
  const key = loadOrCreateKey(dataDir) // exists: read, never created here
  return { [TAG_WG_KEY]: key.publicKey, [TAG_WG_PORT]: String(c.wgPort), [TAG_SUBNET]: subnet, [TAG_SUBNET_HELD]: '1' }
}
