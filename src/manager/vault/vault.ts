import { randomBytes } from 'node:crypto'
import type { Store } from '../store.ts'
import type { SecretRecord } from '../../api/secrets.ts'
import { DATA_KEY_AAD, KEK_AAD, KEY_BYTES, UNLOCK_KEY_AAD, newUnlockKey, open, seal, unlockWrappingKey, type RandomBytes } from './crypto.ts'
import { VaultError } from './errors.ts'
import type { KekContent, KeyFile } from './key-file.ts'

/**
 * The manager's secret vault. A random 256-bit data key seals every secret value (and registry credentials); the
 * store keeps the data key only wrapped by the key-encryption key (KEK), which lives outside the store (key-file.ts).
 * With autolock the KEK itself is kept sealed by an unlock key that is never stored in plain: after a restart the
 * vault is `locked` until `unlock(key)`.
 *
 * States: `closed` (not loaded) → `load()` → `unlocked` or `locked` → `unlock()` → `unlocked`.
 * Store metadata: `vault_data_key` (the data key sealed by the KEK), `vault_unlock_key` (autolock: the unlock key
 * sealed by the data key, for `mesh unlock-key`).
 */

export const DATA_KEY_META = 'vault_data_key'
export const UNLOCK_KEY_META = 'vault_unlock_key'

export type VaultState = 'closed' | 'locked' | 'unlocked'

export interface SecretVaultOptions {
  store: Store
  /** Where the KEK is kept (KekFile in `<data-dir>/vault`, MemoryKeyFile in tests). */
  keys: KeyFile
  /** Default crypto.randomBytes. */
  random?: RandomBytes
}

const secretAad = (id: string): string => `secret:${id}`

export class SecretVault {
  readonly #store: Store
  readonly #keys: KeyFile
  readonly #random: RandomBytes
  #state: VaultState = 'closed'
  #dataKey: Buffer | null = null
  #busy = false

  constructor(o: SecretVaultOptions) {
    this.#store = o.store
    this.#keys = o.keys
    this.#random = o.random ?? randomBytes
  }

  get state(): VaultState {
    return this.#state
  }

  get locked(): boolean {
    return this.#state === 'locked'
  }

  /** The KEK as its file keeps it (plain, or sealed by the unlock key): for `mesh manager backup --with-kek` only. */
  kekContent(): KekContent | null {
    return this.#keys.read().current
  }

  /** Whether the KEK is kept sealed by an unlock key (autolock). */
  get autolock(): boolean {
    const { current } = this.#keys.read()
    return current !== null && 'locked' in current
  }

