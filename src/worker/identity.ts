import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../base/errors.ts'
import { writeFileAtomic } from '../base/state-file.ts'

/**
 * This node's identity in the cluster, kept in `<data-dir>/node.json` (mode 0600): the node id the manager issued
 * at join, the role, and the manager API it joined through (`HOST:PORT`, for restarts without --join). What proves
 * the identity is the certificate in `<data-dir>/tls/` (tls-files.ts); node.json holds no secret. Written
 * atomically and fsynced (src/base writeFileAtomic).
 */
export interface Identity {
  nodeId: string
  role: string
  manager: string
}

export const NODE_FILE = 'node.json'

export function identityPath(dataDir: string): string {
  return join(dataDir, NODE_FILE)
}

export function hasIdentity(dataDir: string): boolean {
  return existsSync(identityPath(dataDir))
}

/** The saved identity; throws one ConfigError naming the file when it is unreadable or not an identity. */
export function readIdentity(dataDir: string): Identity {
  const path = identityPath(dataDir)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new ConfigError(`${path}: cannot read this node's identity (${e.code ?? e.message}): ` +
      'remove the file and join again with --token TOKEN', { cause: err })
  }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${path}: cannot read this node's identity (not valid JSON): ` +
      'remove the file and join again with --token TOKEN', { cause: err })
  }
  const id = v as Partial<Identity> | null
  if (typeof id !== 'object' || id === null || typeof id.nodeId !== 'string') {
    throw new ConfigError(`${path}: not a node identity (want nodeId): remove the file and join again with --token TOKEN`)
  }
  if ('credential' in id) {
    throw new ConfigError(`${path}: this node joined before mesh used certificates (a bearer credential); ` +
      'remove the file and join again with a new token (`mesh token show worker` on a manager)')
  }
  return { nodeId: id.nodeId, role: typeof id.role === 'string' ? id.role : 'worker',
    manager: typeof id.manager === 'string' ? id.manager : '' }
}

/** The manager API address this node registered with, or null (no file, or it cannot be read). */
export function savedManager(dataDir: string): string | null {
  try {
    return readIdentity(dataDir).manager || null
  } catch {
    return null
  }
}

export function writeIdentity(dataDir: string, id: Identity): void {
  const path = identityPath(dataDir)
  writeFileAtomic(path, `${JSON.stringify(id)}\n`, 0o600)
}
