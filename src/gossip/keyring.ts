/**
 * memberlist's keyring and AES-GCM envelope (spec §6).
 *
 * Blob = `vsn:u8 | nonce:12 | ciphertext ‖ tag:16`. vsn 1 (what serf sends) encrypts the plaintext as is;
 * vsn 0 (legacy) PKCS#7-pads it to 16 bytes first. UDP uses an empty AAD, streams the 5 header bytes
 * `0a | len:u32be`. Encrypt uses the primary key; decrypt tries every key, primary first. Errors carry serf's
 * wording so logs read the same on both sides.
 */
import { type CipherGCMTypes, createCipheriv, createDecipheriv, randomBytes as nodeRandomBytes } from 'node:crypto'
import { ConfigError, GossipDecryptError } from '../base/errors.ts'
import { keyFingerprint } from '../base/secret.ts'
import { ENCRYPT_VSN_PADDED, ENCRYPT_VSN_PLAIN } from './wire.ts'

const NONCE_BYTES = 12
const TAG_BYTES = 16
const BLOCK = 16
const KEY_SIZES: readonly number[] = [16, 24, 32]

/** Options for a Keyring. */
export interface KeyringOptions {
  /** Source of nonces. Default: crypto.randomBytes. Tests inject a fixed one to reproduce captured vectors. */
  randomBytes?: (n: number) => Uint8Array
}

function checkKey(key: Uint8Array): Uint8Array {
  if (!KEY_SIZES.includes(key.length)) {
    throw new ConfigError(`encryption key must be 16, 24 or 32 bytes after base64 decoding, got ${key.length}`)
  }
  return Uint8Array.from(key)
}

