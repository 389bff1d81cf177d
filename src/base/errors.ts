/**
 * Named errors shared by every subsystem. Each class has a stable `code` (listed in docs/errors.md) and a message
 * that names the subject and, when known, the fix. The CLI prints `mesh: <message>` on one line and exits 1.
 */
export class MeshError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** A configuration value, flag or environment variable is invalid. */
export class ConfigError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CONFIG', message, options)
  }
}

/** Bytes from the network could not be decoded. Never thrown for anything but hostile or broken input. */
export class GossipDecodeError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    // Hostile input makes these by the thousand; a stack trace would cost more than the decode (≈ 48 µs each).
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super('MESH_ERR_GOSSIP_DECODE', message, options)
    Error.stackTraceLimit = limit
  }
}

/** A packet or stream could not be decrypted with any key of the keyring. */
export class GossipDecryptError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_GOSSIP_DECRYPT', message, options)
  }
}

/** Joining a cluster failed: no seed answered, or every push/pull was refused. */
export class GossipJoinError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_GOSSIP_JOIN', message, options)
  }
}

/** The local agent's control socket could not be reached or answered with an error. */
export class ControlError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CONTROL', message, options)
  }
}
