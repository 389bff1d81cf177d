import { defaultServiceSpec, validateServiceSpec } from '../api/index.ts'
import { STACK_LABEL, type HealthcheckSpec, type MountSpec, type ServiceSpec } from '../api/types.ts'
import { StackFileError } from './errors.ts'
import type { ComposeModel, Declared, Ref, ServicePart } from './model.ts'
import { fileReferences, stackObjects, type StackObject } from './secrets.ts'

/**
 * The merged compose model → mesh service specs (pure), named and labelled as `docker stack deploy` does:
 * service `web` of stack `getstartedlab` is `getstartedlab_web`, with labels `com.docker.stack.namespace` and
 * `com.docker.stack.image`; named volumes and networks are `<stack>_<name>` unless external or named. Every spec is
 * checked with src/api's validateServiceSpec, the one the manager runs, so the manager will not refuse what passes here.
 */

export const IMAGE_LABEL = 'com.docker.stack.image'

export interface Converted {
  services: ServiceSpec[]
  /** Cluster names of the networks the services use (`getstartedlab_webnet`); all map onto the mesh overlay. */
  networks: string[]
  /** Cluster names of the named volumes the services mount. */
  volumes: string[]
  /**
   * The stack's secrets and configs: its own (`<stack>_<key>`, created from their files by a deploy) and the
   * external ones its services use (which must exist). Values are not here: readStackValues reads them.
   */
  secrets: StackObject[]
  configs: StackObject[]
}

const fail = (at: Ref, msg: string): never => {
  throw new StackFileError(at.file, at.path, msg)
}

function clusterName(stack: string, key: string, d: Declared | undefined): string {
  return d?.fixedName ?? `${stack}_${key}`
}

function health(h: NonNullable<ServicePart['healthcheck']>): HealthcheckSpec | undefined {
  if (h.disable) return { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 }
  if (!h.test) return undefined
  return { test: h.test, intervalMs: h.intervalMs ?? 0, timeoutMs: h.timeoutMs ?? 0, retries: h.retries ?? 0, startPeriodMs: h.startPeriodMs ?? 0 }
}

export function convertStack(stack: string, model: ComposeModel): Converted {
  const networks = new Set<string>()
  const volumes = new Set<string>()
  const services: ServiceSpec[] = []
  const published = new Map<string, string>()
  const names = [...model.services.keys()].sort()
  for (const key of names) {
    const s = model.services.get(key) as ServicePart
    if (!s.image) fail({ file: s.at.file, path: `${s.at.path}.image` }, 'is required: mesh runs images from a registry and does not build them (push the image, then set image:)')
    const spec = defaultServiceSpec(`${stack}_${key}`, s.image as string)
    spec.labels = { ...s.labels, [STACK_LABEL]: stack, [IMAGE_LABEL]: s.image as string }
    if (s.command) spec.command = [...s.command]
    if (s.entrypoint) spec.entrypoint = [...s.entrypoint]
    spec.env = Object.entries(s.env).map(([k, v]) => `${k}=${v}`).sort()
    if (s.mode === 'global' || s.mode === 'global-job') {
      if (s.replicas !== undefined) fail(s.replicasAt as Ref, 'replicas can only be used with mode: replicated or replicated-job')
      spec.mode = s.mode === 'global' ? { global: {} } : { globalJob: {} }
    } else if (s.mode === 'replicated-job') {
      // As docker stack deploy: replicas is both the total completions and the concurrency.
      spec.mode = { replicatedJob: { totalCompletions: s.replicas ?? 1, maxConcurrent: s.replicas ?? 1 } }
    } else {
      spec.mode = { replicated: { replicas: s.replicas ?? 1 } }
    }
    if (s.placementPreferences) spec.placementPreferences = s.placementPreferences.map((p) => ({ ...p }))
    if (s.maxReplicasPerNode !== undefined) spec.maxReplicasPerNode = s.maxReplicasPerNode
    spec.ports = (s.ports ?? []).map((p) => ({ ...p }))
    for (const p of spec.ports) {
      const k = `${p.published}/${p.protocol}`
      const other = published.get(k)
      if (other !== undefined && other !== key && p.mode === 'ingress') fail({ file: s.at.file, path: `${s.at.path}.ports` }, `port ${k} is also published by service ${other}`)
      if (p.mode === 'ingress') published.set(k, key)
    }
    spec.mounts = [...(s.volumes ?? []), ...(s.tmpfs ?? [])].map((v): MountSpec => {
      if (v.type === 'bind') return { type: 'bind', source: v.source, target: v.target, readOnly: v.readOnly }
      if (v.type === 'tmpfs') return { type: 'tmpfs', source: '', target: v.target, readOnly: v.readOnly, ...(v.tmpfs ? { tmpfs: { ...v.tmpfs } } : {}) }
      const d = model.volumes.get(v.source)
      if (!d) fail(v.at, `volume "${v.source}" is not declared under the top-level volumes key (add volumes: {${v.source}: })`)
      const name = clusterName(stack, v.source, d)
      volumes.add(name)
      return { type: 'volume', source: name, target: v.target, readOnly: v.readOnly }
    })
    const uses = s.networks && s.networks.length > 0 ? s.networks : [{ name: 'default', at: s.at }]
    spec.networks = uses.map((n) => {
      const d = model.networks.get(n.name)
      if (!d && n.name !== 'default') fail(n.at, `network "${n.name}" is not declared under the top-level networks key (add networks: {${n.name}: })`)
      const name = clusterName(stack, n.name, d)
      networks.add(name)
      return name
    })
    spec.constraints = [...(s.constraints ?? [])]
    spec.resources = {
      limits: { ...spec.resources.limits, ...s.limits },
      reservations: { ...spec.resources.reservations, ...s.reservations },
    }
    spec.restartPolicy = { ...spec.restartPolicy, ...s.restartPolicy }
    spec.updateConfig = { ...spec.updateConfig, ...s.updateConfig }
    spec.rollbackConfig = { ...spec.rollbackConfig, ...s.rollbackConfig }
    if (s.endpointMode) spec.endpointMode = s.endpointMode
    const h = s.healthcheck ? health(s.healthcheck) : undefined
    if (h) spec.healthcheck = h
    if (s.stopGracePeriodMs !== undefined) spec.stopGracePeriodMs = s.stopGracePeriodMs
    if (s.hostname !== undefined) spec.hostname = s.hostname
    if (s.user !== undefined) spec.user = s.user
    if (s.workdir !== undefined) spec.workdir = s.workdir
    if (s.secrets && s.secrets.length > 0) spec.secrets = fileReferences(stack, 'secret', s.secrets, model.secrets)
    if (s.configs && s.configs.length > 0) spec.configs = fileReferences(stack, 'config', s.configs, model.configs)
    const problems = validateServiceSpec(spec)
    if (problems.length > 0) fail(s.at, problems.join('; '))
    services.push(spec)
  }
  const used = (k: 'secrets' | 'configs') => new Set([...model.services.values()].flatMap((s) => (s[k] ?? []).map((u) => u.source)))
  return {
    services, networks: [...networks].sort(), volumes: [...volumes].sort(),
    secrets: stackObjects(stack, 'secret', model.secrets, used('secrets'), STACK_LABEL),
    configs: stackObjects(stack, 'config', model.configs, used('configs'), STACK_LABEL),
  }
}
