/**
 * src/manager — the cluster manager: the one writer of desired state (nodes, services, tasks) and its HTTP API.
 *
 * What it does. `Manager` turns requests (create/update/scale/rollback/remove a service, update/remove a node, an
 * agent's join, overlay registration and task reports, gossip's node up/down) into one store transaction each, validated first so a
 * refused request changes nothing. After every committed change, and whenever the orchestrator asked to be woken
 * (restart delays, node-down grace, rolling-update pacing), it runs the pure decision core — orchestrator.ts
 * (which tasks should exist), scheduler.ts (where they run), update.ts (rolling updates), speaking the plan types
 * of plan.ts — and commits the plan. It builds the catalog (build-catalog.ts) agents' data planes read, keeps the
 * cluster's event log (events.ts) and brokers `service logs` between the CLI and the agents (logs.ts). At create
 * and update it pins a tagged image to its digest (image-resolve.ts) through an injected `ResolveImage` port,
 * before the transaction; a failed resolution stores the tag and answers Docker's warning.
 * `createApp`/`listen` (http/) serve the API, TLS 1.3 with client certificates on TCP (auth.ts, tls.ts; the CA is
 * cluster-ca.ts): the cluster API for the CLI (an admin client certificate, or the unix socket), /v1/agent/* for
 * agents (their node certificate: join with a token and a CSR, renewal, overlay registration, status reports, the
 * NDJSON watch stream of assignments, catalog, overlay peers and CA roots, log uploads), and the observability
 * routes (events, dashboard, /metrics: an admin caller or a dashboard session from a one-time login code,
 * sessions.ts; loopback is not trusted).
 *
 * Secrets and configs (secret-objects.ts, http/secrets-api.ts) are named objects in the store; a secret's value and
 * every service's registry credentials (registry-auth.ts) are sealed by the SecretVault (vault/): AES-256-GCM under a
 * data key that the store keeps only wrapped by the key-encryption key in `<data-dir>/vault/kek` (autolock: that key
 * sealed by an unlock key, and the API locked after a restart until `POST /v1/unlock`, http/vault-api.ts).
 * `SecretVault.open(record)` is the one way to a secret's plain value (the watch stream's delivery).
 *
 * High availability (issue 15): etcd/ runs the manager's own etcd member (a supervised child process with the
 * cluster CA's certificates, member add/remove) and elects one leader on an etcd lease; the `Leadership` role
 * (leadership.ts; `AlwaysLeader` for a single manager on SQLite) gates the Manager's leader-only duties (the
 * reconcile loop, node state from gossip, gossip key rotations, the event history's writes). On etcd the agent
 * builds both with `managerLeadership({client, nodeId, tls})` and passes them as ManagerOptions.leadership and
 * .managerProbe (the managers' health: MANAGER STATUS, the no-quorum line, stale reads; manager-status.ts).
 *
 * Who calls it. agent/agent.ts on manager nodes: opens the store (`openSqliteStore`, or an `EtcdStore` on an external
 * etcd with `--store etcd://…`: etcd-store/), builds the Manager with its
 * collaborators (store, clock, log), starts it, registers its own node (`registerSelf`), serves `createApp` on TCP and on manager.sock with the agent's
 * metrics registry and node-facts source, and feeds gossip's member events to `setNodeState`. src/stack uses the
 * spec validator and constraint parser. Agents and the CLI reach the manager over HTTP only.
 *
 * Invariants.
 * - All state lives in the `Store` (store.ts), behind the Manager: reads are synchronous on the store's committed
 *   view; writes are `await manager.xxx(...)` and each is one `transact(fn)` whose `fn` may run more than once.
 * - The HTTP layer (http/) calls Manager methods only; it never touches the store.
 * - Timers go through the injected `Clock` (tests drive the reconcile loop with a fake clock); record timestamps
 *   come from the injected wall-clock `now`.
 * - Collaborators (store, clock, log broker, event log, metrics registry, node facts) come in through constructors
 *   and options; there are no module-level registries.
 * - Join identity (node-identity.ts): every join over the API is a new node with the token's role; a hostname that
 *   is a member is refused until `mesh node rm`. The manager's own node registers in-process (`registerSelf`,
 *   which agent/ calls at every manager start and no HTTP route reaches) and keeps its id across restarts.
 * - Overlay membership (overlay-registry.ts): a node registers only its own WireGuard key and subnet (one of the
 *   pool's, held by no other node that is not removed); agents make peers and routes only of the registered list.
 *
 * Never. The manager never talks to Docker, a registry, WireGuard, nftables or gossip itself (the agent wires those), and no
 * data-plane folder (gossip, overlay, runtime, catalog, ingress, dns) imports it.
 */
