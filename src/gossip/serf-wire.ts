/**
 * serf 0.9.4's layer on the memberlist wire (spec §7): serf message types and bodies carried in memberlist user
 * messages (`08 | serfType | msgpack`), serf's push/pull user state (`02 | msgpack`) and tags in node metadata
 * (`ff | msgpack map`).
 *
 * ONLY APPEND TO SERF_MSG: the numbers are part of the protocol. Lamport times are u64 on the wire and plain
 * numbers here; a value past 2^53 (only a hostile peer sends one) is clamped to Number.MAX_SAFE_INTEGER.
 */
import { GossipDecodeError } from '../base/errors.ts'
import {
  type GoStruct,
  type GoValue,
  MsgpackWriter,
  asStruct,
  decodeGo,
  getArrayOrNull,
  getBool,
  getBytes,
  getBytesOrNull,
  getInt,
  getMap,
  getStr,
  getU64,
  getUint,
  isBin,
  utf8,
} from './msgpack.ts'
import { META_MAX_BYTES } from './wire.ts'

/** serf message types: the first byte of a memberlist user message from serf. */
export const SERF_MSG = {
  leave: 0,
  join: 1,
  pushPull: 2,
  userEvent: 3,
  query: 4,
  queryResponse: 5,
  conflictResponse: 6,
  keyRequest: 7,
  keyResponse: 8,
  relay: 9,
  /** mesh only: a direct message to one member (`6d | raw payload`); serf logs and ignores unknown types. */
  meshDirect: 0x6d,
} as const

/** Query flags. */
export const QUERY_FLAG_ACK = 1
export const QUERY_FLAG_NO_BROADCAST = 2

/** First byte of tag metadata (serf tagMagicByte). */
export const TAG_MAGIC = 0xff

/** Join intent. */
export interface SerfJoin {
  type: typeof SERF_MSG.join
  LTime: number
  Node: string
}

/** Leave intent. Prune asks members to forget the node at once. */
export interface SerfLeave {
  type: typeof SERF_MSG.leave
  LTime: number
  Node: string
  Prune: boolean
}

/** A user event (`serf event NAME PAYLOAD`). CC = can coalesce. */
export interface SerfUserEvent {
  type: typeof SERF_MSG.userEvent
  LTime: number
  Name: string
  Payload: Uint8Array
  CC: boolean
}

/** A query; responses go to Addr:Port. Timeout is in nanoseconds (Go time.Duration). */
export interface SerfQuery {
  type: typeof SERF_MSG.query
  LTime: number
  ID: number
  Addr: Uint8Array
  Port: number
  SourceNode: string
  /** Each filter: `00 | msgpack [names]` or `01 | msgpack {Tag, Expr}`; null = none. */
  Filters: Uint8Array[] | null
  Flags: number
  RelayFactor: number
  Timeout: number
  Name: string
  Payload: Uint8Array
}

/** A query ack (Flags & 1) or response. */
export interface SerfQueryResponse {
  type: typeof SERF_MSG.queryResponse
  LTime: number
  ID: number
  From: string
  Flags: number
  Payload: Uint8Array | null
}

/** A relayed message: forward `Inner` (serf type + msgpack) as a user message to DestAddr:DestPort. */
export interface SerfRelay {
  type: typeof SERF_MSG.relay
  /** Raw IP bytes (4 or 16). */
  DestAddr: Uint8Array
  DestPort: number
  DestZone: string
  DestName: string
  Inner: Uint8Array
}

/** Types we only pass through (they normally ride inside query payloads): the msgpack body, undecoded. */
export interface SerfOpaque {
  type: typeof SERF_MSG.conflictResponse | typeof SERF_MSG.keyRequest | typeof SERF_MSG.keyResponse
  Body: Uint8Array
}

/** mesh's direct message: opaque bytes for one member. */
export interface MeshDirect {
  type: typeof SERF_MSG.meshDirect
  Payload: Uint8Array
}

export type SerfMessage =
  | SerfJoin
  | SerfLeave
  | SerfUserEvent
  | SerfQuery
  | SerfQueryResponse
  | SerfRelay
  | SerfOpaque
  | MeshDirect

/** One slot of serf's event buffer: the events seen at one Lamport time. */
export interface SerfUserEvents {
  LTime: number
  Events: { Name: string; Payload: Uint8Array }[]
}

/** serf's push/pull user state. Events holds only the used slots (serf sends 512, mostly nil). */
export interface SerfPushPull {
  LTime: number
  StatusLTimes: Record<string, number>
  LeftMembers: string[]
  EventLTime: number
  Events: SerfUserEvents[]
  QueryLTime: number
}

const U16 = 0xffff
const U32 = 0xffffffff
const NAMES = ['leave', 'join', 'push/pull', 'user event', 'query', 'query response', 'conflict response', 'key request', 'key response', 'relay']

