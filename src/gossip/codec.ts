/**
 * memberlist messages ⇄ bytes (spec §2, §4, §5): single messages, the UDP packet pipeline (compound → compress →
 * CRC → encrypt and back) and the one-message TCP stream format (compress → `0a | len | blob` and back).
 *
 * Pure functions. Decoders throw only GossipDecodeError / GossipDecryptError, validate what would hurt a serf
 * peer if forwarded (Vsn must be exactly 6 bytes, Meta ≤ 512 B) and bound every size and nesting level.
 */
import { GossipDecodeError, GossipDecryptError } from '../base/errors.ts'
import { crc32 } from './crc32.ts'
import { type Keyring, encryptedLength } from './keyring.ts'
import { lzwCompress, lzwDecompress } from './lzw.ts'
import {
  type GoStruct, GossipIncompleteError, MsgpackWriter, asStruct, decodeGo, getBool, getBytes, getBytesOrNull, getInt,
  getStr, getUint, isIncomplete,
} from './msgpack.ts'
import {
  type Alive, COMPRESS_LZW, ENCRYPT_VSN_PLAIN, MAX_STREAM_BLOB_BYTES, META_MAX_BYTES, MSG, type Message,
  type PacketMessage, type PushNodeState, type StateNum, type StreamMessage,
} from './wire.ts'

/** Max parts in one compound message (the count is one byte). */
export const MAX_COMPOUND_PARTS = 255
/** Max compound/compress wrappers nested inside one packet. */
export const MAX_PACKET_NESTING = 8
/** Max bytes all compress wrappers of one UDP packet may expand to, together. */
export const MAX_PACKET_DECOMPRESSED_BYTES = 1024 * 1024
/** Max node states a push/pull may announce. */
export const MAX_PUSH_PULL_NODES = 65536
/** Max bytes of delegate user state (push/pull) or of a stream user message. */
export const MAX_USER_STATE_BYTES = MAX_STREAM_BLOB_BYTES

/** The smallest node state that can be valid: map header + `Vsn` key + 6-byte Vsn. */
const MIN_NODE_STATE_BYTES = 12
const U16 = 0xffff
const U32 = 0xffffffff
const EMPTY = new Uint8Array(0)

/** Options of encodePacket. */
export interface PacketOptions {
  /** Prefix `0c | crc32` (only to peers with pmax ≥ 5). */
  crc: boolean
  /** LZW-compress, kept only if smaller. */
  compress: boolean
  /** Encrypt with the primary key (vsn 1, empty AAD). */
  keyring?: Keyring | null
}

/** Options of encodeStream. */
export interface StreamOptions {
  /** Wrap the whole message in `09 {Algo: 0, Buf}` (serf always does). */
  compress: boolean
  /** Encrypt as `0a | len:u32be | blob`, AAD = those 5 bytes. */
  keyring?: Keyring | null
}

/** Result of decodePacket: the messages that decoded, and one error per part that did not. */
export interface DecodedPacket {
  messages: PacketMessage[]
  errors: GossipDecodeError[]
}

/** Result of tryDecodeStream: not done while `buf` is a valid prefix; else the message and bytes consumed. */
export type StreamDecodeResult = { done: false } | { done: true; msg: StreamMessage; bytes: number }

const NAMES: Record<number, string> = {
  0: 'ping', 1: 'indirect ping', 2: 'ack', 3: 'suspect', 4: 'alive', 5: 'dead', 6: 'push/pull', 8: 'user',
  9: 'compress', 11: 'nack', 13: 'err',
}

function u32be(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)
}

function readU32(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0)
  return out
}

/** Empty bytes/strings/zero ports are omitted, as Go's omitempty does. */
function omitEmpty<T extends Uint8Array | string | number>(v: T | undefined): T | undefined {
  if (v === undefined || v === '' || v === 0 || (v instanceof Uint8Array && v.length === 0)) return undefined
  return v
}

function checkNode(what: string, name: string, meta: Uint8Array, vsn: Uint8Array): void {
  if (vsn.length !== 6) throw new RangeError(`${what} ${name}: Vsn must be exactly 6 bytes, got ${vsn.length}`)
  if (meta.length > META_MAX_BYTES) throw new RangeError(`${what} ${name}: Meta is ${meta.length} bytes, max ${META_MAX_BYTES}`)
}

