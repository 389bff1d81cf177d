import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../base/errors.ts'
import { writeFileAtomic } from '../base/state-file.ts'
import { pemCertificates } from '../pki/index.ts'

/**
 * This node's TLS material, in `<data-dir>/tls/` (directory 0700, files 0600, written atomically): `ca.pem` — the
 * cluster roots it trusts (two during a CA rotation), `node.pem` — its certificate chain (CN=node id, OU=role,
 * O=cluster), `node-key.pem` — its private key, made on this node and never sent anywhere.
 */
export interface NodeTls {
  /** Trusted roots, PEM each. */
  ca: string[]
  /** Our chain, PEM: leaf first. */
  cert: string
  key: string
}

export const TLS_DIR = 'tls'
const FILES = { ca: 'ca.pem', cert: 'node.pem', key: 'node-key.pem' } as const

export function tlsDir(dataDir: string): string {
  return join(dataDir, TLS_DIR)
}

/** The saved material; one ConfigError naming the file when one is missing or holds no PEM. */
export function readNodeTls(dataDir: string): NodeTls {
  const dir = tlsDir(dataDir)
  const read = (name: string, what: RegExp): string => {
    const path = join(dir, name)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new ConfigError(`${path}: cannot read this node's TLS material (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
        'remove node.json and join again with a token', { cause: err })
    }
    if (!what.test(text)) throw new ConfigError(`${path}: not PEM: remove node.json and join again with a token`)
    return text
  }
  let ca: string[]
  try {
    ca = pemCertificates(read(FILES.ca, /BEGIN CERTIFICATE/))
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`${join(dir, FILES.ca)}: not a PEM certificate bundle (${(err as Error).message}): remove node.json and join again with a token`)
  }
  return { ca, cert: read(FILES.cert, /BEGIN CERTIFICATE/), key: read(FILES.key, /BEGIN (EC )?PRIVATE KEY/) }
}

export function writeNodeTls(dataDir: string, t: NodeTls): void {
  const dir = tlsDir(dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  writeFileAtomic(join(dir, FILES.key), t.key, 0o600)
  writeFileAtomic(join(dir, FILES.cert), t.cert, 0o600)
  writeFileAtomic(join(dir, FILES.ca), t.ca.join(''), 0o600)
}
