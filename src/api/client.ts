import { join } from 'node:path'
import { ControlError, MeshError } from '../base/errors.ts'
import { socketPermissionMessage } from '../base/unix-socket.ts'
import { NotJsonError, errorOf, jsonRequest, ndjsonStream, type ClientTls, type HttpTarget } from './http.ts'
import { clientTlsFromDir } from './tls.ts'
import { parseHostUrl, parseHostUrls, sshArgv, type HostUrl } from './host-url.ts'
import { failoverOrder, isConnectFailure, shouldFailOver } from './failover.ts'
import { CommandConn, CommandConnError } from './command-conn.ts'

/**
 * The client of the manager API, for the CLI. Local: the unix socket `<data-dir>/manager.sock` (root, or the `mesh`
 * group). Remote, as DOCKER_HOST and DOCKER_CERT_PATH work for docker: `MESH_HOST=tcp://host:7947` with
 * `MESH_CERT_PATH=<dir>` holding an admin client certificate bundle (ca.pem, cert.pem, key.pem) made by
 * `mesh ca issue-client NAME --out DIR`; TLS 1.3, the server must present a manager certificate of that CA.
 * Over SSH, as DOCKER_HOST=ssh://: `MESH_HOST=ssh://[user@]host[:port]` runs `ssh … host mesh dial-stdio` for each
 * request (MESH_SSH_COMMAND replaces `ssh` and adds its flags, as GIT_SSH_COMMAND) and speaks HTTP over its stdio;
 * ssh's own failure ("Permission denied (publickey).") is the one line shown.
 * Several managers: `MESH_HOST=tcp://a:7947,tcp://b:7947` (or a context made with several --host): a request that
 * cannot reach one (refused, unreachable, no connection within 5 s; for a read also a dropped connection or no
 * answer) goes to the next in order, and the one that answered is asked first from then on. An HTTP answer — an
 * error, "not leader", "no quorum" — is the answer: the client never sends it elsewhere.
 * Every failure is one line: ApiError (what the manager answered) or ControlError (could not reach it).
 */
export const MANAGER_SOCKET = 'manager.sock'

/** An error the manager answered with (`{error: {code, message}}`); its message is shown as is. */
export class ApiError extends MeshError {
  readonly status: number
  constructor(status: number, code: string, message: string) {
    super(code, message)
    this.status = status
  }
}

export interface ClientOptions {
  /**
   * `tcp://HOST:PORT` (or several, comma-separated, tried in order) or `ssh://[USER@]HOST[:PORT]`; default MESH_HOST;
   * without one, the local manager socket.
   */
  host?: string
  /** The ssh program and its flags for ssh:// hosts; default MESH_SSH_COMMAND, else `ssh`. */
  sshCommand?: string
  /** A client certificate bundle for a remote manager (ca.pem, cert.pem, key.pem); default MESH_CERT_PATH. */
  certPath?: string
  /** TLS options given directly (tests); wins over certPath. */
  tls?: ClientTls
  /** Data dir holding manager.sock; default MESH_DATA_DIR. Needed when there is no host (the CLI passes src/config's default). */
  dataDir?: string
  timeoutMs?: number
  /** Hears an answer the manager marked stale (it lost its quorum: a read from its last view); the CLI warns. */
  onStale?: () => void
}

/** `tcp://10.0.0.1:7947`, `tcp://[fd00::1]:7947` → host and port. */
export function parseManagerHost(host: string): { host: string; port: number } {
  const u = parseHostUrl(host, 'MESH_HOST')
  if (u.scheme !== 'tcp') throw new ControlError(`MESH_HOST "${host}": want tcp://HOST:PORT, e.g. tcp://10.0.0.1:7947`)
  return { host: u.host, port: u.port }
}

/** With several managers, one that has not accepted the connection by then is passed over for the next. */
export const FAILOVER_CONNECT_TIMEOUT_MS = 5_000

/** A request over ssh starts ssh and a remote `mesh`: allow for both, on top of the answer itself. */
export const SSH_REQUEST_TIMEOUT_MS = 60_000

/** The HTTP target of an ssh:// host: every connection is a new `ssh … mesh dial-stdio [--control]`. */
export function sshTarget(u: Extract<HostUrl, { scheme: 'ssh' }>, o: { sshCommand?: string | undefined; control?: boolean } = {}): HttpTarget {
  const argv = sshArgv(u, o)
  return { dial: () => new CommandConn(argv) }
}

/**
 * One line for a connection command that failed: `ssh://root@h: Permission denied (publickey).` The remote `mesh`'s
 * own `mesh: ` prefix is dropped; a shell that finds no `mesh` gets a hint.
 */
export function commandConnMessage(where: string, err: CommandConnError): string {
  const msg = err.message.replace(/^mesh: /, '')
  const hint = err.exitCode === 127 ? ' (is mesh installed and on the PATH of non-interactive ssh sessions there?)' : ''
  return `${where}: ${msg}${hint}`
}

export class ManagerClient {
  /** Where requests go, in the order they are tried (one but for a list of tcp:// managers). */
  readonly #targets: { target: HttpTarget; where: string }[]
  /** The one asked first: the last that answered. */
  #current = 0
  readonly #timeoutMs: number
  readonly #onStale: (() => void) | undefined