function writeNodeState(w: MsgpackWriter, n: PushNodeState): void {
  checkNode('node state', n.Name, n.Meta, n.Vsn)
  w.struct({ Addr: n.Addr, Incarnation: n.Incarnation, Meta: n.Meta, Name: n.Name, Port: n.Port, State: n.State, Vsn: n.Vsn })
}

/** Write type byte + body of any message; `stream` selects the TCP form of a user message. */
function writeMessage(w: MsgpackWriter, msg: Message, stream: boolean): void {
  w.byte(msg.type)
  switch (msg.type) {
    case MSG.ping:
      return void w.struct({ Node: msg.Node, SeqNo: msg.SeqNo, SourceAddr: omitEmpty(msg.SourceAddr), SourceNode: omitEmpty(msg.SourceNode), SourcePort: omitEmpty(msg.SourcePort) })
    case MSG.indirectPing:
      w.struct({
        Nack: msg.Nack, Node: msg.Node, Port: msg.Port, SeqNo: msg.SeqNo, SourceAddr: omitEmpty(msg.SourceAddr),
        SourceNode: omitEmpty(msg.SourceNode), SourcePort: omitEmpty(msg.SourcePort), Target: msg.Target,
      })
      return
    case MSG.ack:
      return void w.struct({ Payload: msg.Payload, SeqNo: msg.SeqNo })
    case MSG.nack:
      return void w.struct({ SeqNo: msg.SeqNo })
    case MSG.suspect:
    case MSG.dead:
      return void w.struct({ From: msg.From, Incarnation: msg.Incarnation, Node: msg.Node })
    case MSG.alive:
      checkNode('alive', msg.Node, msg.Meta, msg.Vsn)
      w.struct({ Addr: msg.Addr, Incarnation: msg.Incarnation, Meta: msg.Meta, Node: msg.Node, Port: msg.Port, Vsn: msg.Vsn })
      return
    case MSG.user:
      if (stream) w.struct({ UserMsgLen: msg.Payload.length })
      w.raw(msg.Payload)
      return
    case MSG.err:
      return void w.struct({ Error: msg.Error })
    case MSG.pushPull:
      w.struct({ Join: msg.Join, Nodes: msg.Nodes.length, UserStateLen: msg.UserState.length })
      for (const n of msg.Nodes) writeNodeState(w, n)
      w.raw(msg.UserState)
      return
  }
}

/** Encode one packet message: type byte + msgpack struct (sorted keys, Source* omitted when empty); user = `08` + raw Payload. */
export function encodeMessage(msg: PacketMessage): Uint8Array {
  const w = new MsgpackWriter()
  writeMessage(w, msg, false)
  return w.finish()
}

function decodeVsnMeta(what: string, m: GoStruct): { Meta: Uint8Array; Vsn: Uint8Array } {
  const Vsn = getBytes(m, 'Vsn')
  if (Vsn.length !== 6) throw new GossipDecodeError(`${what}: Vsn must be exactly 6 bytes, got ${Vsn.length}`)
  const Meta = getBytes(m, 'Meta')
  if (Meta.length > META_MAX_BYTES) throw new GossipDecodeError(`${what}: Meta is ${Meta.length} bytes, max ${META_MAX_BYTES}`)
  return { Meta, Vsn }
}

function withSource<T extends object>(msg: T, m: GoStruct): T {
  const addr = getBytes(m, 'SourceAddr')
  const port = getUint(m, 'SourcePort', U16)
  const node = getStr(m, 'SourceNode')
  return Object.assign(msg, addr.length > 0 ? { SourceAddr: addr } : {}, port > 0 ? { SourcePort: port } : {}, node ? { SourceNode: node } : {})
}

function decodeNodeState(m: GoStruct): PushNodeState {
  const Name = getStr(m, 'Name')
  const { Meta, Vsn } = decodeVsnMeta(`node state ${JSON.stringify(Name)}`, m)
  const State = getUint(m, 'State', 3) as StateNum
  return { Name, Addr: getBytes(m, 'Addr'), Port: getUint(m, 'Port', U16), Meta, Incarnation: getUint(m, 'Incarnation', U32), State, Vsn }
}

