/**
 * Overlay (WireGuard container network) settings. Each node holds one subnet of `range`, runs a WireGuard
 * interface with a peer per other node, and a Docker bridge network on its subnet.
 */
import { DEFAULT_BRIDGE_NAME, DEFAULT_DOCKER_SOCKET, DEFAULT_OVERLAY_RANGE, DEFAULT_SUBNET_PREFIX, DEFAULT_WG_PORT } from './defaults.ts'

export interface OverlayConfig {
  /** on: required (start fails without Docker/WireGuard); off: gossip only; auto: on when a Docker engine answers. Default auto. */
  mode: 'auto' | 'on' | 'off'
  /** The cluster's overlay range. Default 10.77.0.0/16. */
  range: string
  /** Prefix length of each node's subnet. Default 24 (256 nodes of 253 containers). */
  subnetPrefix: number
  /** WireGuard UDP port. Default 51820. */
  wgPort: number
  /** WireGuard interface name. Default mesh0. */
  ifname: string
  /** Docker network name. Default mesh. */
  network: string
  /** Linux bridge name of the Docker network. Default mesh-br. */
  bridgeName: string
  /** Overlay MTU; 0 = underlay MTU − 80 (1420 on a 1500 underlay). */
  mtu: number
  /** WireGuard persistent keepalive, seconds; 0 = off. Default 25 (keeps NAT mappings open). */
  keepaliveS: number
  /** A subnet claim must stand unchallenged this long before it is used, ms. Default 3000. */
  settleMs: number
  /** Docker engine socket. Default /var/run/docker.sock. */
  dockerSocket: string
  /** Directory of wireguard-go's UAPI sockets. Default /var/run/wireguard. */
  wgRunDir: string
  /** The wireguard-go program, used when kernel WireGuard is missing. Default wireguard-go (from PATH). */
  wireguardGo: string
}

export function defaultOverlayConfig(): OverlayConfig {
  return {
    mode: 'auto',
    range: DEFAULT_OVERLAY_RANGE,
    subnetPrefix: DEFAULT_SUBNET_PREFIX,
    wgPort: DEFAULT_WG_PORT,
    ifname: 'mesh0',
    network: 'mesh',
    bridgeName: DEFAULT_BRIDGE_NAME,
    mtu: 0,
    keepaliveS: 25,
    settleMs: 3000,
    dockerSocket: DEFAULT_DOCKER_SOCKET,
    wgRunDir: '/var/run/wireguard',
    wireguardGo: 'wireguard-go',
  }
}
