import net from 'node:net'
import { MeshError } from '../base/errors.ts'
import { UnsafeValueError, isEndpoint, isIpv4Cidr, isPort } from '../base/values.ts'
import { hexToKey, isKey, keyToHex } from './wg-keys.ts'

/**
 * A small client for WireGuard's cross-platform userspace API (UAPI): the text protocol spoken on
 * /var/run/wireguard/<ifname>.sock by wireguard-go (and by `wg` to it). One request per connection:
 * `set=1` followed by key=value lines and a blank line, answered by `errno=N`; `get=1` answered by the device and
 * peer lines. Keys travel as hex. See https://www.wireguard.com/xplatform/.
 */

export class UapiError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_WIREGUARD', message, options)
  }
}

export interface PeerConfig {
  /** base64 */
  publicKey: string
  endpoint?: string
  allowedIps?: string[]
  persistentKeepaliveS?: number
  /** Remove this peer instead of configuring it. */
  remove?: boolean
}

export interface DeviceConfig {
  privateKey?: string
  listenPort?: number
  /** Drop every peer not listed in this request. */
  replacePeers?: boolean
  peers?: PeerConfig[]
}

export interface PeerStatus {
  publicKey: string
  endpoint: string | null
  allowedIps: string[]
  /** Seconds since the epoch; 0 = never. */
  lastHandshakeS: number
  rxBytes: number
  txBytes: number
  persistentKeepaliveS: number
}

export interface DeviceStatus {
  publicKey: string | null
  listenPort: number
  peers: PeerStatus[]
}

/**
 * Refuse a request holding any value that is not what its field allows (last line of defence: peers from gossip are
 * checked and skipped one by one before this; a value that still fails here is a bug, and nothing is sent).
 * Shared by the UAPI text and the `wg set` arguments.
 */
export function checkDeviceConfig(c: DeviceConfig): void {
  const refuse = (what: string, v: unknown) => {
    throw new UnsafeValueError(`WireGuard ${what} ${JSON.stringify(v)} refused: not a valid value`)
  }
  if (c.privateKey !== undefined && !isKey(c.privateKey)) refuse('private key', '(hidden)')
  if (c.listenPort !== undefined && !isPort(c.listenPort)) refuse('listen port', c.listenPort)
  for (const p of c.peers ?? []) {
    if (!isKey(p.publicKey)) refuse('public key', p.publicKey)
    if (p.endpoint !== undefined && !isEndpoint(p.endpoint)) refuse('endpoint', p.endpoint)
    const ka = p.persistentKeepaliveS
    if (ka !== undefined && !(Number.isInteger(ka) && ka >= 0 && ka <= 65535)) refuse('keepalive', ka)
    for (const ip of p.allowedIps ?? []) if (!isIpv4Cidr(ip)) refuse('allowed IP', ip)
  }
}

/** The `set=1` request text for a config (exported for tests). Throws UnsafeValueError on any invalid value. */
export function formatSet(c: DeviceConfig): string {
  checkDeviceConfig(c)
  const lines = ['set=1']
  if (c.privateKey !== undefined) lines.push(`private_key=${keyToHex(c.privateKey)}`)
  if (c.listenPort !== undefined) lines.push(`listen_port=${c.listenPort}`)
  if (c.replacePeers) lines.push('replace_peers=true')
  for (const p of c.peers ?? []) {
    lines.push(`public_key=${keyToHex(p.publicKey)}`)
    if (p.remove) {
      lines.push('remove=true')
      continue
    }
    if (p.endpoint !== undefined) lines.push(`endpoint=${p.endpoint}`)
    if (p.persistentKeepaliveS !== undefined) lines.push(`persistent_keepalive_interval=${p.persistentKeepaliveS}`)
    if (p.allowedIps !== undefined) {
      lines.push('replace_allowed_ips=true')
      for (const ip of p.allowedIps) lines.push(`allowed_ip=${ip}`)
    }
  }
  return `${lines.join('\n')}\n\n`
}

/** Parse a `get=1` reply (exported for tests). */
export function parseGet(text: string): DeviceStatus & { errno: number } {
  const dev: DeviceStatus & { errno: number } = { publicKey: null, listenPort: 0, peers: [], errno: -1 }
  let peer: PeerStatus | null = null
  for (const line of text.split('\n')) {
    if (line === '') continue
    const i = line.indexOf('=')
    if (i < 0) continue
    const k = line.slice(0, i)
    const v = line.slice(i + 1)
    switch (k) {
      case 'private_key': break
      case 'listen_port': dev.listenPort = Number(v); break
      case 'public_key':
        peer = { publicKey: hexToKey(v), endpoint: null, allowedIps: [], lastHandshakeS: 0, rxBytes: 0, txBytes: 0, persistentKeepaliveS: 0 }
        dev.peers.push(peer)
        break
      case 'endpoint': if (peer) peer.endpoint = v; break
      case 'allowed_ip': peer?.allowedIps.push(v); break
      case 'last_handshake_time_sec': if (peer) peer.lastHandshakeS = Number(v); break
      case 'rx_bytes': if (peer) peer.rxBytes = Number(v); break
      case 'tx_bytes': if (peer) peer.txBytes = Number(v); break
      case 'persistent_keepalive_interval': if (peer) peer.persistentKeepaliveS = Number(v); break
      case 'errno': dev.errno = Number(v); break
      default: break
    }
  }
  return dev
}

export class UapiClient {
  readonly socketPath: string
  readonly #timeoutMs: number

  constructor(socketPath: string, timeoutMs = 5000) {
    this.socketPath = socketPath
    this.#timeoutMs = timeoutMs
  }

  async set(c: DeviceConfig): Promise<void> {
    const reply = await this.#request(formatSet(c))
    const m = /errno=(-?\d+)/.exec(reply)
    const errno = m ? Number(m[1]) : -1
    if (errno !== 0) throw new UapiError(`WireGuard ${this.socketPath}: set failed (errno=${errno})`)
  }

  async get(): Promise<DeviceStatus> {
    const dev = parseGet(await this.#request('get=1\n\n'))
    if (dev.errno !== 0) throw new UapiError(`WireGuard ${this.socketPath}: get failed (errno=${dev.errno})`)
    const { errno: _e, ...status } = dev
    return status
  }

  #request(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.socketPath)
      let buf = ''
      let done = false
      const finish = (err: Error | null) => {
        if (done) return
        done = true
        clearTimeout(timer)
        sock.destroy()
        if (err) reject(err)
        else resolve(buf)
      }
      const timer = setTimeout(() => finish(new UapiError(`WireGuard ${this.socketPath}: no answer in ${this.#timeoutMs} ms`)), this.#timeoutMs)
      sock.setEncoding('utf8')
      sock.on('connect', () => sock.write(text))
      sock.on('data', (d: string) => {
        buf += d
        if (buf.includes('\n\n') || /errno=-?\d+\n/.test(buf)) finish(null)
      })
      sock.on('end', () => finish(null))
      sock.on('error', (err: NodeJS.ErrnoException) => finish(new UapiError(`WireGuard ${this.socketPath}: ${err.code ?? err.message}`, { cause: err })))
    })
  }
}