/** Build a message of a struct-bodied type from its decoded fields. */
function fromStruct(type: number, m: GoStruct): PacketMessage | StreamMessage {
  switch (type) {
    case MSG.ping:
      return withSource({ type: MSG.ping, SeqNo: getUint(m, 'SeqNo', U32), Node: getStr(m, 'Node') }, m)
    case MSG.indirectPing:
      return withSource(
        { type: MSG.indirectPing, SeqNo: getUint(m, 'SeqNo', U32), Target: getBytes(m, 'Target'), Port: getUint(m, 'Port', U16), Node: getStr(m, 'Node'), Nack: getBool(m, 'Nack') },
        m,
      )
    case MSG.ack:
      return { type: MSG.ack, SeqNo: getUint(m, 'SeqNo', U32), Payload: getBytesOrNull(m, 'Payload') }
    case MSG.nack:
      return { type: MSG.nack, SeqNo: getUint(m, 'SeqNo', U32) }
    case MSG.suspect:
    case MSG.dead:
      return { type, Incarnation: getUint(m, 'Incarnation', U32), Node: getStr(m, 'Node'), From: getStr(m, 'From') }
    case MSG.alive: {
      const Node = getStr(m, 'Node')
      const { Meta, Vsn } = decodeVsnMeta(`alive ${JSON.stringify(Node)}`, m)
      const alive: Alive = { type: MSG.alive, Incarnation: getUint(m, 'Incarnation', U32), Node, Addr: getBytes(m, 'Addr'), Port: getUint(m, 'Port', U16), Meta, Vsn }
      return alive
    }
    case MSG.err:
      return { type: MSG.err, Error: getStr(m, 'Error') }
  }
  throw new GossipDecodeError(`msg type (${type}) not supported`)
}

const PACKET_STRUCT_TYPES = new Set<number>([MSG.ping, MSG.indirectPing, MSG.ack, MSG.suspect, MSG.alive, MSG.dead, MSG.nack])

/** Decode one packet message (type byte first). Wrapper and stream-only types are "not supported". */
export function decodeMessage(buf: Uint8Array): PacketMessage {
  if (buf.length === 0) throw new GossipDecodeError('missing message type byte')
  const type = buf[0] as number
  if (type === MSG.user) return { type: MSG.user, Payload: buf.slice(1) }
  if (!PACKET_STRUCT_TYPES.has(type)) throw new GossipDecodeError(`msg type (${type}) not supported`)
  try {
    return fromStruct(type, asStruct(decodeGo(buf, 1).value, NAMES[type] ?? '')) as PacketMessage
  } catch (err) {
    if (!(err instanceof GossipDecodeError)) throw err
    throw new GossipDecodeError(`failed to decode ${NAMES[type]} message: ${err.message}`, { cause: err })
  }
}

/** Encode a compound message: `07 | n:u8 | n × len:u16be | parts`. */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length > MAX_COMPOUND_PARTS) throw new RangeError(`compound: ${parts.length} parts, max ${MAX_COMPOUND_PARTS}`)
  const head = new Uint8Array(2 + 2 * parts.length)
  head[0] = MSG.compound
  head[1] = parts.length
  parts.forEach((p, i) => {
    if (p.length > U16) throw new RangeError(`compound: part ${i} is ${p.length} bytes, max ${U16}`)
    head[2 + 2 * i] = p.length >>> 8
    head[3 + 2 * i] = p.length & 0xff
  })
  return concat(head, ...parts)
}

/** Split a compound body (after the `07`). Parts running past the end are dropped with all later ones: `truncated` counts them. */
export function decodeCompound(body: Uint8Array): { parts: Uint8Array[]; truncated: number } {
  if (body.length < 1) throw new GossipDecodeError('missing compound length byte')
  const n = body[0] as number
  if (body.length < 1 + 2 * n) throw new GossipDecodeError('truncated len slice')
  const parts: Uint8Array[] = []
  let at = 1 + 2 * n
  for (let i = 0; i < n; i++) {
    const len = ((body[1 + 2 * i] as number) << 8) | (body[2 + 2 * i] as number)
    if (body.length - at < len) return { parts, truncated: n - i }
    parts.push(body.subarray(at, at + len))
    at += len
  }
  return { parts, truncated: 0 }
}

