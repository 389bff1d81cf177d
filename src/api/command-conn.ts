import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { Duplex } from 'node:stream'
import { MeshError } from '../base/errors.ts'

/**
 * A connection that is a child process's stdio (docker's commandconn): bytes written go to its stdin, its stdout is
 * what is read. The CLI's HTTP runs over it for `ssh://` hosts (`ssh … mesh dial-stdio`), one child per request.
 * - Half-close: ending the writable side closes the child's stdin; the child's stdout ending ends the readable side.
 * - The readable side ends only once the child has exited: an exit code other than 0 destroys the connection with a
 *   CommandConnError carrying the child's last stderr line (ssh's "Permission denied (publickey)."), never a bare
 *   "socket hang up".
 * - destroy() (the HTTP client done with it, a timeout) kills the child, SIGTERM; it is never left running.
 * - setTimeout/setNoDelay/setKeepAlive/ref/unref: what node:http calls on a socket.
 */

/** The command behind a connection failed (exited non-zero or could not start). The message is its own stderr line. */
export class CommandConnError extends MeshError {
  readonly exitCode: number | null
  constructor(message: string, exitCode: number | null, options?: { cause?: unknown }) {
    super('MESH_ERR_COMMAND_CONN', message, options)
    this.exitCode = exitCode
  }
}

/** The last non-empty line of a command's stderr, without ssh's "Warning: Permanently added …" noise. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !/^Warning: Permanently added/.test(l))
  return lines.at(-1) ?? ''
}

const STDERR_KEEP = 8 * 1024

export class CommandConn extends Duplex {
  readonly #child: ChildProcessWithoutNullStreams
  #stderr = ''
  #stdoutEnded = false
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null
  #timer: NodeJS.Timeout | null = null
  #timeoutMs = 0

  constructor(argv: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    super({ allowHalfOpen: true })
    const [file, ...args] = argv
    if (!file) throw new CommandConnError('an empty command', null)
    this.#child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env })
    this.#child.stdout.on('data', (b: Buffer) => {
      this.#touch()
      if (!this.push(b)) this.#child.stdout.pause()
    })
    this.#child.stdout.on('end', () => {
      this.#stdoutEnded = true
      this.#maybeEnd()
    })
    this.#child.stderr.on('data', (b: Buffer) => { this.#stderr = (this.#stderr + b.toString('utf8')).slice(-STDERR_KEEP) })
    this.#child.stdin.on('error', () => undefined) // EPIPE when the child is gone: its exit says why
    this.#child.on('error', (err) => this.destroy(new CommandConnError(`cannot run ${file}: ${err.message}`, null, { cause: err })))
    this.#child.on('close', (code, signal) => {
      this.#exit = { code, signal }
      this.#maybeEnd()
    })
  }

  /** The child's pid (tests). */
  get pid(): number | undefined {
    return this.#child.pid
  }

  #maybeEnd(): void {
    if (!this.#stdoutEnded || !this.#exit || this.destroyed) return
    const { code, signal } = this.#exit
    if (code === 0) {
      this.push(null)
      return
    }
    const line = lastErrorLine(this.#stderr)
    const why = line || (signal ? `killed by ${signal}` : `exited with code ${String(code)}`)
    this.destroy(new CommandConnError(why, code))
  }

  override _read(): void {
    this.#child.stdout.resume()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#touch()
    // a write to a child that is gone fails with EPIPE; its exit status and stderr say why (#maybeEnd)
    this.#child.stdin.write(chunk, () => cb())
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#child.stdin.end(() => cb())
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#clearTimer()
    if (!this.#exit) this.#child.kill('SIGTERM')
    this.#child.stdout.destroy()
    this.#child.stdin.destroy()
    cb(err)
  }

  /** As net.Socket: emit 'timeout' after `ms` without a byte either way (0 = off). */
  setTimeout(ms: number, cb?: () => void): this {
    this.#timeoutMs = ms
    if (cb) this.once('timeout', cb)
    this.#touch()
    return this
  }

  #touch(): void {
    this.#clearTimer()
    if (this.#timeoutMs > 0 && !this.destroyed) this.#timer = setTimeout(() => this.emit('timeout'), this.#timeoutMs).unref()
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  setNoDelay(): this { return this }
  setKeepAlive(): this { return this }
  ref(): this { return this }
  unref(): this { return this }
}
