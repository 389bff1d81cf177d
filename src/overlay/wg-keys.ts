import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../base/errors.ts'
import { writeFileAtomic } from '../base/state-file.ts'
import { isWireGuardKey } from '../base/values.ts'

/**
 * WireGuard keys: Curve25519 (X25519) pairs in WireGuard's base64 form. One private key per node, created on first
 * start and stored 0600 in the data dir (`wireguard.key`), so a restarted node keeps its identity.
 */

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

export interface WgKeyPair {
  /** base64, 32 bytes */
  privateKey: string
  publicKey: string
}

export function generateKeyPair(): WgKeyPair {
  const { privateKey } = generateKeyPairSync('x25519')
  const raw = (privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).subarray(-32)
  return { privateKey: raw.toString('base64'), publicKey: publicKeyOf(raw.toString('base64')) }
}

/** The public key for a base64 private key (what `wg pubkey` prints). */
export function publicKeyOf(privateKeyB64: string): string {
  const raw = decodeKey(privateKeyB64, 'private key')
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' })
  return (createPublicKey(key).export({ format: 'der', type: 'spki' }) as Buffer).subarray(-32).toString('base64')
}

/** base64 key → 32 raw bytes, or a ConfigError. */
export function decodeKey(b64: string, what = 'key'): Buffer {
  const raw = Buffer.from(b64.trim(), 'base64')
  if (raw.length !== 32 || raw.toString('base64') !== b64.trim()) throw new ConfigError(`WireGuard ${what}: want 32 bytes in base64 (44 characters)`)
  return raw
}

/** True for a WireGuard key exactly as `wg` prints it: 32 bytes in canonical base64 (44 characters), nothing else. */
export function isKey(b64: unknown): b64 is string {
  return isWireGuardKey(b64)
}

/** base64 key → the lowercase hex form the UAPI speaks. */
export function keyToHex(b64: string): string {
  return decodeKey(b64).toString('hex')
}

export function hexToKey(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64')
}

export const KEY_FILE = 'wireguard.key'

/** Load the node's key from the data dir, creating it (0600) on first start. */
export function loadOrCreateKey(dataDir: string): WgKeyPair {
  const path = join(dataDir, KEY_FILE)
  if (existsSync(path)) {
    const priv = readFileSync(path, 'utf8').trim()
    try {
      return { privateKey: priv, publicKey: publicKeyOf(priv) }
    } catch (err) {
      throw new ConfigError(`${path}: not a WireGuard private key (${(err as Error).message}); move it away to create a new one`)
    }
  }
  const pair = generateKeyPair()
  writeFileAtomic(path, `${pair.privateKey}\n`, 0o600)
  return pair
}
