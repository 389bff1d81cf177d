import { chmodSync, chownSync, readFileSync, statSync } from 'node:fs'
import type { Server } from 'node:net'

/**
 * Who may connect to an admin unix socket: its owner only (0600), or its owner and one group (0660 owner:group),
 * the way docker.sock is root:docker when a `docker` group exists.
 */
export type SocketAccess = { mode: 0o600 } | { mode: 0o660; gid: number; group: string }

/** The system group the manager socket is opened to when it exists (like docker's `docker` group). */
export const ADMIN_GROUP = 'mesh'

/**
 * The one line a CLI user without access to an admin socket gets (connect: EACCES), the fix included, as docker
 * answers for docker.sock. The same for manager.sock and the agent's control socket.
 */
export function socketPermissionMessage(path: string, group = ADMIN_GROUP): string {
  return `permission denied on ${path}: run as root, or add your user to the ${group} group (sudo usermod -aG ${group} $USER, then log in again)`
}

/**
 * The access for a socket given the text of /etc/group (pure): 0660 to `group` when a line names it with a valid
 * numeric gid, else 0600. `name:password:gid:members`; malformed lines are ignored.
 */
export function socketAccess(groupFile: string, group = ADMIN_GROUP): SocketAccess {
  for (const line of groupFile.split('\n')) {
    const f = line.trim().split(':')
    if (f.length < 3 || f[0] !== group || !/^\d{1,10}$/.test(f[2] as string)) continue
    const gid = Number(f[2])
    if (gid <= 0xfffffffe) return { mode: 0o660, gid, group }
  }
  return { mode: 0o600 }
}

/** socketAccess for this host's /etc/group (no file, or unreadable: 0600). */
export function hostSocketAccess(groupPath = '/etc/group', group = ADMIN_GROUP): SocketAccess {
  let text: string
  try {
    text = readFileSync(groupPath, 'utf8')
  } catch {
    return { mode: 0o600 }
  }
  return socketAccess(text, group)
}

/**
 * Let the socket's group through the directory that holds it: when `access` names a group and the directory has
 * no group search bit, it gets that group and g+x (search only: the group cannot list it, and the files in it stay
 * 0600). Returns whether the directory changed.
 */
export function openDirToGroup(dir: string, access: SocketAccess): boolean {
  if (access.mode !== 0o660) return false
  const st = statSync(dir)
  if ((st.mode & 0o010) !== 0 && st.gid === access.gid) return false
  chownSync(dir, st.uid, access.gid)
  chmodSync(dir, (st.mode & 0o7777 & ~0o060) | 0o010)
  return true
}

/**
 * Listen on a unix socket created with its final mode (default 0600): the process umask is narrowed around the
 * bind, which happens inside `server.listen` before it returns, so the socket is never reachable by others, even
 * for a moment (no chmod after the fact). With a group (`{mode: 0o660, gid}`) the socket is still created 0600,
 * then given to the group while owner-only, and only then opened to 0660: at no moment can anyone outside the
 * owner and that group connect. If the group cannot be set (not root, not a member), the socket stays 0600.
 * Resolves with the socket's final mode once listening; rejects with the listen error.
 */
export function listenUnix(server: Server, path: string, access: number | SocketAccess = 0o600): Promise<number> {
  const a: { mode: number; gid?: number } = typeof access === 'number' ? { mode: access } : access
  const bindMode = a.gid === undefined ? a.mode : 0o600
  return new Promise<number>((resolve, reject) => {
    const failed = (err: Error): void => reject(err)
    server.once('error', failed)
    const umask = process.umask(0o777 & ~bindMode)
    try {
      server.listen(path, () => {
        server.off('error', failed)
        if (a.gid === undefined) return resolve(bindMode)
        try {
          chownSync(path, process.getuid?.() ?? -1, a.gid)
        } catch {
          return resolve(bindMode)
        }
        chmodSync(path, a.mode)
        resolve(a.mode)
      })
    } finally {
      process.umask(umask)
    }
  })
}
