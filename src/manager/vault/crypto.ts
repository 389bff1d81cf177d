import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto'
import { VaultError } from './errors.ts'

/**
 * The vault's cryptography, pure (randomness injected): AES-256-GCM with a random 96-bit nonce per value and the
 * owner of the value as additional data, so a sealed value opens only for the record (and purpose) it was sealed
 * for. A sealed value is text, `v1.` + base64(nonce | ciphertext | tag).
 */

/** Random bytes (crypto.randomBytes in production; a seeded source in tests). */
export type RandomBytes = (n: number) => Buffer

export const KEY_BYTES = 32
const NONCE_BYTES = 12
const TAG_BYTES = 16
const PREFIX = 'v1.'

/** Seal `plain` under `key` for `aad` (who the value belongs to: a record id, `data-key`, …). */
export function seal(key: Buffer, aad: string, plain: Buffer, random: RandomBytes): string {
  const nonce = random(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const body = Buffer.concat([cipher.update(plain), cipher.final()])
  return PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')
}

/** Open what `seal` made with the same key and `aad`; a VaultError (naming `what`) when it does not open. */
export function open(key: Buffer, aad: string, sealed: string, what: string): Buffer {
  if (typeof sealed !== 'string' || !sealed.startsWith(PREFIX)) throw new VaultError(`${what}: not a sealed value`)
  const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64')
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new VaultError(`${what}: sealed value too short`)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES))
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
    return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()])
  } catch (err) {
    throw new VaultError(`${what}: does not open with this key`, { cause: err })
  }
}

/** `additional data` of the data key wrapped by the KEK, and of the KEK wrapped by the unlock key. */
export const DATA_KEY_AAD = 'mesh vault data key'
export const KEK_AAD = 'mesh vault key-encryption key'
export const UNLOCK_KEY_AAD = 'mesh vault unlock key'

const UNLOCK_PREFIX = 'MESHUNLOCK-1-'

/** A new unlock key (`MESHUNLOCK-1-` + 256 random bits, base64url), as Swarm's `SWMKEY-1-…`. */
export function newUnlockKey(random: RandomBytes): string {
  return UNLOCK_PREFIX + random(KEY_BYTES).toString('base64url')
}

/** The key that wraps the KEK, derived from an unlock key (HKDF-SHA256: the unlock key is already 256 random bits). */
export function unlockWrappingKey(unlockKey: string): Buffer {
  const text = unlockKey.trim()
  const raw = text.startsWith(UNLOCK_PREFIX) ? Buffer.from(text.slice(UNLOCK_PREFIX.length), 'base64url') : Buffer.alloc(0)
  if (raw.length !== KEY_BYTES) throw new VaultError(`invalid unlock key: want ${UNLOCK_PREFIX}… as mesh agent --init --autolock or mesh unlock-key printed it`)
  return Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), Buffer.from('mesh vault unlock', 'utf8'), KEY_BYTES))
}