/** Encode a serf message as the payload of a memberlist user message: `serfType | msgpack` (the `08` is memberlist's). */
export function encodeSerfMessage(msg: SerfMessage): Uint8Array {
  const w = new MsgpackWriter().byte(msg.type)
  switch (msg.type) {
    case SERF_MSG.join:
      return w.struct({ LTime: msg.LTime, Node: msg.Node }).finish()
    case SERF_MSG.leave:
      return w.struct({ LTime: msg.LTime, Node: msg.Node, Prune: msg.Prune }).finish()
    case SERF_MSG.userEvent:
      return w.struct({ CC: msg.CC, LTime: msg.LTime, Name: msg.Name, Payload: msg.Payload }).finish()
    case SERF_MSG.query:
      return w
        .struct({
          Addr: msg.Addr, Filters: msg.Filters, Flags: msg.Flags, ID: msg.ID, LTime: msg.LTime, Name: msg.Name,
          Payload: msg.Payload, Port: msg.Port, RelayFactor: msg.RelayFactor, SourceNode: msg.SourceNode, Timeout: msg.Timeout,
        })
        .finish()
    case SERF_MSG.queryResponse:
      return w.struct({ Flags: msg.Flags, From: msg.From, ID: msg.ID, LTime: msg.LTime, Payload: msg.Payload }).finish()
    case SERF_MSG.relay:
      return w
        .struct({ DestAddr: { IP: msg.DestAddr, Port: msg.DestPort, Zone: msg.DestZone }, DestName: msg.DestName })
        .raw(msg.Inner)
        .finish()
    case SERF_MSG.conflictResponse:
    case SERF_MSG.keyRequest:
    case SERF_MSG.keyResponse:
      return w.raw(msg.Body).finish()
    case SERF_MSG.meshDirect:
      return w.raw(msg.Payload).finish()
  }
}

function filters(m: GoStruct): Uint8Array[] | null {
  const arr = getArrayOrNull(m, 'Filters')
  if (arr === null) return null
  return arr.map((f) => {
    if (f === null) return new Uint8Array(0)
    if (f instanceof Uint8Array) return f
    throw new GossipDecodeError('msgpack: field Filters: expected a list of bytes')
  })
}

