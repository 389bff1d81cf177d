/** GET /v1/info's answer (`mesh info`, `mesh version`'s server part). */
export interface ClusterInfo {
  clusterId: string
  /** sha256 of the current root CA (what join tokens pin). */
  digest: string
  nodes: number
  services: number
  managers: { id: string; hostname: string; addr: string; state: string }[]
  /** ready / down / unknown → count. */
  nodesByState: Record<string, number>
  tasks: number
  /** Task state → count, over the tasks not being removed. */
  tasksByState: Record<string, number>
  overlayRange: string
  vipRange: string
  publishedPorts: { service: string; published: number; target: number; protocol: string; mode: string }[]
  /** The root CA certificate's expiry (ISO 8601). */
  caExpiresAt: string
  caRotating: boolean
  gossipEncrypted: boolean
  /** The manager's own node (docker's `self`); null before it registered. */
  self: { id: string; hostname: string } | null
  version: string
  apiVersion: string
}
