import type { NodeRecord } from '../../api/types.ts'
import { DOCKER_API_VERSION, DOCKER_MIN_API_VERSION, dockerTime, nanos } from './shape.ts'

/**
 * GET /_ping, /version and /info (pure): what the docker CLI negotiates its API version from, and the `Swarm`
 * section `docker info` and the clients read (this manager's node, the cluster, its managers). The manager answering
 * is the leader (mesh has one writer); its host facts (architecture, kernel) come from the adapter.
 */

/** Headers dockerd sends on /_ping (and every answer): the docker CLI reads the API version and swarm role here. */
export function pingHeaders(): Record<string, string> {
  return {
    'API-Version': DOCKER_API_VERSION,
    'Docker-Experimental': 'false',
    'OSType': 'linux',
    'Swarm': 'active/manager',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    'Pragma': 'no-cache',
  }
}

/** What the manager process knows of its own host (os.arch(), os.release(), os.hostname()). */
export interface HostFacts {
  /** uname -m's names (/info's Architecture): x86_64, aarch64 … */
  arch: string
  /** Go's GOARCH names (/version's Arch): amd64, arm64 … */
  goArch: string
  kernel: string
  hostname: string
  meshVersion: string
}

/** node's os.arch() → uname -m's name, as /info's Architecture. */
export function dockerArch(arch: string): string {
  return ({ x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i386', ppc64: 'ppc64le' } as Record<string, string>)[arch] ?? arch
}

/** node's os.arch() → Go's GOARCH, as /version's Arch. */
export function goArch(arch: string): string {
  return ({ x64: 'amd64', ia32: '386', ppc64: 'ppc64le' } as Record<string, string>)[arch] ?? arch
}

export function dockerVersion(h: HostFacts): Record<string, unknown> {
  const details = { ApiVersion: DOCKER_API_VERSION, MinAPIVersion: DOCKER_MIN_API_VERSION, Os: 'linux', Arch: h.goArch, KernelVersion: h.kernel }
  return {
    Platform: { Name: `mesh ${h.meshVersion}` },
    Components: [{ Name: 'Engine', Version: h.meshVersion, Details: details }],
    Version: h.meshVersion,
    ApiVersion: DOCKER_API_VERSION,
    MinAPIVersion: DOCKER_MIN_API_VERSION,
    GitCommit: '',
    GoVersion: '',
    Os: 'linux',
    Arch: h.goArch,
    KernelVersion: h.kernel,
    BuildTime: '',
  }
}

/** The cluster as /info's Swarm.Cluster says it. */
export interface ClusterFacts {
  id: string
  revision: number
  /** When the cluster was created (its root CA's notBefore), ms. */
  createdAt: number
  /** The root CA (public), docker's TLSInfo.TrustRoot. */
  trustRoot: string
  /** Lifetime of the node certificates the CA issues, ms (docker's CAConfig.NodeCertExpiry). */
  nodeCertLifetimeMs: number
  rootRotationInProgress: boolean
  autolock: boolean
}

export interface InfoInput {
  host: HostFacts
  cluster: ClusterFacts
  nodes: readonly NodeRecord[]
  /** This manager's own node id (null before it registered its node). */
  selfId: string | null
  apiPort: number
}

function hostPort(addr: string, port: number): string {
  return `${addr.includes(':') ? `[${addr}]` : addr}:${port}`
}

export function dockerInfo(i: InfoInput): Record<string, unknown> {
  const self = i.nodes.find((n) => n.id === i.selfId)
  const managers = i.nodes.filter((n) => n.role === 'manager')
  const c = i.cluster
  return {
    ID: self?.id ?? '',
    Containers: 0, ContainersRunning: 0, ContainersPaused: 0, ContainersStopped: 0, Images: 0,
    Driver: '', DriverStatus: [],
    Plugins: { Volume: [], Network: ['overlay'], Authorization: null, Log: [] },
    NCPU: self ? Math.round(self.resources.nanoCpus / 1e9) : 0,
    MemTotal: self?.resources.memoryBytes ?? 0,
    Name: self?.hostname ?? i.host.hostname,
    Labels: [],
    ServerVersion: i.host.meshVersion,
    OperatingSystem: `mesh ${i.host.meshVersion}`,
    OSType: 'linux',
    Architecture: i.host.arch,
    KernelVersion: i.host.kernel,
    Swarm: {
      NodeID: self?.id ?? '',
      NodeAddr: self?.addr ?? '',
      LocalNodeState: 'active',
      ControlAvailable: true,
      Error: '',
      RemoteManagers: managers.map((n) => ({ NodeID: n.id, Addr: hostPort(n.addr, i.apiPort) })),
      Nodes: i.nodes.length,
      Managers: managers.length,
      Cluster: {
        ID: c.id,
        Version: { Index: c.revision },
        CreatedAt: dockerTime(c.createdAt),
        UpdatedAt: dockerTime(c.createdAt),
        Spec: {
          Name: 'default',
          Labels: {},
          Orchestration: {},
          Raft: {},
          Dispatcher: {},
          CAConfig: { NodeCertExpiry: nanos(c.nodeCertLifetimeMs) },
          TaskDefaults: {},
          EncryptionConfig: { AutoLockManagers: c.autolock },
        },
        TLSInfo: { TrustRoot: c.trustRoot },
        RootRotationInProgress: c.rootRotationInProgress,
      },
    },
    Warnings: [],
  }
}