function encodeCompress(inner: Uint8Array): Uint8Array {
  return new MsgpackWriter().byte(MSG.compress).struct({ Algo: COMPRESS_LZW, Buf: lzwCompress(inner) }).finish()
}

function decompressStruct(m: GoStruct, maxOut: number): Uint8Array {
  const algo = getUint(m, 'Algo', 255)
  if (algo !== COMPRESS_LZW) throw new GossipDecodeError(`Cannot decompress unknown algorithm ${algo}`)
  return lzwDecompress(getBytes(m, 'Buf'), maxOut)
}

/**
 * Build one UDP datagram from encoded messages: compound if more than one, LZW-compress if that makes it
 * smaller, CRC prefix if `opts.crc`, then encrypt (vsn 1, empty AAD) if a keyring is given.
 */
export function encodePacket(parts: readonly Uint8Array[], opts: PacketOptions): Uint8Array {
  if (parts.length === 0) throw new RangeError('encodePacket: no messages')
  let buf = parts.length === 1 ? (parts[0] as Uint8Array) : encodeCompound(parts)
  if (opts.compress) {
    const c = encodeCompress(buf)
    if (c.length < buf.length) buf = c
  }
  if (opts.crc) buf = concat(Uint8Array.of(MSG.hasCrc), u32be(crc32(buf)), buf)
  if (opts.keyring) buf = opts.keyring.encrypt(buf, EMPTY, ENCRYPT_VSN_PLAIN)
  return buf
}

function walkPacket(buf: Uint8Array, depth: number, out: DecodedPacket, budget: { left: number }): void {
  try {
    const type = buf[0]
    if (type === MSG.compound || type === MSG.compress) {
      if (depth >= MAX_PACKET_NESTING) throw new GossipDecodeError(`packet nests more than ${MAX_PACKET_NESTING} wrappers`)
      if (type === MSG.compound) {
        const { parts, truncated } = decodeCompound(buf.subarray(1))
        for (const p of parts) walkPacket(p, depth + 1, out, budget)
        if (truncated > 0) out.errors.push(new GossipDecodeError(`compound request had ${truncated} truncated messages`))
        return
      }
      let inner: Uint8Array
      try {
        inner = decompressStruct(asStruct(decodeGo(buf, 1).value, 'compress'), budget.left)
      } catch (err) {
        if (!(err instanceof GossipDecodeError)) throw err
        throw new GossipDecodeError(`failed to decompress payload: ${err.message}`, { cause: err })
      }
      budget.left -= inner.length
      walkPacket(inner, depth + 1, out, budget)
      return
    }
    out.messages.push(decodeMessage(buf))
  } catch (err) {
    if (!(err instanceof GossipDecodeError)) throw err
    out.errors.push(err)
  }
}

/**
 * Decode one UDP datagram: decrypt (GossipDecryptError if no key fits), verify and strip a CRC (mismatch drops
 * the packet: no messages, one error), then unwrap compound/compress recursively. Each bad part adds an error
 * and the others still count.
 */
export function decodePacket(buf: Uint8Array, keyring?: Keyring | null): DecodedPacket {
  let plain = keyring ? keyring.decrypt(buf, EMPTY) : buf
  const out: DecodedPacket = { messages: [], errors: [] }
  if (plain.length >= 5 && plain[0] === MSG.hasCrc) {
    const want = readU32(plain, 1)
    const got = crc32(plain.subarray(5))
    if (got !== want) {
      out.errors.push(new GossipDecodeError(`invalid checksum for UDP packet: ${got.toString(16)}, ${want.toString(16)}`))
      return out
    }
    plain = plain.subarray(5)
  }
  walkPacket(plain, 0, out, { left: MAX_PACKET_DECOMPRESSED_BYTES })
  return out
}

/**
 * Encode the single message of a TCP stream: pushPull as header + node states + raw user state, user as
 * `{UserMsgLen}` + bytes; then optionally compress the whole message and encrypt as `0a | len | blob`.
 */
export function encodeStream(msg: StreamMessage, opts: StreamOptions): Uint8Array {
  const w = new MsgpackWriter()
  writeMessage(w, msg, true)
  let buf = w.finish()
  if (opts.compress) buf = encodeCompress(buf)
  if (opts.keyring) {
    const head = concat(Uint8Array.of(MSG.encrypt), u32be(encryptedLength(ENCRYPT_VSN_PLAIN, buf.length)))
    buf = concat(head, opts.keyring.encrypt(buf, head, ENCRYPT_VSN_PLAIN))
  }
  return buf
}

