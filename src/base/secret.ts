import { createHash, timingSafeEqual } from 'node:crypto'

/**
 * Whether a presented secret (token, credential, cookie) equals the expected one, in constant time: both are hashed
 * to SHA-256 first, so the comparison never depends on where they differ nor leaks the expected length. An empty
 * expected secret matches nothing.
 */
export function sameSecret(presented: string, expected: string): boolean {
  if (expected === '') return false
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * A key's public name: `sha256:` and the first 16 hex digits of its SHA-256 (gossip keys in `mesh key ls` and
 * `mesh status --json`). It tells keys apart and reveals nothing that helps to guess one.
 */
export function keyFingerprint(key: Uint8Array): string {
  return `sha256:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`
}
