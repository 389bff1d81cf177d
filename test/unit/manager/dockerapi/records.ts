/** Synthetic records for the Docker API's shape tests: networks, services and tasks as the manager stores them. */
import type { NetworkRecord, ServiceRecord, TaskRecord } from '../../../../src/api/index.ts'
import type { ShapeContext } from '../../../../src/manager/dockerapi/shape.ts'
import { spec } from '../sim.ts'

export const T0 = Date.UTC(2026, 11, 7, 10, 0, 0, 123)

export function network(id: string, name: string, subnet: string, o: Partial<NetworkRecord['spec']> & { vni?: number } = {}): NetworkRecord {
  const { vni, ...rest } = o
  return {
    id, subnet, vni: vni ?? 4097, slices: {}, createdAt: T0, updatedAt: T0,
    spec: { name, driver: 'overlay', attachable: false, internal: false, encrypted: true, labels: {}, ...rest },
  }
}

export const MESH_NET = network('defaultnet0000000000000000', 'mesh', '10.77.0.0/16', { vni: 0 })
export const WEBNET = network('webnet1111111111111111111', 'webnet', '10.80.0.0/20', { labels: { tier: 'front' }, encrypted: false })

export const CTX: ShapeContext = { revision: 42, networks: [MESH_NET, WEBNET], vipRange: '10.78.0.0/16' }

export function serviceRecord(id: string, o: Parameters<typeof spec>[1] = {}, extra: Partial<ServiceRecord> = {}): ServiceRecord {
  return { id, spec: spec(id === 'svc-web' ? 'web' : id, o), version: 1, createdAt: T0, updatedAt: T0 + 1, ...extra }
}

export function taskRecord(id: string, s: ServiceRecord, o: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id, serviceId: s.id, serviceName: s.spec.name, slot: 1, nodeId: 'node-a', specVersion: s.version, spec: s.spec,
    desiredState: 'running', status: { state: 'running', message: 'started', timestamp: T0 + 5 }, createdAt: T0, updatedAt: T0 + 5, ...o,
  }
}
