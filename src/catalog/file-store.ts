import { readFileSync } from 'node:fs'
import { writeFileAtomic } from '../base/state-file.ts'
import { join } from 'node:path'
import type { CatalogStore } from './catalog.ts'
import type { CatalogSnapshot } from '../api/catalog.ts'

export const CATALOG_FILE = 'catalog.json'

/**
 * The catalog cache as a file, `<dataDir>/catalog.json` (mode 0600): written to a temporary file, fsynced and
 * renamed over the old one, so a crash leaves either the old or the new snapshot, never half of one.
 */
export class FileCatalogStore implements CatalogStore {
  readonly path: string

  constructor(dataDir: string) {
    this.path = join(dataDir, CATALOG_FILE)
  }

  load(): CatalogSnapshot | null {
    let text: string
    try {
      text = readFileSync(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
    const snap = JSON.parse(text) as CatalogSnapshot
    if (typeof snap?.revision !== 'number' || !Array.isArray(snap.services) || !Array.isArray(snap.nodes)) {
      throw new Error(`${this.path}: not a catalog snapshot`)
    }
    return snap
  }

  save(snap: CatalogSnapshot): void {
    writeFileAtomic(this.path, `${JSON.stringify(snap)}\n`, 0o600)
  }
}
