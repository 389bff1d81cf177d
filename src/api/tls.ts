import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { PeerCertificate } from 'node:tls'
import { ControlError } from '../base/errors.ts'
import type { ClientTls } from './http.ts'

/**
 * How a client of the manager API checks the server (as swarmkit's agents do): the chain must lead to the cluster's
 * root (TLS does that with `ca`), and the certificate must be a manager's — OU=manager — whatever address the
 * client dialled. A worker's certificate, or any other certificate of another CA, is refused. Standard clients
 * (curl, Prometheus, the docker CLI) check the IP SANs instead; manager certificates carry them.
 */
export function managerCertificateCheck(_host: string, cert: PeerCertificate): Error | undefined {
  const ou = cert.subject?.OU as string | string[] | undefined
  const role = Array.isArray(ou) ? (ou.length === 1 ? ou[0] : undefined) : ou
  return role === 'manager' ? undefined : new Error(`the server's certificate is not a manager's (OU=${String(ou)})`)
}

/** The files of a client certificate bundle, named as docker's DOCKER_CERT_PATH names them. */
export const CLIENT_BUNDLE = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const

/** TLS options from a bundle directory (`mesh ca issue-client NAME --out DIR`); one ControlError line when unreadable. */
export function clientTlsFromDir(dir: string): ClientTls {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8')
    } catch (err) {
      throw new ControlError(`MESH_CERT_PATH ${dir}: cannot read ${name} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
        'make the bundle with `mesh ca issue-client NAME --out DIR` on a manager')
    }
  }
  return { ca: read(CLIENT_BUNDLE.ca), cert: read(CLIENT_BUNDLE.cert), key: read(CLIENT_BUNDLE.key), checkServerIdentity: managerCertificateCheck }
}
