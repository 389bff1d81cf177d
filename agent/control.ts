import http from 'node:http'
import net from 'node:net'
import { existsSync, unlinkSync } from 'node:fs'
import { ControlError, MeshError } from '../src/base/errors.ts'
import { listenUnix, type SocketAccess } from '../src/base/unix-socket.ts'
import { CONTROL_SOCKET } from '../src/api/index.ts'

/**
 * The agent's control socket: HTTP over a unix socket in the data dir, root only (0600), or root:mesh 0660 when the
 * agent is given the `mesh` group's access (src/base hostSocketAccess), like docker.sock and the docker group.
 * Routes are plain functions returning JSON-able values, keyed by path (GET) or `POST <path>`; the client is
 * src/api/control.ts (the CLI). A route that refuses throws a MeshError: 409 with its code and one-line message
 * (any other error is 500). `reply.afterReply(fn)` runs `fn` once the answer is written (`mesh leave` stops the
 * agent, this socket included, only after telling the CLI).
 */
export type Route = (query: URLSearchParams, reply: ReplyHooks) => unknown | Promise<unknown>

export interface ReplyHooks {
  /** Run `fn` once the response is written (or the client went away). */
  afterReply(fn: () => void): void
}

export { CONTROL_SOCKET }

export class ControlServer {
  readonly #path: string
  readonly #routes: Map<string, Route>
  readonly #access: SocketAccess
  #server: http.Server | null = null

  constructor(path: string, routes: Record<string, Route>, access: SocketAccess = { mode: 0o600 }) {
    this.#path = path
    this.#routes = new Map(Object.entries(routes))
    this.#access = access
  }

  async start(): Promise<void> {
    await removeStaleSocket(this.#path)
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? ''
      const route = req.method === 'GET' ? this.#routes.get(path) : req.method === 'POST' ? this.#routes.get(`POST ${path}`) : undefined
      if (!route) {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }))
        return
      }
      req.resume() // a POST's body is not read: parameters come in the query
      const query = new URL(req.url ?? '/', 'http://local').searchParams
      const after: (() => void)[] = []
      const send = (status: number, value: unknown) => {
        res.once('close', () => { for (const fn of after) fn() }) // written, or the client went away
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(value))
      }
      Promise.resolve().then(() => route(query, { afterReply: (fn) => after.push(fn) })).then((value) => send(200, value), (err: Error) => {
        if (err instanceof MeshError) send(409, { error: { code: err.code, message: err.message } })
        else send(500, { error: { code: 'internal', message: err.message } })
      })
    })
    await listenUnix(server, this.#path, this.#access) // created 0600, opened to the group (if any) only after
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
