/**
 * src/dns — service discovery DNS: containers resolve service names to VIPs or task addresses, everything else is
 * forwarded to the host's resolvers.
 *
 * What it does: `DnsServer` answers on UDP and TCP on each listen address (the agent binds the node's overlay
 * gateway 10.77.X.1:53 and a host-local address). Names come from the catalog (`CatalogView`): `<service>`,
 * `<service>.<stack>`, `<short>.<stack>`, `<service>.<domain>` → VIP (endpoint mode vip) or the healthy task IPs
 * (dnsrr, rotated per query); `tasks.<service>` → healthy task IPs; task names (`<service>.<slot>`) → that task;
 * SRV `_<port>._tcp|_udp.<service>`; PTR for task addresses and VIPs; a short name asked from a task of stack S is
 * S's service. The answers are built once per catalog snapshot (zone.ts: pre-encoded records) and copied into each
 * response with the id patched and the start rotated; the question is parsed by hand (wire.ts). Names that are not
 * ours are forwarded (forward.ts) for allowed sources only; others get REFUSED. UDP is read and answered in batches
 * (recvmmsg/sendmmsg, native/udpmmsg.c through udp.ts) when the addon is built, else through node:dgram; the
 * answers are the same bytes. Opt-in `workers` > 1 adds reusePort worker threads (workers.ts), each a UDP-only
 * responder fed the catalog by message. Details: docs/dns.md.
 *
 * Who calls it: agent/ (start/stop with the catalog), `mesh dns lookup NAME` through `lookup()`.
 * Invariants: a catalog change is visible in the very next answer (the zone follows the snapshot object; worker
 * threads' answers after the message hop); answers
 * are authoritative (AA) with TTL `ttlSec`; NXDOMAIN only inside the domain and our reverse ranges, NODATA for names
 * that exist without records of the asked type; a UDP answer never exceeds 512 bytes or the client's EDNS0 size.
 * Never: recurse for sources outside `allowCidrs`; throw or crash on hostile packets; hold unbounded state per client
 * (in-flight forwards, TCP connections and per-connection buffers are capped).
 */
export { DnsServer, type DnsServerOptions, type DnsStatus, type Log } from './server.ts'
export { lookup, type LookupOptions, type LookupResult, type LookupRecord } from './lookup.ts'
export { loadUdpAddon, UDP_MODES, type UdpMode } from './udp.ts'
export { DNS_DEFAULTS, dnsConfig, parseResolvConf, type DnsOptions, type DnsConfig, type ListenAddress } from './options.ts'
export { Responder, FORWARD } from './answer.ts'
export { buildZone, type Zone } from './zone.ts'
export { DnsError } from './errors.ts'
export { tcpQuery } from './tcp-client.ts'
