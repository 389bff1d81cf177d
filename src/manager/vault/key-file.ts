import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { VaultError } from './errors.ts'

/**
 * Where the vault's key-encryption key (KEK) lives: outside the store, so a copy of manager.db (and its WAL) opens
 * nothing without it. `current` is the KEK in use; `next` is one being put in place (a rotation, a first start):
 * it becomes current once the store holds the data key wrapped by it, and whichever of the two opens the store's
 * data key wins after a crash between those steps.
 */

/** One KEK as kept: in plain (base64), or, with autolock, sealed by the unlock key (crypto.ts) so it is not on disk. */
export type KekContent = { version: 1; kek: string } | { version: 1; locked: string }

/** The role: the two slots and their moves. */
export interface KeyFile {
  /** Names the place in messages (a path). */
  readonly where: string
  read(): { current: KekContent | null; next: KekContent | null }
  writeNext(content: KekContent): void
  /** `next` becomes `current` (atomically). */
  promoteNext(): void
  dropNext(): void
}

/** The vault's folder in a manager's data dir: 0700, apart from the data dir (which may be opened to a group). */
export function vaultDir(dataDir: string): string {
  return join(dataDir, 'vault')
}

/** The KEK as files `<dir>/kek` and `<dir>/kek.next`: 0600 in a 0700 folder, written to a temp file, synced, renamed. */
export class KekFile implements KeyFile {
  readonly #dir: string
  constructor(dir: string) {
    this.#dir = dir
  }

  get where(): string {
    return join(this.#dir, 'kek')
  }

  read(): { current: KekContent | null; next: KekContent | null } {
    return { current: this.#readOne(join(this.#dir, 'kek')), next: this.#readOne(join(this.#dir, 'kek.next')) }
  }

  writeNext(content: KekContent): void {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 })
    chmodSync(this.#dir, 0o700)
    const tmp = join(this.#dir, 'kek.tmp')
    rmSync(tmp, { force: true })
    const fd = openSync(tmp, 'wx', 0o600)
    try {
      writeSync(fd, `${JSON.stringify(content)}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, join(this.#dir, 'kek.next'))
    this.#syncDir()
  }

  promoteNext(): void {
    renameSync(join(this.#dir, 'kek.next'), join(this.#dir, 'kek'))
    this.#syncDir()
  }

  dropNext(): void {
    rmSync(join(this.#dir, 'kek.next'), { force: true })
  }

  #syncDir(): void {
    const fd = openSync(this.#dir, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }

  #readOne(path: string): KekContent | null {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new VaultError(`${path}: cannot be read (${(err as Error).message})`, { cause: err })
    }
    return parseKek(text, path)
  }
}

/** The same slots in memory (tests; a Manager built without a data dir). */
export class MemoryKeyFile implements KeyFile {
  current: KekContent | null = null
  next: KekContent | null = null
  readonly where = '(memory)'
  read(): { current: KekContent | null; next: KekContent | null } {
    return { current: this.current, next: this.next }
  }
  writeNext(content: KekContent): void {
    this.next = content
  }
  promoteNext(): void {
    if (this.next) this.current = this.next
    this.next = null
  }
  dropNext(): void {
    this.next = null
  }
}

function parseKek(text: string, path: string): KekContent {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw new VaultError(`${path} is not valid JSON: restore it from this manager's backup`, { cause: err })
  }
  const o = v as Record<string, unknown>
  if (o && o.version === 1 && typeof o.kek === 'string' && Object.keys(o).length === 2) return { version: 1, kek: o.kek }
  if (o && o.version === 1 && typeof o.locked === 'string' && Object.keys(o).length === 2) return { version: 1, locked: o.locked }
  throw new VaultError(`${path} is not a key-encryption key file: restore it from this manager's backup`)
}
