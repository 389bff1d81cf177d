/**
 * A manager's own etcd member, and leader election among managers (issue 15, manager high availability).
 *
 * What it does. Every manager runs `etcd` 3.4 as a child of its agent (member.ts supervises it: restart with
 * backoff, stop by PID, stderr in a bounded ring). flags.ts is the pure core that turns a MemberConfig and a start
 * mode (init a one-member cluster, join one another manager added the member to, restart from the data dir) into
 * etcd's command line. Client and peer traffic are mutual TLS with certificates of the cluster CA (tls.ts: CN = the
 * node id, IP SANs = the node's address and 127.0.0.1, server + client usage, keys 0600 under `<data-dir>/etcd-tls`);
 * orphan.ts stops an etcd a killed agent left running on the data dir.
 * membership.ts adds and removes members over an etcd client (client.ts). leader.ts elects one manager on an etcd
 * lease (election-core.ts has the rules); the manager reads it through the Leadership role (../leadership.ts).
 * manager-health.ts probes the managers in the background (member list, each member's status, one linearizable
 * read) for MANAGER STATUS and the no-quorum line; managerLeadership (manager-leadership.ts) builds both for the agent.
 *
 * Who calls it. The agent's wiring (it owns the process and the data dir) and the manager (membership on promote,
 * demote and node rm; leadership for the orchestrator and scheduler).
 *
 * Invariants. etcd's data dir is `<data-dir>/etcd`, mode 0700; the member's name is the node id; no flag, log line
 * or error carries key material; a leader steps down before its lease can expire (so two managers never lead at
 * once); a stopped member leaves no process behind.
 *
 * Must never: talk to etcd without the cluster's certificates, kill a process it did not start, or touch the
 * store's keys (src/manager/etcd-store owns them; the election uses its own prefix).
 */
export { etcdClient, waitReady } from './client.ts'
export {
  clientUrls,
  defaultEtcdTiming,
  MEMBER_CERT_NAME,
  type EtcdTiming,
  type MemberConfig,
  memberConfig,
  type MemberOptions,
  peerUrl,
} from './config.ts'
export { type Candidate, type ElectionTiming, electionTiming, ElectionState, leaderOf } from './election-core.ts'
export { EtcdMemberError } from './errors.ts'
export { effectiveMode, formatInitialCluster, type InitialMember, memberArgs, restartDelayMs, type StartMode } from './flags.ts'
export { LeaderElection, type LeaderElectionOptions } from './leader.ts'
export { LogRing } from './log-ring.ts'
export { stopOrphan } from './orphan.ts'
export { EtcdMember, type EtcdMemberOptions, type MemberEvent } from './member.ts'
export { addMember, initialCluster, listMembers, memberHealth, type MemberInfo, removeMember } from './membership.ts'
export { MEMBER_RENEW_RETRY_MS, type MemberCertAuthority, MemberCertKeeper, type MemberCertKeeperOptions } from './member-certs.ts'
export { issueMemberTls, type MemberCertIssuer, type MemberTls, type MemberTlsFiles, memberTlsFiles, writeMemberTls } from './tls.ts'
export { EtcdManagerHealth, type ManagerHealthOptions } from './manager-health.ts'
export { type ManagerLeadership, managerLeadership, type ManagerLeadershipOptions } from './manager-leadership.ts'
