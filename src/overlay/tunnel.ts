import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../base/errors.ts'
import { run } from './exec.ts'
import { addKernelWireguard, deleteLink, linkInfo, setLinkUp } from './links.ts'
import { plainText } from '../base/values.ts'
import { UapiClient, checkDeviceConfig, type DeviceConfig, type DeviceStatus, parseGet } from './uapi.ts'
import { keyToHex } from './wg-keys.ts'
import type { WireGuardImpl } from '../api/index.ts'
import { KERNEL_IMPL, describeWgGo } from './wg-impl.ts'

/**
 * The node's WireGuard interface. Kernel WireGuard when `ip link add … type wireguard` works; otherwise
 * Debian's wireguard-go, started in the foreground (-f) as our own detached child and configured through its
 * UAPI socket. An interface left by an earlier run (agent killed) is adopted, so restarts are idempotent.
 */

/** Configures a WireGuard device: UAPI for wireguard-go, the `wg` tool for kernel devices. */
export interface WgControl {
  set(c: DeviceConfig): Promise<void>
  get(): Promise<DeviceStatus>
}

/** Kernel WireGuard through `wg` (speaks netlink); the same request shape as UAPI. */
export class WgToolControl implements WgControl {
  readonly #ifname: string
  constructor(ifname: string) {
    this.#ifname = ifname
  }

