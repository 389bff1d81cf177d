/**
 * src/ingress — the ingress routing mesh data plane: every published port (mode ingress) answers on every node and
 * spreads connections over the service's serving endpoints, wherever they run.
 *
 * What it does: the `Ingress` controller reads the catalog (CatalogView) and keeps one listener per published
 * port: TCP (tcp-proxy.ts: net, backpressure, half-close, idle timeout, connection limit, PROXY protocol v1/v2)
 * and UDP (udp-proxy.ts: per-client flow table with idle expiry and least-recently-used eviction). Admission limits
 * (limits.ts) guard the accept path: a process-wide fd budget shared by every port and a per-source cap per port. A pure balancer per port (balancer.ts) picks
 * endpoints round-robin (or least-connections) among running, healthy, non-ejected ones; a failed connect ejects
 * the endpoint with exponential backoff and the client's connection is retried on the next endpoint. Stopping
 * endpoints take no new connections; their open ones are closed after the service's stop grace period.
 * The controller holds one `PortProxy` per port (TcpProxy, RawTcpProxy or UdpProxy: port-proxy.ts) and asks a
 * `HealthChecker` (health-check.ts; TcpHealthChecker by default) for active checks, run by a Prober (prober.ts) on a
 * pure schedule (probe-policy.ts: each remote node every 250 ms, each endpoint every 500 ms within a budget of 500 probes/s; on
 * by default in nft mode, where the kernel cannot retry a connect). A down node's endpoints and this node's tasks its
 * runtime reported gone leave the kernel rules at once (ingress-health.ts). `--ingress-mode auto` (the agent's
 * default) picks nft where kernel-path.ts finds it usable (root, nft answers), userspace otherwise.
 * In `nft` mode a pure generator (nft-rules.ts) writes table `ip mesh-ingress` (DNAT numgen per published port and
 * per service VIP; one chain per target behind verdict maps), applied by NftApplier as a delta of chains and set
 * elements (nft-table.ts; the whole table first and after an error); active checks update it at once, and the kernel's
 * per-endpoint counters feed status() (nft-counters.ts); userspace listeners stay up as the
 * fallback (loopback clients, ports without serving endpoints). Service VIP rules (`ip daddr <vip>` on every tcp
 * and udp port → DNAT to a serving endpoint at the same port, or a refusal when there is none; vip-rules.ts) are
 * written in both modes: they are how a container's `wget http://web/` or `db:5432` load-balances. The ingress owns them (not the overlay, DNS or manager): see docs/ingress.md, "Who owns what".
 *
 * Who calls it: agent/ (start after the catalog, stop before it), `mesh status` (status()), the metrics endpoint
 * (registerMetrics). Invariants: never more than one socket's high-water mark + one chunk buffered per direction;
 * never a new connection to an endpoint that is stopping, unhealthy or ejected (unless every one is ejected).
 * Never: touch nftables table `inet mesh` (the overlay's) or any rule it did not write; log per packet or chunk.
 * See docs/ingress.md.
 */
export { Ingress, type IngressLimits, type IngressLog, type IngressOptions } from './ingress.ts'
export type { PortProxy } from './port-proxy.ts'
export { applyProbe, type ActiveCheckOptions, type HealthChecker, type HealthTarget, type ProbeOutcome } from './health-check.ts'
export { TcpHealthChecker } from './tcp-health-checker.ts'
export { ProbeSchedule, type EndpointTarget, type NodeChange, type NodeTarget, type Probe, type ProbePolicyOptions } from './probe-policy.ts'
export { Prober, createProber, tickMs } from './prober.ts'
export { kernelPathUnusable } from './kernel-path.ts'
export { Balancer, isServing, type Backend, type BalancePolicy, type BalancerOptions } from './balancer.ts'
export { IngressError } from './errors.ts'
export { NftApplier, execCommand, nftExec, type Exec, type NftApplied } from './nft.ts'
export { renderDelta, renderFull, type NftSetDef, type NftTable, type NftTarget } from './nft-table.ts'
export { CounterTotals, endpointTraffic, parseCounterSet, trafficKey, type EndpointTraffic, type TrafficByEndpoint } from './nft-counters.ts'
export { MARK_DNAT, MARK_INGRESS, NFT_INGRESS_TABLE } from './nft-marks.ts'
export { nftIngressRuleset, nftTable, planNft, type NetworkBridge, type NftPlan, type NftPortRule, type NftRulesOptions } from './nft-rules.ts'
export { planVipServices, planVips, vipRule, vipServiceRule, type NftVipRule, type NftVipService, type ServingFilter } from './vip-rules.ts'
export { PP2_SIGNATURE, proxyV1, proxyV2, type ProxiedAddress } from './proxy-protocol.ts'
export { vipStatus, type EndpointStatus, type PortStatus, type VipStatus } from './status.ts'
