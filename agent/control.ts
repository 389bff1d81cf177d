import http from 'node:http'
import net from 'node:net'
import { existsSync, unlinkSync } from 'node:fs'
import { ControlError } from '../src/base/errors.ts'
import { listenUnix } from '../src/base/unix-socket.ts'
import { CONTROL_SOCKET } from '../src/api/index.ts'

/**
 * The agent's control socket: HTTP over a unix socket in the data dir, mode 0600 (root only), like docker.sock.
 * Routes are plain functions returning JSON-able values; the client is src/api/control.ts (the CLI).
 */
export type Route = (query: URLSearchParams) => unknown | Promise<unknown>

export { CONTROL_SOCKET }

export class ControlServer {
  readonly #path: string
  readonly #routes: Map<string, Route>
  #server: http.Server | null = null

  constructor(path: string, routes: Record<string, Route>) {
    this.#path = path
    this.#routes = new Map(Object.entries(routes))
  }

  async start(): Promise<void> {
    await removeStaleSocket(this.#path)
    const server = http.createServer((req, res) => {
      const route = req.method === 'GET' ? this.#routes.get((req.url ?? '').split('?')[0] ?? '') : undefined
      if (!route) {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }))
        return
      }
      const query = new URL(req.url ?? '/', 'http://local').searchParams
      Promise.resolve(query).then(route).then((value) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(value))
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { code: 'internal', message: err.message } }))
      })
    })
    await listenUnix(server, this.#path, 0o600) // created 0600, never chmod'ed after
    this.#server = server
  }

  async stop(): Promise<void> {
    const s = this.#server
    this.#server = null
    if (s) {
      s.closeAllConnections()
      await new Promise<void>((r) => s.close(() => r()))
    }
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return
  const inUse = await new Promise<boolean>((resolve) => {
    const c = net.connect(path)
    c.once('connect', () => { c.destroy(); resolve(true) })
    c.once('error', () => resolve(false))
  })
  if (inUse) throw new ControlError(`another agent is already running with this data dir (${path} answers); stop it or use --data-dir`)
  unlinkSync(path)
}
