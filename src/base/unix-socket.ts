import type { Server } from 'node:net'

/**
 * Listen on a unix socket created with its final mode (default 0600): the process umask is narrowed around the
 * bind, which happens inside `server.listen` before it returns, so the socket is never reachable by others, even
 * for a moment (no chmod after the fact). Resolves once listening; rejects with the listen error.
 */
export function listenUnix(server: Server, path: string, mode = 0o600): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void => reject(err)
    server.once('error', failed)
    const umask = process.umask(0o777 & ~mode)
    try {
      server.listen(path, () => {
        server.off('error', failed)
        resolve()
      })
    } finally {
      process.umask(umask)
    }
  })
}
