/**
 * The gossip core's view of the network: best-effort packets and reliable one-request/one-reply streams,
 * both on one address (memberlist's Transport). Implementations: NetTransport (dgram + net) and, in tests,
 * FakeNetwork. They move bytes and nothing else: no decoding beyond the framing callback they are given.
 */

export interface Address {
  /** IPv4 dotted quad or IPv6 text. */
  ip: string
  port: number
}

export function addressKey(a: Address): string {
  return a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`
}

/**
 * Reads one message off a stream: given every byte received so far, returns the decoded value and how many bytes
 * it used, or null while more bytes are needed. Throws on bytes that can never become a message.
 */
export type Framer<T> = (buf: Uint8Array) => { value: T; bytes: number } | null

export interface StreamHandler<T> {
  frame: Framer<T>
  /** Handle one request; the reply bytes (if any) are written before the stream closes. */
  onStream(request: T, from: Address): Promise<Uint8Array | null>
  /** The request could not be framed; return an error reply to send, or null to just close. */
  onStreamError(err: unknown, from: Address): Uint8Array | null
}

export interface TransportHandler<T> extends StreamHandler<T> {
  onPacket(data: Uint8Array, from: Address): void
}

export interface Transport {
  /** Where we listen; the port is the real one when 0 was asked for. */
  readonly localAddress: Address
  /** Start delivering to the handler. */
  listen<T>(handler: TransportHandler<T>): Promise<void>
  /** Best effort: may be lost, never throws for network reasons. */
  sendPacket(to: Address, data: Uint8Array): void
  /** Dial, write the request, read one framed reply, close. Rejects on connect failure, bad reply or timeout. */
  request<T>(to: Address, data: Uint8Array, frame: Framer<T>, timeoutMs: number): Promise<T>
  /** Dial, write, close: no reply expected. */
  send(to: Address, data: Uint8Array, timeoutMs: number): Promise<void>
  close(): Promise<void>
}

/** Parse `host[:port]`, `[v6]:port` or a bare IPv6 literal. Hostnames are not resolved here. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } | null {
  const s = text.trim()
  if (s === '') return null
  let host = s
  let portText: string | undefined
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s)
  if (v6) {
    host = v6[1] as string
    portText = v6[2]
  } else if ((s.match(/:/g) ?? []).length === 1) {
    const i = s.lastIndexOf(':')
    host = s.slice(0, i)
    portText = s.slice(i + 1)
  }
  if (host === '') return null
  const port = portText === undefined ? defaultPort : Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535 || (portText !== undefined && !/^\d+$/.test(portText))) return null
  return { host, port }
}
