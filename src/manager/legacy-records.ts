import { normalizeSpecNetworks } from '../api/network-spec.ts'
import type { ServiceRecord, TaskRecord } from '../api/types.ts'

/**
 * Records as a store hands them out, whatever version of mesh wrote them (pure; every backend's readers apply it).
 * Specs stored before user networks held `networks: string[]` (names that all meant the one overlay): they read as
 * on the default network, so a service and its tasks still compare equal and nothing is rolled by an upgrade.
 */
export function readService(s: ServiceRecord): ServiceRecord {
  if (!s.spec) return s
  const spec = normalizeSpecNetworks(s.spec)
  const previousSpec = s.previousSpec && normalizeSpecNetworks(s.previousSpec)
  if (spec === s.spec && previousSpec === s.previousSpec) return s
  return { ...s, spec, ...(previousSpec ? { previousSpec } : {}) }
}

export function readTask(t: TaskRecord): TaskRecord {
  if (!t.spec) return t
  const spec = normalizeSpecNetworks(t.spec)
  return spec === t.spec ? t : { ...t, spec }
}
