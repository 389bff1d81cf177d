/**
 * Cluster-wide rules a service write must keep, checked inside the write's transaction against the services the
 * tx reads: a published ingress port belongs to one service, and a VIP service gets a free address of the range.
 * Breaking either is a conflict (MESH_ERR_CONFLICT, HTTP 409).
 */
import type { Cidr } from '../base/cidr.ts'
import type { ServiceRecord, ServiceSpec } from '../api/types.ts'
import { conflict } from './request-refused.ts'
import { VipExhaustedError, vipFor } from './vip.ts'


/** Throws when another service (not `self`) publishes one of `spec`'s ingress ports. */
export function checkPortsFree(services: readonly ServiceRecord[], spec: ServiceSpec, self: string | null): void {
  for (const other of services) {
    if (other.id === self) continue
    for (const p of spec.ports) {
      if (other.spec.ports.some((q) => q.published === p.published && q.protocol === p.protocol && q.mode === 'ingress' && p.mode === 'ingress')) {
        throw conflict(`port ${p.published}/${p.protocol} is already published by service "${other.spec.name}"`)
      }
    }
  }
}

/** The VIP `spec` gets: kept, allocated (endpoint mode vip) or dropped (dnsrr). Throws when the range is full. */
export function serviceVip(spec: ServiceSpec, current: string | undefined, services: ServiceRecord[], range: Cidr): string | undefined {
  try {
    return vipFor(spec, current, services, range)
  } catch (err) {
    if (err instanceof VipExhaustedError) throw conflict(`service "${spec.name}": ${err.message}`)
    throw err
  }
}