  constructor(o: ClientOptions = {}) {
    this.#onStale = o.onStale
    const host = o.host ?? process.env.MESH_HOST
    this.#timeoutMs = o.timeoutMs ?? 30_000
    const urls = host ? parseHostUrls(host, 'MESH_HOST') : undefined
    const first = urls?.[0]
    if (first?.scheme === 'ssh') {
      this.#targets = [{ target: sshTarget(first, { sshCommand: o.sshCommand ?? process.env.MESH_SSH_COMMAND }), where: first.url }]
      this.#timeoutMs = o.timeoutMs ?? SSH_REQUEST_TIMEOUT_MS
    } else if (host && urls) {
      const certPath = o.certPath ?? process.env.MESH_CERT_PATH
      if (!o.tls && !certPath) {
        throw new ControlError(`MESH_HOST ${host} needs a client certificate: on a manager run \`mesh ca issue-client NAME --out DIR\`, ` +
          'copy DIR here and set MESH_CERT_PATH=DIR (a join token is not an admin credential)')
      }
      const tls = o.tls ?? clientTlsFromDir(certPath as string)
      this.#targets = urls.map((u) => ({ target: { host: u.host, port: u.port as number, tls }, where: u.url }))
    } else {
      const dir = o.dataDir ?? process.env.MESH_DATA_DIR
      if (dir === undefined) throw new ControlError('no manager to talk to: set MESH_HOST, or MESH_DATA_DIR for the local manager socket')
      const socketPath = join(dir, MANAGER_SOCKET)
      this.#targets = [{ target: { socketPath }, where: socketPath }]
    }
  }

  /** The manager asked first (the last one that answered). */
  get where(): string {
    return (this.#targets[this.#current] as { where: string }).where
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const reply = await this.#tryEach(method, (target) => jsonRequest(target, {
      method, path, body, timeoutMs: this.#timeoutMs, ...(this.#targets.length > 1 ? { connectTimeoutMs: FAILOVER_CONNECT_TIMEOUT_MS } : {}),
    }), (err, where) => {
      if (err instanceof NotJsonError) return new ControlError(`manager at ${where} answered ${err.status} with something that is not JSON`)
      return null
    })
    if (reply.status >= 400) {
      const e = errorOf(reply)
      throw new ApiError(reply.status, e.code ?? 'MESH_ERR_API', e.message)
    }
    if (reply.stale) this.#onStale?.()
    return reply.body as T
  }

  /**
   * GET an NDJSON stream (`service logs`, `events`): `onValue` gets each parsed line; resolves when the manager ends
   * the stream or `signal` cancels it (the result says which). An error answer rejects like request(). Only a
   * manager that could not be connected to is passed over (a stream that broke may have delivered lines already).
   */
  async stream(path: string, onValue: (v: unknown) => void, signal?: AbortSignal): Promise<'ended' | 'cancelled'> {
    const end = await this.#tryEach('STREAM', (target) => ndjsonStream(target, { path, onValue, ...(signal ? { signal } : {}) }), (err, where) => {
      if (err instanceof CommandConnError) return null
      if (err instanceof MeshError) return new ControlError(`the manager at ${where} closed the stream`, { cause: err })
      return null
    })
    if (end.kind !== 'refused') return end.kind
    const e = errorOf(end.reply)
    throw new ApiError(end.reply.status, e.code ?? 'MESH_ERR_API', e.message)
  }

  /**
   * Send to the current manager, then to the others in order while one cannot be reached (src/api failover.ts).
   * `known` turns an error into the line to throw at once (null: not one it knows). `method` STREAM: connect
   * failures only.
   */
  async #tryEach<R>(method: string, send: (target: HttpTarget) => Promise<R>, known: (err: unknown, where: string) => ControlError | null): Promise<R> {
    const order = failoverOrder(this.#targets.length, this.#current)
    const tried: string[] = []
    for (const [n, i] of order.entries()) {
      const { target, where } = this.#targets[i] as { target: HttpTarget; where: string }
      try {
        const r = await send(target)
        this.#current = i
        return r
      } catch (err) {
        const line = known(err, where)
        if (line) throw line
        tried.push(where)
        const again = method === 'STREAM' ? isConnectFailure(err) : shouldFailOver(err, method)
        if (!again || n === order.length - 1) throw this.#unreachable(err, tried.length > 1 ? tried.join(', ') : where, 'socketPath' in target)
      }
    }
    throw new ControlError('no manager to talk to') // unreachable: there is always one target
  }

  #unreachable(err: unknown, where: string, local: boolean): ControlError {
    if (err instanceof CommandConnError) return new ControlError(commandConnMessage(where, err), { cause: err })
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' && local) return new ControlError(socketPermissionMessage(where), { cause: err })
    if (where.includes(', ')) return new ControlError(`cannot reach any of the managers at ${where}: ${(err as Error).message}`, { cause: err })
    const why = code === 'ENOENT' || code === 'ECONNREFUSED'
      ? 'is this a manager node running `mesh agent --init` (or set MESH_HOST)?'
      : (err as Error).message
    return new ControlError(`cannot reach the manager at ${where}: ${why}`, { cause: err })
  }
}

/** The manager's Docker API socket in its data dir (docs/docker-api.md): `DOCKER_HOST=unix://<data-dir>/docker-api.sock`. */
export const DOCKER_API_SOCKET = 'docker-api.sock'