  async set(c: DeviceConfig): Promise<void> {
    const args = wgSetArgs(this.#ifname, c)
    await run('wg', args, c.privateKey === undefined ? {} : { input: `${c.privateKey}\n` })
  }

  async get(): Promise<DeviceStatus> {
    // `wg show IF dump`: device line then one tab-separated line per peer; convert to UAPI text and reuse its parser.
    const lines = (await run('wg', ['show', this.#ifname, 'dump'])).trim().split('\n')
    const dev = (lines[0] ?? '').split('\t')
    const uapi = [`listen_port=${dev[2] ?? 0}`]
    for (const l of lines.slice(1)) {
      const [pub, , endpoint, allowed, hs, rx, tx, ka] = l.split('\t')
      uapi.push(`public_key=${keyToHex(pub ?? '')}`)
      if (endpoint && endpoint !== '(none)') uapi.push(`endpoint=${endpoint}`)
      for (const a of (allowed ?? '').split(',')) if (a && a !== '(none)') uapi.push(`allowed_ip=${a}`)
      uapi.push(`last_handshake_time_sec=${hs ?? 0}`, `rx_bytes=${rx ?? 0}`, `tx_bytes=${tx ?? 0}`,
        `persistent_keepalive_interval=${ka === 'off' ? 0 : ka ?? 0}`)
    }
    const { errno: _e, ...status } = parseGet(`${uapi.join('\n')}\nerrno=0\n`)
    return status
  }
}

/**
 * The `wg set` arguments for a request (pure; exported for tests): the same fields as UAPI, checked the same way
 * (checkDeviceConfig), so no value can become another option or, joined with commas, another allowed IP.
 * The private key is read from stdin (`private-key /dev/stdin`), never from argv.
 */
export function wgSetArgs(ifname: string, c: DeviceConfig): string[] {
  checkDeviceConfig(c)
  const args = ['set', plainText(ifname, 'interface name')]
  if (c.privateKey !== undefined) args.push('private-key', '/dev/stdin')
  if (c.listenPort !== undefined) args.push('listen-port', String(c.listenPort))
  for (const p of c.peers ?? []) {
    args.push('peer', p.publicKey)
    if (p.remove) { args.push('remove'); continue }
    if (p.endpoint !== undefined) args.push('endpoint', p.endpoint)
    if (p.persistentKeepaliveS !== undefined) args.push('persistent-keepalive', String(p.persistentKeepaliveS))
    if (p.allowedIps !== undefined) args.push('allowed-ips', p.allowedIps.join(','))
  }
  return args
}

export interface TunnelOptions {
  ifname: string
  mtu: number
  runDir: string
  dataDir: string
  /** wireguard-go binary. Default: `wireguard-go` from PATH. */
  wireguardGo?: string
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

export class WireGuardTunnel {
  readonly #o: TunnelOptions
  #kind: 'kernel' | 'userspace' | null = null
  #control: WgControl | null = null
  #adopted = false

  constructor(o: TunnelOptions) {
    this.#o = o
  }

  get kind(): 'kernel' | 'userspace' | null {
    return this.#kind
  }

  get control(): WgControl {
    if (!this.#control) throw new Error('tunnel not started')
    return this.#control
  }

  get socketPath(): string {
    return join(this.#o.runDir, `${this.#o.ifname}.sock`)
  }

  #pidFile(): string {
    return join(this.#o.dataDir, 'wireguard-go.pid')
  }

  /** Whether start() adopted an interface an earlier run left (live restore) rather than creating one. */
  get adopted(): boolean {
    return this.#adopted
  }

  /** Create or adopt the interface, set its MTU and bring it up. */
  async start(): Promise<void> {
    const { ifname } = this.#o
    const existing = await linkInfo(ifname)
    if (existing) {
      if (existing.linkinfo?.info_kind === 'wireguard') {
        this.#use('kernel')
        this.#adopted = true
      } else if (await this.#socketAnswers()) {
        this.#use('userspace')
        this.#adopted = true
      } else {
        // A stale interface (e.g. a tun whose wireguard-go died): remove it and start over.
        await deleteLink(ifname)
      }
    }
    if (!this.#kind) {
      if (await addKernelWireguard(ifname)) this.#use('kernel')
      else await this.#startUserspace()
    }
    await setLinkUp(ifname, this.#o.mtu)
    this.#o.log?.('wireguard interface ready', { ifname, kind: this.#kind, mtu: this.#o.mtu })
  }

  /**
   * Which WireGuard this is (after start and after the listen port is set, so the UDP socket exists): kernel, or
   * the running wireguard-go's binary, version, GSO/GRO and UDP buffers.
   */
  async describe(listenPort: number): Promise<WireGuardImpl | null> {
    if (this.#kind === 'kernel') return KERNEL_IMPL
    const pid = this.#readPid()
    if (this.#kind !== 'userspace' || pid === null) return null
    return describeWgGo(pid, listenPort)
  }

  /** Remove the interface (graceful stop). */
  async stop(): Promise<void> {
    const pid = this.#readPid()
    if (this.#kind === 'userspace' && pid) {
      try { process.kill(pid, 'SIGTERM') } catch { /* already gone */ }
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(20)
    }
    await deleteLink(this.#o.ifname)
    if (existsSync(this.#pidFile())) unlinkSync(this.#pidFile())
    this.#kind = null
    this.#control = null
  }

  #use(kind: 'kernel' | 'userspace'): void {
    this.#kind = kind
    this.#control = kind === 'kernel' ? new WgToolControl(this.#o.ifname) : new UapiClient(this.socketPath)
  }

  async #socketAnswers(): Promise<boolean> {
    if (!existsSync(this.socketPath)) return false
    try {
      await new UapiClient(this.socketPath, 1000).get()
      return true
    } catch {
      return false
    }
  }

  async #startUserspace(): Promise<void> {
    const bin = this.#o.wireguardGo ?? 'wireguard-go'
    mkdirSync(this.#o.runDir, { recursive: true })
    const logPath = join(this.#o.dataDir, 'wireguard-go.log')
    const fd = openSync(logPath, 'a')
    const child = spawn(bin, ['-f', this.#o.ifname], {
      detached: true, stdio: ['ignore', fd, fd],
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
    })
    closeSync(fd)
    const spawnError = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      child.once('error', (err) => resolve(err))
      child.once('spawn', () => resolve(null))
    })
    if (spawnError) {
      throw new ConfigError(
        `neither kernel WireGuard (ip link add ${this.#o.ifname} type wireguard failed) nor wireguard-go (${bin}: ` +
        `${spawnError.code ?? spawnError.message}) is available; install it: apt-get install wireguard-go wireguard-tools, or run with --overlay off`)
    }
    child.unref()
    writeFileSync(this.#pidFile(), `${child.pid}\n`)
    for (let i = 0; i < 250; i++) {
      if (await this.#socketAnswers()) {
        this.#use('userspace')
        return
      }
      if (child.exitCode !== null) break
      await sleep(20)
    }
    const tail = existsSync(logPath) ? readFileSync(logPath, 'utf8').trim().split('\n').slice(-3).join(' | ') : ''
    throw new ConfigError(`wireguard-go did not open ${this.socketPath} (see ${logPath}: ${tail}); does /dev/net/tun exist?`)
  }

  #readPid(): number | null {
    try {
      const pid = Number(readFileSync(this.#pidFile(), 'utf8').trim())
      return pid > 0 ? pid : null
    } catch {
      return null
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/\) Z /.test(stat)
  } catch {
    return false
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
