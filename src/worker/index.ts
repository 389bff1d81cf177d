/**
 * src/worker — a node's link to its manager (swarmkit's agent ↔ dispatcher session, reduced to three calls).
 *
 * What it does: joins the cluster once with a join token and keeps the identity the manager issues in
 * `<data-dir>/node.json` (0600; a later start reads it instead of joining again); holds the manager's push stream
 * (`GET /v1/agent/watch`, NDJSON `WatchMessage`s: task assignments, the catalog, log requests) open, reconnecting
 * with capped exponential backoff (250 ms doubling, at most 5 s); sends task reports back in batches (50 ms
 * window, latest report per task wins, a batch the manager did not take is retried after 1 s); registers the
 * node's overlay key and subnet (PUT /v1/agent/overlay) and hands on the registered list (`{peers}`); opens the
 * authenticated uploads the runtime's log shipper writes to; hands the cluster's gossip keyring (join reply, watch
 * stream) to the agent and acknowledges each version applied (gossip-keys.ts keeps it in `<data-dir>/gossip-keys.json`).
 *
 * Who calls it: agent/ builds one `WorkerLink` per process (workers join with a token; a manager node uses the
 * identity it issued itself) and wires its callbacks to the task runner, the data plane and the log shipper.
 *
 * Invariants: all timing goes through the injected `Clock` and all network through the injected
 * `ManagerTransport` (`HttpManagerTransport` is the real one), so tests run it on virtual time against a fake
 * manager. A bad line on the stream is logged and skipped, never fatal.
 *
 * Failover: the link's transport is a FailoverTransport over every manager this node knows — the `{managers}` list
 * the watch stream pushes (checked here, kept in `<data-dir>/managers.json`, 0644) — so a call or stream that gets
 * no answer goes to the next manager in order (failover-transport.ts; the order itself is src/api failover.ts).
 * The same list carries this node's role: its id in it (or gone from it) is a promote (or demote) at runtime; the
 * link records it in node.json, renews its certificate for the new role and tells the agent (`onRole`).
 *
 * Also: the traffic reporter (traffic-reporter.ts) sends the node's ingress and tunnel counters every 2 s
 * (`POST /v1/agent/traffic`) for the dashboard's live traffic.
 *
 * Must never: import the manager (it speaks the wire shapes of src/api only), or decide anything about tasks.
 */
export { WorkerLink, watchBackoffMs, OVERLAY_REFUSED_RETRY_MS, STATUS_BATCH_MS, STATUS_RETRY_MS, type WorkerLinkOptions } from './link.ts'
export { HttpManagerTransport } from './http-transport.ts'
export { FailoverTransport, type FailoverTransportOptions, type ManagerEndpoint } from './failover-transport.ts'
export { MANAGERS_FILE, managerAddress, managerList, managerListProblem, managersPath, readSavedManagers, saveManagers, seedManagers, splitManagerAddress } from './managers.ts'
export { TrafficReporter, trafficReport, type TrafficReporterOptions } from './traffic-reporter.ts'
export { NODE_FILE, hasIdentity, identityPath, readIdentity, savedManager, writeIdentity, type Identity } from './identity.ts'
export { CertificateKeeper, RENEW_RETRY_MS } from './certificates.ts'
export { TLS_DIR, readNodeTls, tlsDir, writeNodeTls, type NodeTls } from './tls-files.ts'
export type { RenewReply } from './transport.ts'
export { GOSSIP_KEYS_FILE, applyClusterKeys, chooseGossipKeys, gossipKeyringProblem, gossipKeysPath, keyringBytes, readSavedGossipKeys, saveGossipKeys, type GossipKeySource, type KeyringTarget } from './gossip-keys.ts'
export type { JoinReply, JoinRequest, ManagerReply, ManagerTransport, StatusUpdate, WatchHandlers, WatchStream } from './transport.ts'