function decodeBody(type: number, m: GoStruct, buf: Uint8Array, end: number): SerfMessage {
  switch (type) {
    case SERF_MSG.join:
      return { type, LTime: getU64(m, 'LTime'), Node: getStr(m, 'Node') }
    case SERF_MSG.leave:
      return { type, LTime: getU64(m, 'LTime'), Node: getStr(m, 'Node'), Prune: getBool(m, 'Prune') }
    case SERF_MSG.userEvent:
      return { type, LTime: getU64(m, 'LTime'), Name: getStr(m, 'Name'), Payload: getBytes(m, 'Payload'), CC: getBool(m, 'CC') }
    case SERF_MSG.query:
      return {
        type, LTime: getU64(m, 'LTime'), ID: getUint(m, 'ID', U32), Addr: getBytes(m, 'Addr'), Port: getUint(m, 'Port', U16),
        SourceNode: getStr(m, 'SourceNode'), Filters: filters(m), Flags: getUint(m, 'Flags', U32),
        RelayFactor: getUint(m, 'RelayFactor', 0xff), Timeout: getInt(m, 'Timeout', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
        Name: getStr(m, 'Name'), Payload: getBytes(m, 'Payload'),
      }
    case SERF_MSG.queryResponse:
      return { type, LTime: getU64(m, 'LTime'), ID: getUint(m, 'ID', U32), From: getStr(m, 'From'), Flags: getUint(m, 'Flags', U32), Payload: getBytesOrNull(m, 'Payload') }
    case SERF_MSG.relay: {
      const dest = getMap(m, 'DestAddr')
      const Inner = buf.slice(end)
      if (Inner.length === 0) throw new GossipDecodeError('relay carries no message')
      return { type, DestAddr: getBytes(dest, 'IP'), DestPort: getUint(dest, 'Port', U16), DestZone: getStr(dest, 'Zone'), DestName: getStr(m, 'DestName'), Inner }
    }
  }
  throw new GossipDecodeError(`Received message of unknown type: ${type}`)
}

/** Decode the payload of a memberlist user message from serf (`serfType | msgpack`). Throws GossipDecodeError. */
export function decodeSerfMessage(payload: Uint8Array): SerfMessage {
  if (payload.length === 0) throw new GossipDecodeError('serf message is empty')
  const type = payload[0] as number
  switch (type) {
    case SERF_MSG.meshDirect:
      return { type, Payload: payload.slice(1) }
    case SERF_MSG.conflictResponse:
    case SERF_MSG.keyRequest:
    case SERF_MSG.keyResponse:
      return { type, Body: payload.slice(1) }
    case SERF_MSG.pushPull:
      throw new GossipDecodeError('serf push/pull state is not a gossip message')
  }
  if (type > SERF_MSG.relay) throw new GossipDecodeError(`Received message of unknown type: ${type}`)
  try {
    const { value, offset } = decodeGo(payload, 1)
    return decodeBody(type, asStruct(value, NAMES[type] ?? ''), payload, offset)
  } catch (err) {
    if (!(err instanceof GossipDecodeError)) throw err
    throw new GossipDecodeError(`failed to decode serf ${NAMES[type]} message: ${err.message}`, { cause: err })
  }
}

function sortedEntries(r: Record<string, number>): [string, number][] {
  return Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Encode our push/pull user state compactly: `02 | msgpack` (Events only as given, may be empty). */
export function encodeSerfPushPull(pp: SerfPushPull): Uint8Array {
  return new MsgpackWriter()
    .byte(SERF_MSG.pushPull)
    .struct({
      EventLTime: pp.EventLTime,
      Events: pp.Events.map((e) => ({ Events: e.Events.map((x) => ({ Name: x.Name, Payload: x.Payload })), LTime: e.LTime })),
      LTime: pp.LTime,
      LeftMembers: pp.LeftMembers,
      QueryLTime: pp.QueryLTime,
      StatusLTimes: new Map(sortedEntries(pp.StatusLTimes)),
    })
    .finish()
}

function strList(v: GoValue[] | null, what: string): string[] {
  return (v ?? []).map((x) => {
    if (x === null) return ''
    if (x instanceof Uint8Array && !isBin(x)) return utf8(x)
    throw new GossipDecodeError(`${what}: expected a list of strings`)
  })
}

/** Decode serf's push/pull user state (`02 | msgpack`); nil event slots are dropped. Throws GossipDecodeError. */
export function decodeSerfPushPull(buf: Uint8Array): SerfPushPull {
  if (buf.length === 0) throw new GossipDecodeError('Remote state is zero bytes')
  if (buf[0] !== SERF_MSG.pushPull) throw new GossipDecodeError(`Remote state has bad type prefix: ${buf[0]}`)
  try {
    const m = asStruct(decodeGo(buf, 1).value, 'push/pull state')
    const status = getMap(m, 'StatusLTimes')
    const StatusLTimes: Record<string, number> = Object.create(null) as Record<string, number>
    for (const k of status.keys()) StatusLTimes[k] = getU64(status, k)
    const Events: SerfUserEvents[] = []
    for (const slot of getArrayOrNull(m, 'Events') ?? []) {
      if (slot === null) continue
      const s = asStruct(slot, 'event slot')
      const list = (getArrayOrNull(s, 'Events') ?? []).map((e) => {
        const ev = asStruct(e, 'event')
        return { Name: getStr(ev, 'Name'), Payload: getBytes(ev, 'Payload') }
      })
      Events.push({ LTime: getU64(s, 'LTime'), Events: list })
    }
    return {
      LTime: getU64(m, 'LTime'), StatusLTimes, LeftMembers: strList(getArrayOrNull(m, 'LeftMembers'), 'LeftMembers'),
      EventLTime: getU64(m, 'EventLTime'), Events, QueryLTime: getU64(m, 'QueryLTime'),
    }
  } catch (err) {
    if (!(err instanceof GossipDecodeError)) throw err
    throw new GossipDecodeError(`failed to decode serf push/pull state: ${err.message}`, { cause: err })
  }
}

/** Encode tags as serf metadata: `ff` + msgpack map, keys sorted for determinism. May exceed 512 B: callers check. */
export function encodeTags(tags: Readonly<Record<string, string>>): Uint8Array {
  const sorted = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return new MsgpackWriter().byte(TAG_MAGIC).value(new Map(sorted)).finish()
}

/**
 * Decode serf metadata into tags. Empty or non-`ff` metadata is a legacy role: `{ role: <text> }`. Throws
 * GossipDecodeError if over 512 bytes or not a map of strings.
 */
export function decodeTags(meta: Uint8Array): Record<string, string> {
  if (meta.length > META_MAX_BYTES) throw new GossipDecodeError(`metadata is ${meta.length} bytes, max ${META_MAX_BYTES}`)
  const tags: Record<string, string> = Object.create(null) as Record<string, string>
  if (meta.length === 0 || meta[0] !== TAG_MAGIC) {
    tags.role = utf8(meta)
    return tags
  }
  try {
    const m = asStruct(decodeGo(meta, 1).value, 'tags')
    for (const k of m.keys()) tags[k] = getStr(m, k)
    return tags
  } catch (err) {
    if (!(err instanceof GossipDecodeError)) throw err
    throw new GossipDecodeError(`failed to decode tags: ${err.message}`, { cause: err })
  }
}