  /**
   * Load the vault: a store without one gets a new data key and KEK (`autolock`: the KEK sealed by a new unlock key,
   * returned once to be shown); an existing one is unlocked with the KEK, or left locked when the KEK is sealed.
   * A store whose data key exists without its KEK file refuses with a VaultError naming the file.
   */
  async load(o: { autolock?: boolean } = {}): Promise<{ unlockKey?: string }> {
    if (this.#state !== 'closed') return {}
    const files = this.#keys.read()
    const wrapped = this.#store.getMeta(DATA_KEY_META)
    if (wrapped === undefined) return this.#create(o.autolock === true)
    if (!files.current && !files.next) {
      throw new VaultError(`${this.#keys.where} is missing: the secrets in this store cannot be read without its key-encryption key (restore the file from this manager's backup)`)
    }
    const candidates = [files.current, files.next].filter((c): c is KekContent => c !== null)
    if (candidates.some((c) => 'locked' in c)) {
      this.#state = 'locked'
      return {}
    }
    this.#unwrap(wrapped, candidates.map((c) => Buffer.from((c as { kek: string }).kek, 'base64')), files)
    return {}
  }

  /** Unlock with the unlock key (autolock after a restart). VaultError `invalid unlock key` when it does not open. */
  async unlock(unlockKey: string): Promise<void> {
    if (this.#state !== 'locked') throw new VaultError('the manager is not locked')
    const wrapping = unlockWrappingKey(unlockKey)
    const files = this.#keys.read()
    const keks: (Buffer | null)[] = [files.current, files.next].map((c) => {
      if (!c || !('locked' in c)) return c ? Buffer.from(c.kek, 'base64') : null
      try {
        return open(wrapping, KEK_AAD, c.locked, 'key-encryption key')
      } catch {
        return null
      }
    })
    const wrapped = this.#store.getMeta(DATA_KEY_META) ?? ''
    try {
      this.#unwrap(wrapped, keks, files)
    } catch (err) {
      throw new VaultError('invalid unlock key: it does not open this manager\'s key-encryption key', { cause: err })
    }
  }

  /** Seal a secret's value for the record `id` (its id is the additional data: the result opens for no other record). */
  sealSecret(id: string, value: Buffer): string {
    return this.sealFor(secretAad(id), value)
  }

  /** A secret's plain value (the deliver part puts it on a node's watch stream). VaultError when it does not open. */
  open(record: Pick<SecretRecord, 'id' | 'sealed' | 'spec'>): Buffer {
    return this.openFor(secretAad(record.id), record.sealed, `secret "${record.spec.name}"`)
  }

  /** Seal any value for `owner` (e.g. `registry-auth:<service id>`). */
  sealFor(owner: string, value: Buffer): string {
    return seal(this.#key(), owner, value, this.#random)
  }

  openFor(owner: string, sealed: string, what: string): Buffer {
    return open(this.#key(), owner, sealed, what)
  }

  /** The unlock key (autolock only; `mesh unlock-key`). */
  unlockKey(): string {
    const sealed = this.#store.getMeta(UNLOCK_KEY_META)
    if (!this.autolock || sealed === undefined) throw new VaultError('autolock is not enabled: this manager has no unlock key (mesh agent --init --autolock)')
    return open(this.#key(), UNLOCK_KEY_AAD, sealed, 'unlock key').toString('utf8')
  }

  /**
   * A new KEK: the data key is wrapped again (secrets are not re-sealed). With autolock the new KEK is sealed by a
   * new unlock key, returned (the old one stops working); without, null.
   */
  async rotate(): Promise<string | null> {
    const dataKey = this.#key()
    if (this.#busy) throw new VaultError('a key rotation is already running')
    this.#busy = true
    try {
      const unlockKey = this.autolock ? newUnlockKey(this.#random) : null
      await this.#install(dataKey, unlockKey)
      return unlockKey
    } finally {
      this.#busy = false
    }
  }

  async #create(autolock: boolean): Promise<{ unlockKey?: string }> {
    const dataKey = this.#random(KEY_BYTES)
    const unlockKey = autolock ? newUnlockKey(this.#random) : null
    await this.#install(dataKey, unlockKey)
    this.#dataKey = dataKey
    this.#state = 'unlocked'
    return unlockKey ? { unlockKey } : {}
  }

  /** A new KEK for `dataKey`: written as `next`, the store's wrapped data key replaced, then `next` made current. */
  async #install(dataKey: Buffer, unlockKey: string | null): Promise<void> {
    const kek = this.#random(KEY_BYTES)
    const content: KekContent = unlockKey
      ? { version: 1, locked: seal(unlockWrappingKey(unlockKey), KEK_AAD, kek, this.#random) }
      : { version: 1, kek: kek.toString('base64') }
    const wrapped = seal(kek, DATA_KEY_AAD, dataKey, this.#random)
    const sealedUnlock = unlockKey ? seal(dataKey, UNLOCK_KEY_AAD, Buffer.from(unlockKey, 'utf8'), this.#random) : null
    this.#keys.writeNext(content)
    try {
      await this.#store.transact((tx) => {
        tx.setMeta(DATA_KEY_META, wrapped)
        if (sealedUnlock) tx.setMeta(UNLOCK_KEY_META, sealedUnlock)
        else tx.deleteMeta(UNLOCK_KEY_META)
      })
    } catch (err) {
      this.#keys.dropNext()
      throw err
    }
    this.#keys.promoteNext()
  }

  /** Open the wrapped data key with the first KEK that does (current, then next) and settle the files accordingly. */
  #unwrap(wrapped: string, keks: readonly (Buffer | null)[], files: { current: KekContent | null; next: KekContent | null }): void {
    const [current, next] = keks
    for (const [i, kek] of [current, next].entries()) {
      if (!kek) continue
      let dataKey: Buffer
      try {
        dataKey = open(kek, DATA_KEY_AAD, wrapped, 'data key')
      } catch {
        continue
      }
      if (i === 1) this.#keys.promoteNext() // the store took the new KEK's wrap before a crash
      else if (files.next) this.#keys.dropNext() // the store never took it
      this.#dataKey = dataKey
      this.#state = 'unlocked'
      return
    }
    throw new VaultError(`${this.#keys.where} does not open this store's data key: it belongs to another store (restore this manager's own file)`)
  }

  #key(): Buffer {
    if (this.#state === 'locked') throw new VaultError('the manager is locked: run mesh unlock')
    if (!this.#dataKey) throw new VaultError('the vault is not loaded')
    return this.#dataKey
  }
}
