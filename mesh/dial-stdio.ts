import { Command } from 'commander'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { CONTROL_SOCKET, MANAGER_SOCKET } from '../src/api/index.ts'
import { ControlError } from '../src/base/errors.ts'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'

/**
 * `mesh dial-stdio` (docker's `docker system dial-stdio`): the remote half of `MESH_HOST=ssh://…`. The CLI on
 * another host runs `ssh HOST mesh dial-stdio [--control]` and speaks HTTP over ssh's stdio; this copies stdin to
 * the local manager socket (or the agent's control socket) and the socket to stdout. Stdin ending half-closes the
 * socket (the request is complete, the answer still comes); the socket ending ends the command at once, whether or
 * not stdin has ended (docker does the same). Not for people: hidden from `mesh --help`, documented in docs/cli.md.
 */
export function dialStdioCommand(): Command {
  return new Command('dial-stdio')
    .description('relay stdin/stdout to this host\'s manager socket (or --control: the agent\'s control socket); what ssh:// hosts run on the remote host, not for direct use')
    .option('--control', 'relay to the agent\'s control socket (<data-dir>/mesh.sock) instead of the manager\'s (<data-dir>/manager.sock)')
    .option('--data-dir <dir>', `the data dir holding the sockets (default ${DEFAULT_DATA_DIR}, env MESH_DATA_DIR)`)
    .action(async (o: { control?: boolean; dataDir?: string }) => {
      const dir = o.dataDir ?? process.env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR
      const socketPath = join(dir, o.control ? CONTROL_SOCKET : MANAGER_SOCKET)
      await relayStdio(socketPath, process.stdin, process.stdout, o.control ? 'agent' : 'manager')
    })
}

/**
 * Relay `input` → the unix socket → `output` until the socket ends. Rejects with one ControlError line when the
 * socket cannot be reached (no manager on this host, no permission). `input` is destroyed at the end: a process
 * whose stdin stays open (ssh's channel) still exits.
 */
export function relayStdio(socketPath: string, input: Readable, output: Writable, what: 'manager' | 'agent' = 'manager'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const conn: Socket = connect({ path: socketPath, allowHalfOpen: true })
    let connected = false
    const finish = (err?: Error): void => {
      input.unpipe(conn)
      input.destroy()
      conn.destroy()
      if (err) reject(err)
      else resolve()
    }
    conn.on('connect', () => {
      connected = true
      input.pipe(conn) // input's end → conn.end(): the half-close
      input.on('error', () => conn.end())
    })
    conn.on('data', (b: Buffer) => {
      if (!output.write(b)) {
        conn.pause()
        output.once('drain', () => conn.resume())
      }
    })
    conn.on('end', () => output.write('', () => finish()))
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) return finish()
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? (what === 'manager' ? 'is this a manager node running `mesh agent --init`?' : 'is the agent running on this host?')
        : err.code === 'EACCES' ? 'permission denied (root or the `mesh` group)' : err.message
      finish(new ControlError(`cannot reach the ${what} at ${socketPath}: ${why}`, { cause: err }))
    })
  })
}
