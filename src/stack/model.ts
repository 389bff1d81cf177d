import type { PlacementPreference, PortSpec, Resources, RestartPolicy, UpdateConfig } from '../api/types.ts'

/**
 * The compose model between parsing and conversion: one file's services with every value already parsed (ports,
 * sizes, durations, constraints checked), so that later files can override earlier ones key by key, and errors
 * found after merging can still name the file and key path the value came from (`Ref`).
 */

/** Where a value was written: `{file: 'stack.yml', path: 'services.web.volumes[0]'}`. */
export interface Ref {
  file: string
  path: string
}

/** Records a key mesh ignores (with a note for a part of a value: `host IP 127.0.0.1`). */
export type Unsupported = (path: readonly (string | number)[], note?: string) => void

export interface VolumeUse {
  type: 'bind' | 'volume' | 'tmpfs'
  /** Bind: absolute host path. Volume: the compose name (`data`), resolved against top-level volumes later. tmpfs: empty. */
  source: string
  target: string
  readOnly: boolean
  /** tmpfs only: `tmpfs.size` of a long-syntax volume, `size=` / `mode=` of a service `tmpfs:` entry. */
  tmpfs?: { sizeBytes?: number; mode?: number }
  at: Ref
}

export interface NetworkUse {
  /** The compose name (`webnet`). */
  name: string
  at: Ref
}

export interface HealthPart {
  test?: string[]
  intervalMs?: number
  timeoutMs?: number
  retries?: number
  startPeriodMs?: number
  disable?: boolean
}

/** One service as one file describes it; absent fields leave the earlier file's value (or the default). */
export interface ServicePart {
  name: string
  /** Where the service was first defined. */
  at: Ref
  image?: string
  command?: string[]
  entrypoint?: string[]
  /** env_file then environment, resolved (KEY without a value reads the deploying shell's environment). */
  env: Record<string, string>
  ports?: PortSpec[]
  volumes?: VolumeUse[]
  networks?: NetworkUse[]
  healthcheck?: HealthPart
  hostname?: string
  user?: string
  /** `working_dir`. */
  workdir?: string
  /** The service-level `tmpfs:` paths (`/run`, `/cache:size=64m,mode=1777`), as tmpfs mounts. */
  tmpfs?: VolumeUse[]
  mode?: 'replicated' | 'global' | 'replicated-job' | 'global-job'
  replicas?: number
  replicasAt?: Ref
  limits: Partial<Resources>
  reservations: Partial<Resources>
  restartPolicy: Partial<RestartPolicy>
  constraints?: string[]
  /** deploy.placement.preferences: `[{spread: node.labels.zone}]`. */
  placementPreferences?: PlacementPreference[]
  /** deploy.placement.max_replicas_per_node. */
  maxReplicasPerNode?: number
  updateConfig: Partial<UpdateConfig>
  rollbackConfig: Partial<UpdateConfig>
  /** deploy.labels: the service's labels. */
  labels: Record<string, string>
  endpointMode?: 'vip' | 'dnsrr'
  stopGracePeriodMs?: number
  /** `secrets:` / `configs:` of the service, short (`- db`) or long syntax, in order. */
  secrets?: FileUse[]
  configs?: FileUse[]
}

/** A service's use of a top-level secret or config: `- db` or `{source: db, target: db.txt, uid, gid, mode}`. */
export interface FileUse {
  /** The top-level key (`db`). */
  source: string
  target?: string
  uid?: string
  gid?: string
  mode?: number
  at: Ref
}

/** A top-level secret or config. */
export interface DeclaredFile {
  /** The name on the cluster when it is fixed (`external`, `name:`); otherwise `<stack>_<key>`. */
  fixedName?: string
  /** Created with `mesh secret create` beforehand: the deploy only checks that it exists. */
  external: boolean
  /** Not external: the file whose content is the value, absolute (relative ones are read from the first compose file's directory). */
  file?: string
  labels: Record<string, string>
  at: Ref
}

/** A top-level network or volume. */
export interface Declared {
  /** The name on the cluster when it is fixed (`external`, `name:`); otherwise `<stack>_<key>`. */
  fixedName?: string
  at: Ref
}

export interface ComposeModel {
  /** The files, in order. */
  files: string[]
  services: Map<string, ServicePart>
  networks: Map<string, Declared>
  volumes: Map<string, Declared>
  /** Top-level `secrets:` and `configs:` (absent: none declared). */
  secrets?: Map<string, DeclaredFile>
  configs?: Map<string, DeclaredFile>
  /** Keys the schema allows but mesh ignores, per file: `services.web.build`. */
  unsupported: { file: string; path: string }[]
}
