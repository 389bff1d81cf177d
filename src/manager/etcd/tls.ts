import { chmod, mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createNodeKeyAndCsr, type CertRole } from '../../pki/index.ts'
import { MEMBER_CERT_NAME } from './config.ts'

/** What a member presents and trusts, PEM: the cluster's roots, its certificate chain, its key. */
export interface MemberTls {
  readonly caPem: string
  readonly certPem: string
  readonly keyPem: string
}

/** The part of the cluster authority (cluster-ca.ts ClusterAuthority) a member certificate needs. */
export interface MemberCertIssuer {
  issue(csrPem: string, o: { nodeId: string; role: CertRole; clusterId: string; ipSans?: string[]; dnsSans?: string[] }): Promise<string>
  trust(): { roots: string[] }
  /** The current root cross-signed by the previous one, after a rotation (cluster-ca.ts memberBridge); optional. */
  memberBridge?(): string | null
}

/**
 * A certificate for a manager's etcd member: CN = its node id, OU = manager, issued by the cluster CA with both
 * server and client usage (etcd presents one certificate as a server and as a peer client), and the node's address
 * and 127.0.0.1 as IP SANs, MEMBER_CERT_NAME as its one DNS SAN. etcd checks a peer's client certificate against the
 * connection's remote address when it names IPs (since 3.2; a matching IP spares the DNS lookup), so the node's
 * address must be the one its peer traffic leaves from. The key is made here and never leaves the node.
 */
export async function issueMemberTls(ca: MemberCertIssuer, o: { nodeId: string; clusterId: string; addr: string }): Promise<MemberTls> {
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const issued = await ca.issue(csrPem, { nodeId: o.nodeId, role: 'manager', clusterId: o.clusterId, ipSans: [...new Set([o.addr, '127.0.0.1'])], dnsSans: [MEMBER_CERT_NAME] })
  return { caPem: ca.trust().roots.join(''), certPem: withMemberBridge(issued, ca), keyPem }
}

/**
 * A member certificate chain as issued, plus the CA's bridge (the current root cross-signed by the previous one)
 * when it has one the chain lacks: after a rotation a leaf alone would not chain to the root that members started
 * before it still run with (etcd loads its trusted roots only at start).
 */
export function withMemberBridge(issued: string, ca: Pick<MemberCertIssuer, 'memberBridge'>): string {
  const bridge = ca.memberBridge?.() ?? null
  return bridge && !issued.includes(bridge.trim()) ? issued + bridge : issued
}

/** The files of memberArgs' TLS flags. */
export interface MemberTlsFiles {
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

/** Where the files live: `<dir>/ca.pem`, `member.pem`, `member-key.pem` (dir is `<data-dir>/etcd-tls`). */
export function memberTlsFiles(dir: string): MemberTlsFiles {
  return { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'member.pem'), keyFile: join(dir, 'member-key.pem') }
}

/**
 * Writes the member's TLS files, the directory 0700 and every file 0600, each through a rename so etcd (which
 * reads them again on every new connection) never sees half a file. Renewal is the same call with new PEMs.
 */
export async function writeMemberTls(dir: string, tls: MemberTls): Promise<MemberTlsFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  const files = memberTlsFiles(dir)
  const put = async (path: string, text: string): Promise<void> => {
    const tmp = `${path}.tmp`
    await writeFile(tmp, text, { mode: 0o600 })
    await chmod(tmp, 0o600)
    await rename(tmp, path)
  }
  await put(files.keyFile, tls.keyPem)
  await put(files.certFile, tls.certPem)
  await put(files.caFile, tls.caPem)
  return files
}
