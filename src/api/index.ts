/**
 * src/api — mesh's shared vocabulary: what every other folder means by a node, a service, a task, a port, a mount,
 * a catalog snapshot; how a service spec is parsed from CLI/compose words and defaulted; the ONE validation a spec
 * passes wherever it enters (API, CLI, stack loader); the messages on the watch stream and the control socket; and
 * the JSON/NDJSON client the CLI, the worker link and the control socket speak HTTP with.
 *
 * Who calls it: everyone. It depends only on src/base (and Node), never on a subsystem.
 * Invariants: types here are the wire shapes; adding a field is fine, renaming one is a protocol change.
 */
export * from './types.ts'
export * from './catalog.ts'
export * from './spec.ts'
export * from './errors.ts'
export * from './constraints.ts'
export * from './validate.ts'
export { HOSTNAME_PLACEHOLDERS, hostnameProblem } from './validate-container.ts'
export { splitWords } from './words.ts'
export * from './mode.ts'
export * from './task-spec.ts'
export * from './convergence.ts'
export * from './image-ref.ts'
export * from './events.ts'
export * from './http.ts'
export * from './client.ts'
export * from './tls.ts'
export * from './status.ts'
export * from './control.ts'
export * from './watch.ts'
export * from './secrets.ts'
export * from './file-refs.ts'
export * from './secret-request.ts'
export * from './unlock.ts'
export * from './docker-network.ts'
export * from './network.ts'
export * from './network-spec.ts'
export * from './host-url.ts'
export * from './failover.ts'
export { CommandConn, CommandConnError, lastErrorLine } from './command-conn.ts'