function gcm(key: Uint8Array): CipherGCMTypes {
  return `aes-${key.length * 8}-gcm` as CipherGCMTypes
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** Length of the blob `encrypt` produces for `plainLen` bytes (memberlist encryptedLength). */
export function encryptedLength(vsn: number, plainLen: number): number {
  const body = vsn === ENCRYPT_VSN_PADDED ? plainLen + (BLOCK - (plainLen % BLOCK)) : plainLen
  return 1 + NONCE_BYTES + body + TAG_BYTES
}

/** The installed AES keys: one primary (used to encrypt) plus any number of extra keys (tried on decrypt). */
export class Keyring {
  #keys: Uint8Array[]
  readonly #random: (n: number) => Uint8Array

  /** `keys[0]` is the primary, like serf's `-keyring-file` list. Each key must be 16, 24 or 32 bytes. */
  constructor(keys: readonly Uint8Array[], options: KeyringOptions = {}) {
    if (keys.length === 0) throw new ConfigError('keyring needs at least one key (the primary)')
    this.#keys = []
    for (const k of keys) {
      const key = checkKey(k)
      if (!this.#keys.some((x) => sameBytes(x, key))) this.#keys.push(key)
    }
    this.#random = options.randomBytes ?? ((n) => nodeRandomBytes(n))
  }

  /** Decode a base64 key as given to `-encrypt` or in a keyring file; ConfigError if not 16/24/32 bytes. */
  static parseKey(base64: string): Uint8Array {
    const s = base64.trim()
    if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
      throw new ConfigError('encryption key is not valid base64 (standard alphabet, padded)')
    }
    return checkKey(Uint8Array.from(Buffer.from(s, 'base64')))
  }

  /** Install an extra key (no-op if already installed). Returns true when the key was new. */
  addKey(key: Uint8Array): boolean {
    const k = checkKey(key)
    if (this.has(k)) return false
    this.#keys.push(k)
    return true
  }

  /** Whether `key` is installed. */
  has(key: Uint8Array): boolean {
    return this.#keys.some((x) => sameBytes(x, key))
  }

  /** The primary key's fingerprint and every installed key's, primary first (never the keys themselves). */
  fingerprints(): { fingerprint: string; primary: boolean }[] {
    return this.#keys.map((k, i) => ({ fingerprint: keyFingerprint(k), primary: i === 0 }))
  }

  /** Make an installed key the primary. */
  useKey(key: Uint8Array): void {
    const i = this.#keys.findIndex((x) => sameBytes(x, key))
    if (i < 0) throw new ConfigError('requested key is not in the keyring; add it first')
    const [k] = this.#keys.splice(i, 1)
    this.#keys.unshift(k as Uint8Array)
  }

  /** Remove an extra key (no-op if not installed). Removing the primary is refused (switch primary with useKey first). */
  removeKey(key: Uint8Array): boolean {
    const i = this.#keys.findIndex((x) => sameBytes(x, key))
    if (i === 0) throw new ConfigError('removing the primary key is not allowed; make another key primary first')
    if (i > 0) this.#keys.splice(i, 1)
    return i > 0
  }

  /**
   * Move to the keyring `target` (primary first) in the order memberlist and serf's key manager use, so no peer is
   * ever cut off: install the keys we lack, then make target[0] primary, then remove the keys target lacks.
   * Returns what changed.
   */
  apply(target: readonly Uint8Array[]): { installed: number; primaryChanged: boolean; removed: number } {
    if (target.length === 0) throw new ConfigError('keyring needs at least one key (the primary)')
    const keys = target.map(checkKey)
    let installed = 0
    for (const k of keys) if (this.addKey(k)) installed++
    const primaryChanged = !sameBytes(this.#keys[0] as Uint8Array, keys[0] as Uint8Array)
    if (primaryChanged) this.useKey(keys[0] as Uint8Array)
    let removed = 0
    for (const k of this.keys()) if (!keys.some((x) => sameBytes(x, k)) && this.removeKey(k)) removed++
    return { installed, primaryChanged, removed }
  }

  /** Copies of the installed keys, primary first. */
  keys(): Uint8Array[] {
    return this.#keys.map((k) => Uint8Array.from(k))
  }

  /** Encrypt with the primary key: `vsn | nonce | ciphertext | tag`. vsn 0 pads with PKCS#7 first. */
  encrypt(plain: Uint8Array, aad: Uint8Array = new Uint8Array(0), vsn: number = ENCRYPT_VSN_PLAIN): Uint8Array {
    if (vsn !== ENCRYPT_VSN_PADDED && vsn !== ENCRYPT_VSN_PLAIN) {
      throw new RangeError(`encryption version must be 0 or 1, got ${vsn}`)
    }
    const key = this.#keys[0] as Uint8Array
    let data = plain
    if (vsn === ENCRYPT_VSN_PADDED) {
      const pad = BLOCK - (plain.length % BLOCK)
      data = new Uint8Array(plain.length + pad)
      data.set(plain)
      data.fill(pad, plain.length)
    }
    const nonce = this.#random(NONCE_BYTES)
    if (nonce.length !== NONCE_BYTES) throw new RangeError('randomBytes must return 12 bytes for a nonce')
    const cipher = createCipheriv(gcm(key), key, nonce)
    cipher.setAAD(aad)
    const ct = Buffer.concat([cipher.update(data), cipher.final()])
    const out = new Uint8Array(1 + NONCE_BYTES + ct.length + TAG_BYTES)
    out[0] = vsn
    out.set(nonce, 1)
    out.set(ct, 1 + NONCE_BYTES)
    out.set(cipher.getAuthTag(), 1 + NONCE_BYTES + ct.length)
    return out
  }

  /** Decrypt a blob with any installed key (primary first). Throws GossipDecryptError with serf's messages. */
  decrypt(blob: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
    if (blob.length === 0) throw new GossipDecryptError('Cannot decrypt empty payload')
    const vsn = blob[0] as number
    if (vsn > ENCRYPT_VSN_PLAIN) throw new GossipDecryptError(`Unsupported encryption version ${vsn}`)
    if (blob.length < encryptedLength(vsn, 0)) {
      throw new GossipDecryptError(`Payload is too small to decrypt: ${blob.length}`)
    }
    const nonce = blob.subarray(1, 1 + NONCE_BYTES)
    const ct = blob.subarray(1 + NONCE_BYTES, blob.length - TAG_BYTES)
    const tag = blob.subarray(blob.length - TAG_BYTES)
    for (const key of this.#keys) {
      let plain: Uint8Array
      try {
        const d = createDecipheriv(gcm(key), key, nonce)
        d.setAAD(aad)
        d.setAuthTag(tag)
        plain = new Uint8Array(Buffer.concat([d.update(ct), d.final()]))
      } catch {
        continue
      }
      if (vsn === ENCRYPT_VSN_PLAIN) return plain
      const pad = plain[plain.length - 1] ?? 0
      if (pad < 1 || pad > BLOCK || pad > plain.length) {
        throw new GossipDecryptError('Invalid PKCS#7 padding in decrypted payload')
      }
      return plain.slice(0, plain.length - pad)
    }
    throw new GossipDecryptError('No installed keys could decrypt the message')
  }
}
