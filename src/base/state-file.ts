import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { MeshError } from './errors.ts'

/**
 * State files in the data dir (node.json, peers.json, overlay.json, wireguard.key, catalog.json): written with
 * their final mode from the first byte and atomically, read with one clear line when they are broken.
 */

/** A state file exists but cannot be read or is not what it should be; the message names it and the fix. */
export class StateFileError extends MeshError {
  readonly path: string
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super('MESH_ERR_STATE_FILE', `${path} ${problem}: remove it or restore a backup`, options)
    this.path = path
  }
}

/**
 * Replace `path` with `data`: a temporary file beside it is created with `mode` (never chmod'ed later), written and
 * fsynced, renamed over `path`, and the directory fsynced, so a crash or power cut leaves the old or the new
 * content, never a mix or an empty file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.tmp`
  try {
    unlinkSync(tmp) // a leftover from a crash may have another mode; O_EXCL below creates ours
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const fd = openSync(tmp, 'wx', mode)
  try {
    writeFileSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  const dir = openSync(dirname(path), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/** The JSON in a state file, or undefined when there is none; StateFileError when it is unreadable or not JSON. */
export function readJsonState(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    throw new StateFileError(path, `cannot be read (${code ?? (err as Error).message})`, { cause: err })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new StateFileError(path, 'is not valid JSON', { cause: err })
  }
}

/**
 * `writeFileAtomic` without blocking the event loop: the same steps (temporary file created with `mode`, written,
 * fsynced, renamed over `path`, directory fsynced) through fs/promises. Callers run one at a time per path (they
 * share the temporary file).
 */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp`
  await rm(tmp, { force: true })
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