export { Manager, newClusterId, newId, type CertificateNames, type JoinResult, type ManagerOptions } from './manager.ts'
export { ClusterAuthority, type AdminClient, type CaStatus, type CaTrust } from './cluster-ca.ts'
export { serverTlsOptions, type ServerTls } from './http/tls.ts'
export { authenticate, type Caller } from './http/auth.ts'
export { createApp, listen, type ApiOptions } from './http/api.ts'
export { createDockerApp, DOCKER_API_VERSION } from './dockerapi/index.ts'
export { clusterView, SESSION_COOKIE, sessionCookie, type ClusterView, type NodeFacts, type NodeFactsSource } from './http/observe-api.ts'
export { RequestError } from './http/request-error.ts'
export { NoSuitableNodeError, RollbackError } from './errors.ts'
export { RequestRefusedError, type RefusalCode } from './request-refused.ts'
export { NoQuorumError, StoreCompactedError, StoreConflictError, StoreError } from './store-errors.ts'
export type { Store, StoreEvent, StoreReader, StoreTx, TaskFilter, Unsubscribe } from './store.ts'
export { OBJECT_KINDS } from './store.ts'
export type { EtcdStore, EtcdStoreOptions, EtcdStoreUrl, EtcdTlsPaths } from './etcd-store/index.ts'
export { BackupError, decodeBackup, restoreEtcd, restoreManager, restoreSqlite, type Backup, type BackupHeader, type RestoreRequest, type RestoreResult } from './backup/index.ts'
export {
  FreezableStore, frozenCopy, MOVE_DONE_FILE, MOVE_PENDING_FILE, MOVE_STEPS, loadIntoEtcd, moveRecovery, movedDbName, takeMoveSnapshot, type MoveStep,
} from './backup/index.ts'
/** The etcd store (etcd-store/), loaded on first use: its gRPC client costs ~0.2 s to load and SQLite needs none of it. */
export function loadEtcdStore(): Promise<typeof import('./etcd-store/index.ts')> {
  return import('./etcd-store/index.ts')
}
export { MANAGER_DB_FILE, SqliteStore, managerDbPath, openSqliteStore, type SqliteStoreOptions } from './sqlite-store.ts'
export { EventLog, EventQueryError, matchesFilter, parseEventFilters, parseSince, type ClusterEvent, type EventFilter } from './events.ts'
export { DashboardSessions, type LoginCode, type SecretBytes, type SessionsOptions } from './sessions.ts'
export { LogBroker, taskName, type LogLine, type LogMessage, type LogRequest } from './logs.ts'
export { registerManagerMetrics, setStateCounts, type ManagerMetricsSource } from './metrics.ts'
export { buildCatalog } from './build-catalog.ts'
export { EPOCH_META_KEY, ensureEpoch, newEpoch, randomEpoch, storeEpoch } from './epoch.ts'
export { taskSpecDiffers } from './update.ts'
export { digestWarning, type ImageResolution, type ResolveImage, type ResolveMode, type ServiceAnswer } from './image-resolve.ts'
export type { Plan, PlanEvent } from './plan.ts'
export { SecretVault, DATA_KEY_META, UNLOCK_KEY_META, type SecretVaultOptions, type VaultState } from './vault/vault.ts'
export { KekFile, MemoryKeyFile, vaultDir, type KekContent, type KeyFile } from './vault/key-file.ts'
export { VaultError, ManagerLockedError } from './vault/errors.ts'
export { SecretObjects, secretView, servicesUsing } from './secret-objects.ts'
export { AlwaysLeader, type Leadership, type ManagerHealth, type ManagerProbe } from './leadership.ts'
export { hostPort, managerStatusOf, mayBeStale, noQuorumLine, quorumCounts } from './manager-status.ts'
export { checkNotLastManager, MOVING_LINE, quorumRefusal, singleManagerRefusal, type EtcdMemberGrant, type ManagerMembers, type MemberHealth, type StoreMove } from './manager-members.ts'
export {
  addMember, defaultEtcdTiming, etcdClient, EtcdManagerHealth, EtcdMember, EtcdMemberError, issueMemberTls, LeaderElection, managerLeadership, memberConfig, memberTlsFiles,
  listMembers, MemberCertKeeper, memberHealth, MEMBER_CERT_NAME, removeMember, stopOrphan, waitReady, writeMemberTls,
  type EtcdTiming, type InitialMember, type ManagerLeadership, type ManagerLeadershipOptions, type MemberConfig, type MemberTls, type StartMode,
} from './etcd/index.ts'
