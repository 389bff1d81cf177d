import type { FileReference } from '../../api/secrets.ts'
import type { MountSpec, ServiceSpec, UpdateConfig } from '../../api/types.ts'
import { findNetwork, nanos, type ShapeContext } from './shape.ts'

/**
 * A mesh service spec → docker's TaskSpec (the service's TaskTemplate and each task's Spec): the container spec
 * (never a secret's value, never registry credentials), resources, restart policy, placement, networks. Pure.
 */

export function containerSpec(s: ServiceSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { Image: s.image, Labels: {} }
  // mesh's entrypoint is docker's Command, mesh's command its Args (as `docker service create IMAGE ARGS…`).
  if (s.entrypoint) out.Command = [...s.entrypoint]
  if (s.command) out.Args = [...s.command]
  if (s.hostname !== undefined) out.Hostname = s.hostname
  if (s.env.length > 0) out.Env = [...s.env]
  if (s.workdir !== undefined) out.Dir = s.workdir
  if (s.user !== undefined) out.User = s.user
  if (s.mounts.length > 0) out.Mounts = s.mounts.map(mount)
  out.StopGracePeriod = nanos(s.stopGracePeriodMs)
  if (s.healthcheck) {
    const h = s.healthcheck
    out.Healthcheck = { Test: [...h.test], Interval: nanos(h.intervalMs), Timeout: nanos(h.timeoutMs), Retries: h.retries, StartPeriod: nanos(h.startPeriodMs) }
  }
  if (s.secrets?.length) out.Secrets = s.secrets.map((r) => ({ File: file(r), SecretID: r.id, SecretName: r.name }))
  if (s.configs?.length) out.Configs = s.configs.map((r) => ({ File: file(r), ConfigID: r.id, ConfigName: r.name }))
  out.Isolation = 'default'
  return out
}

function mount(m: MountSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { Type: m.type, Source: m.source, Target: m.target }
  if (m.readOnly) out.ReadOnly = true
  if (m.tmpfs) out.TmpfsOptions = { ...(m.tmpfs.sizeBytes ? { SizeBytes: m.tmpfs.sizeBytes } : {}), ...(m.tmpfs.mode !== undefined ? { Mode: m.tmpfs.mode } : {}) }
  return out
}

function file(r: FileReference): Record<string, unknown> {
  return { Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode }
}

/** The service's networks as docker's NetworkAttachmentConfig: Target is the network id where it is known. */
export function networkAttachments(s: ServiceSpec, c: ShapeContext): { Target: string; Aliases: string[] }[] {
  return s.networks.map((a) => ({ Target: findNetwork(c, a.target)?.id ?? a.target, Aliases: [...a.aliases] }))
}

export function taskSpec(s: ServiceSpec, c: ShapeContext): Record<string, unknown> {
  const r = s.resources
  const placement: Record<string, unknown> = {}
  if (s.constraints.length > 0) placement.Constraints = [...s.constraints]
  if (s.placementPreferences?.length) placement.Preferences = s.placementPreferences.map((p) => ({ Spread: { SpreadDescriptor: p.spread } }))
  if (s.maxReplicasPerNode) placement.MaxReplicas = s.maxReplicasPerNode
  const out: Record<string, unknown> = {
    ContainerSpec: containerSpec(s),
    Resources: {
      Limits: { NanoCPUs: r.limits.nanoCpus, MemoryBytes: r.limits.memoryBytes },
      Reservations: { NanoCPUs: r.reservations.nanoCpus, MemoryBytes: r.reservations.memoryBytes },
    },
    RestartPolicy: {
      Condition: s.restartPolicy.condition, Delay: nanos(s.restartPolicy.delayMs), MaxAttempts: s.restartPolicy.maxAttempts, Window: nanos(s.restartPolicy.windowMs),
    },
    Placement: placement,
    ForceUpdate: s.forceUpdate ?? 0,
    Runtime: 'container',
  }
  if (s.networks.length > 0) out.Networks = networkAttachments(s, c)
  return out
}

/** mesh's UpdateConfig → docker's (durations in nanoseconds). */
export function updateConfig(u: UpdateConfig): Record<string, unknown> {
  return { Parallelism: u.parallelism, Delay: nanos(u.delayMs), FailureAction: u.failureAction, Monitor: nanos(u.monitorMs), MaxFailureRatio: u.maxFailureRatio, Order: u.order }
}

