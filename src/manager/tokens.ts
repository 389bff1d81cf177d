import { createHash, randomBytes } from 'node:crypto'
import { sameSecret } from '../base/secret.ts'

/**
 * Cluster identity and join tokens, shaped like Docker Swarm's (`SWMTKN-1-<cluster digest>-<secret>`):
 * `MESHTKN-1-<50 base36 chars of the cluster id digest>-<25 base36 chars of secret>`. A worker token and a manager
 * token exist per cluster; rotating one invalidates it at once. Comparison is constant-time.
 */

export type JoinRole = 'worker' | 'manager'
const PREFIX = 'MESHTKN-1'

function base36(bytes: Buffer, len: number): string {
  let n = BigInt(`0x${bytes.toString('hex')}`)
  let out = ''
  while (out.length < len) {
    out += (n % 36n).toString(36)
    n /= 36n
  }
  return out
}

export function newClusterId(random: (n: number) => Buffer = randomBytes): string {
  return random(16).toString('hex')
}

/** The digest part every token of the cluster shares. */
export function clusterDigest(clusterId: string): string {
  return base36(createHash('sha256').update(clusterId).digest(), 50)
}

export function newToken(clusterId: string, random: (n: number) => Buffer = randomBytes): string {
  return `${PREFIX}-${clusterDigest(clusterId)}-${base36(random(16), 25)}`
}

export interface ParsedToken {
  digest: string
  secret: string
}

export function parseToken(token: string): ParsedToken | null {
  const m = /^MESHTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(token.trim())
  return m ? { digest: m[1] as string, secret: m[2] as string } : null
}

/** Which role a presented token grants, or null. */
export function roleForToken(presented: string, tokens: { worker: string; manager: string }): JoinRole | null {
  if (!parseToken(presented)) return null
  if (sameSecret(presented.trim(), tokens.manager)) return 'manager'
  if (sameSecret(presented.trim(), tokens.worker)) return 'worker'
  return null
}
