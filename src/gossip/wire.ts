/**
 * memberlist wire constants and message shapes (memberlist 0.2.2 as built into Debian's serf 0.9.4).
 *
 * ONLY APPEND TO THESE LISTS: the numeric values are part of the protocol itself.
 * Facts and captured vectors: ../shared/spec/memberlist-wire.md. Field names below are the exact Go field names
 * that go-msgpack writes as map keys; byte fields (`Addr`, `Meta`, `Vsn`, `Payload`, …) are Uint8Array.
 */

/** memberlist message types: the first byte of a packet or stream. */
export const MSG = {
  ping: 0,
  indirectPing: 1,
  ack: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nack: 11,
  hasCrc: 12,
  err: 13,
} as const
export type MsgType = (typeof MSG)[keyof typeof MSG]

/** Member states as carried in push/pull node states. */
export const STATE = { alive: 0, suspect: 1, dead: 2, left: 3 } as const
export type StateNum = (typeof STATE)[keyof typeof STATE]

/** Compression algorithm ids inside a compress message. Only LZW exists. */
export const COMPRESS_LZW = 0

/** Encryption blob versions: 0 = PKCS#7 padded (legacy), 1 = unpadded (what serf sends). */
export const ENCRYPT_VSN_PADDED = 0
export const ENCRYPT_VSN_PLAIN = 1

/** Protocol range we speak: memberlist 1..5 (current 2, as serf), serf delegate 2..5 (current 5). */
export const VSN: readonly number[] = [1, 5, 2, 2, 5, 5]

/** Max bytes of node metadata (memberlist MetaMaxSize). */
export const META_MAX_BYTES = 512

/** Largest encrypted stream blob we accept (memberlist: 20 MiB). */
export const MAX_STREAM_BLOB_BYTES = 20 * 1024 * 1024

export interface Ping {
  type: typeof MSG.ping
  SeqNo: number
  /** Target node name; "" means any. */
  Node: string
  SourceAddr?: Uint8Array
  SourcePort?: number
  SourceNode?: string
}

export interface IndirectPing {
  type: typeof MSG.indirectPing
  SeqNo: number
  Target: Uint8Array
  Port: number
  Node: string
  Nack: boolean
  SourceAddr?: Uint8Array
  SourcePort?: number
  SourceNode?: string
}

export interface Ack {
  type: typeof MSG.ack
  SeqNo: number
  Payload: Uint8Array | null
}

export interface Nack {
  type: typeof MSG.nack
  SeqNo: number
}

export interface Suspect {
  type: typeof MSG.suspect
  Incarnation: number
  Node: string
  From: string
}

export interface Dead {
  type: typeof MSG.dead
  Incarnation: number
  Node: string
  /** From === Node means a graceful leave. */
  From: string
}

export interface Alive {
  type: typeof MSG.alive
  Incarnation: number
  Node: string
  Addr: Uint8Array
  Port: number
  Meta: Uint8Array
  /** Exactly 6 bytes: pmin, pmax, pcur, dmin, dmax, dcur. */
  Vsn: Uint8Array
}

/** A user message: opaque delegate bytes (serf puts its own type byte first). */
export interface User {
  type: typeof MSG.user
  Payload: Uint8Array
}

/** An error reply on a stream. */
export interface ErrResp {
  type: typeof MSG.err
  Error: string
}

/** One member in a push/pull exchange. */
export interface PushNodeState {
  Name: string
  Addr: Uint8Array
  Port: number
  Meta: Uint8Array
  Incarnation: number
  State: StateNum
  Vsn: Uint8Array
}

export interface PushPull {
  type: typeof MSG.pushPull
  Join: boolean
  Nodes: PushNodeState[]
  /** The delegate's opaque state (serf's push/pull user state), sent raw after the node states. */
  UserState: Uint8Array
}

/** Messages that travel in UDP packets (possibly inside compound / compress / CRC wrappers). */
export type PacketMessage = Ping | IndirectPing | Ack | Nack | Suspect | Alive | Dead | User

/** Messages that travel as the single request or reply of a TCP stream. */
export type StreamMessage = Ping | Ack | PushPull | User | ErrResp

export type Message = PacketMessage | PushPull | ErrResp
