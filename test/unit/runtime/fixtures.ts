import type { ServiceSpec, TaskRecord, TaskState } from '../../../src/api/types.ts'

export function spec(over: Partial<ServiceSpec> = {}): ServiceSpec {
  const update = { parallelism: 1, delayMs: 0, failureAction: 'pause' as const, order: 'stop-first' as const, monitorMs: 5000, maxFailureRatio: 0 }
  return {
    name: 'web', image: 'mesh/busybox:latest', env: [], labels: {}, mode: { replicated: { replicas: 1 } }, ports: [], mounts: [],
    constraints: [], resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 }, updateConfig: update, rollbackConfig: update,
    endpointMode: 'vip', networks: [], stopGracePeriodMs: 10_000, ...over,
  }
}

export interface TaskOpts {
  id: string
  slot?: number
  desired?: TaskRecord['desiredState']
  state?: TaskState
  containerId?: string
  nodeId?: string
  spec?: Partial<ServiceSpec>
}

export function task(o: TaskOpts): TaskRecord {
  const s = spec(o.spec)
  return {
    id: o.id, serviceId: `svc-${s.name}`, serviceName: s.name, slot: o.slot ?? 1, nodeId: o.nodeId ?? 'node1', specVersion: 1, spec: s,
    desiredState: o.desired ?? 'running',
    status: { state: o.state ?? 'assigned', message: '', timestamp: 0, ...(o.containerId ? { containerId: o.containerId } : {}) },
    createdAt: 0, updatedAt: 0,
  }
}

/** One frame of Docker's multiplexed log stream: stream (1 stdout, 2 stderr), 3 zero bytes, length, payload. */
export function logFrame(stream: 1 | 2, payload: Buffer | string): Buffer {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
  const h = Buffer.alloc(8)
  h[0] = stream
  h.writeUInt32BE(p.length, 4)
  return Buffer.concat([h, p])
}
