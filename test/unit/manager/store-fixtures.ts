/** Records and helpers the store tests share (store-conformance.ts and the backends' own tests). */
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { StoreEvent } from '../../../src/manager/store.ts'
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../../src/api/types.ts'

export const node = (id: string, hostname = id, o: Partial<NodeRecord> = {}): NodeRecord => ({
  id, hostname, role: 'worker', availability: 'active', labels: {}, addr: '10.0.0.1', state: 'ready',
  stateChangedAt: 1, resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, createdAt: 1, updatedAt: 1, ...o,
})
export const service = (id: string, name = id, o: Partial<ServiceRecord> = {}): ServiceRecord => ({
  id, spec: defaultServiceSpec(name, 'nginx:1'), version: 1, createdAt: 1, updatedAt: 1, ...o,
})
export const task = (id: string, serviceId: string, nodeId = '', o: Partial<TaskRecord> = {}): TaskRecord => ({
  id, serviceId, serviceName: serviceId, slot: 1, nodeId, specVersion: 1, spec: defaultServiceSpec(serviceId, 'nginx:1'),
  desiredState: 'running', status: { state: 'new', message: '', timestamp: 1 }, createdAt: 1, updatedAt: 1, ...o,
})

export const brief = (events: StoreEvent[]): string[] => events.map((e) => `${e.revision} ${e.op} ${e.kind} ${e.record.id}`)

/** What `fn` threw or its promise rejected with (undefined: neither). */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn()
  } catch (err) {
    return err
  }
  return undefined
}
