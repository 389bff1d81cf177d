import type { PortSpec } from '../api/types.ts'
import type { ComposeModel, ServicePart, VolumeUse } from './model.ts'

/**
 * Later files override earlier ones (`-c base.yml -c prod.yml`), with docker/cli's rules (pure): scalars and
 * command/entrypoint are replaced; environment, labels and healthcheck/resources/restart/update fields merge key by
 * key; ports merge by published port and protocol, volumes and tmpfs paths by target; networks and constraints add
 * up; secrets and configs merge by source; top-level networks, volumes, secrets and configs are replaced by name. A service only in a later file is added.
 */
export function mergeModels(models: readonly ComposeModel[]): ComposeModel {
  const [first, ...rest] = models
  if (!first) throw new Error('mergeModels: no files')
  const out: ComposeModel = {
    files: [...first.files], services: new Map(first.services), networks: new Map(first.networks),
    volumes: new Map(first.volumes), unsupported: [...first.unsupported],
    secrets: new Map(first.secrets), configs: new Map(first.configs),
  }
  for (const m of rest) {
    out.files.push(...m.files)
    out.unsupported.push(...m.unsupported)
    for (const [k, v] of m.networks) out.networks.set(k, v)
    for (const [k, v] of m.volumes) out.volumes.set(k, v)
    for (const [k, v] of m.secrets ?? []) out.secrets?.set(k, v)
    for (const [k, v] of m.configs ?? []) out.configs?.set(k, v)
    for (const [name, s] of m.services) {
      const base = out.services.get(name)
      out.services.set(name, base ? mergeService(base, s) : s)
    }
  }
  return out
}

function byKey<T>(base: readonly T[] | undefined, over: readonly T[] | undefined, key: (x: T) => string): T[] | undefined {
  if (!over) return base ? [...base] : undefined
  if (!base) return [...over]
  const out = [...base]
  for (const x of over) {
    const i = out.findIndex((y) => key(y) === key(x))
    if (i >= 0) out[i] = x
    else out.push(x)
  }
  return out
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

export function mergeService(a: ServicePart, b: ServicePart): ServicePart {
  const out: ServicePart = {
    ...a, ...defined(b),
    at: a.at,
    env: { ...a.env, ...b.env },
    labels: { ...a.labels, ...b.labels },
    limits: { ...a.limits, ...b.limits },
    reservations: { ...a.reservations, ...b.reservations },
    restartPolicy: { ...a.restartPolicy, ...b.restartPolicy },
    updateConfig: { ...a.updateConfig, ...b.updateConfig },
    rollbackConfig: { ...a.rollbackConfig, ...b.rollbackConfig },
  }
  const ports = byKey<PortSpec>(a.ports, b.ports, (p) => `${p.published}/${p.protocol}`)
  const volumes = byKey<VolumeUse>(a.volumes, b.volumes, (v) => v.target)
  const tmpfs = byKey<VolumeUse>(a.tmpfs, b.tmpfs, (v) => v.target)
  const networks = byKey(a.networks, b.networks, (n) => n.name)
  const secrets = byKey(a.secrets, b.secrets, (u) => u.source)
  const configs = byKey(a.configs, b.configs, (u) => u.source)
  const constraints = byKey(a.constraints, b.constraints, (c) => c.replace(/\s/g, ''))
  const healthcheck = a.healthcheck || b.healthcheck ? { ...a.healthcheck, ...b.healthcheck } : undefined
  return {
    ...out,
    ...(ports ? { ports } : {}), ...(volumes ? { volumes } : {}), ...(tmpfs ? { tmpfs } : {}), ...(networks ? { networks } : {}),
    ...(constraints ? { constraints } : {}), ...(healthcheck ? { healthcheck } : {}),
    ...(secrets ? { secrets } : {}), ...(configs ? { configs } : {}),
  }
}