function need(buf: Uint8Array, n: number): void {
  if (buf.length < n) throw new GossipIncompleteError('stream: unexpected end of input')
}

/** Decode a stream message at offset 0; throws GossipIncompleteError while `buf` is only a prefix. */
function decodeStreamAt(buf: Uint8Array, allowCompress: boolean): { msg: StreamMessage; offset: number } {
  need(buf, 1)
  const type = buf[0] as number
  if (type === MSG.compress && allowCompress) {
    const { value, offset } = decodeGo(buf, 1)
    const inner = decompressStruct(asStruct(value, 'compress'), MAX_STREAM_BLOB_BYTES)
    return { msg: decodeComplete(inner, false), offset }
  }
  if (type === MSG.ping || type === MSG.ack || type === MSG.err) {
    const { value, offset } = decodeGo(buf, 1)
    return { msg: fromStruct(type, asStruct(value, NAMES[type] ?? '')) as StreamMessage, offset }
  }
  if (type === MSG.user) {
    const { value, offset } = decodeGo(buf, 1)
    const len = getInt(asStruct(value, 'user header'), 'UserMsgLen', 0, MAX_USER_STATE_BYTES)
    need(buf, offset + len)
    return { msg: { type: MSG.user, Payload: buf.slice(offset, offset + len) }, offset: offset + len }
  }
  if (type === MSG.pushPull) {
    let { value, offset } = decodeGo(buf, 1)
    const h = asStruct(value, 'push/pull header')
    const count = getInt(h, 'Nodes', 0, MAX_PUSH_PULL_NODES)
    const userLen = getInt(h, 'UserStateLen', 0, MAX_USER_STATE_BYTES)
    const Join = getBool(h, 'Join')
    need(buf, offset + count * MIN_NODE_STATE_BYTES + userLen)
    const Nodes: PushNodeState[] = []
    for (let i = 0; i < count; i++) {
      ;({ value, offset } = decodeGo(buf, offset))
      Nodes.push(decodeNodeState(asStruct(value, 'node state')))
    }
    need(buf, offset + userLen)
    return { msg: { type: MSG.pushPull, Join, Nodes, UserState: buf.slice(offset, offset + userLen) }, offset: offset + userLen }
  }
  throw new GossipDecodeError(`Received invalid msgType (${type})`)
}

/** Decode a complete buffer (decrypted or decompressed): running out of bytes is a plain decode error. */
function decodeComplete(buf: Uint8Array, allowCompress: boolean): StreamMessage {
  try {
    return decodeStreamAt(buf, allowCompress).msg
  } catch (err) {
    if (!isIncomplete(err)) throw err
    throw new GossipDecodeError('stream message is truncated', { cause: err })
  }
}

/**
 * Try to decode the one message of a TCP stream from the bytes received so far. `{ done: false }` while `buf`
 * is a valid prefix; else the message and how many bytes it used. Throws GossipDecodeError on invalid input and
 * GossipDecryptError when encryption is wrong (bad key, plaintext to a keyed node, encrypted to a keyless one).
 */
export function tryDecodeStream(buf: Uint8Array, keyring?: Keyring | null): StreamDecodeResult {
  if (buf.length === 0) return { done: false }
  if (buf[0] === MSG.encrypt) {
    if (!keyring) throw new GossipDecryptError('Remote state is encrypted and encryption is not configured')
    if (buf.length < 5) return { done: false }
    const len = readU32(buf, 1)
    if (len > MAX_STREAM_BLOB_BYTES) throw new GossipDecodeError(`Remote node state is larger than limit (${len})`)
    if (buf.length < 5 + len) return { done: false }
    const plain = keyring.decrypt(buf.subarray(5, 5 + len), buf.subarray(0, 5))
    return { done: true, msg: decodeComplete(plain, true), bytes: 5 + len }
  }
  if (keyring) throw new GossipDecryptError('Encryption is configured but remote state is not encrypted')
  try {
    const { msg, offset } = decodeStreamAt(buf, true)
    return { done: true, msg, bytes: offset }
  } catch (err) {
    if (isIncomplete(err)) return { done: false }
    throw err
  }
}
