import { LABEL } from './container-spec.ts'
import type { HealthState, RuntimeEvent } from './runtime.ts'

/**
 * Docker's event stream (pure): one JSON message of `GET /events` → a RuntimeEvent, or null for anything the runner
 * does not act on. Container labels arrive in `Actor.Attributes` next to `exitCode`, `name` and `image`; a health
 * change comes as Action `health_status: healthy`.
 */

interface EngineMessage {
  Type?: string
  Action?: string
  Actor?: { ID?: string; Attributes?: Record<string, string> }
  id?: string
}

const HEALTH = new Set<string>(['starting', 'healthy', 'unhealthy'])

export function parseEngineEvent(m: unknown): RuntimeEvent | null {
  if (!m || typeof m !== 'object') return null
  const msg = m as EngineMessage
  if (msg.Type !== undefined && msg.Type !== 'container') return null
  const action = msg.Action ?? ''
  const attrs = msg.Actor?.Attributes ?? {}
  const containerId = msg.Actor?.ID ?? msg.id ?? ''
  if (!containerId) return null
  const taskId = attrs[LABEL.taskId] ?? ''
  if (action === 'start') return { action: 'start', containerId, taskId }
  if (action === 'die') {
    const code = Number(attrs['exitCode'])
    return Number.isInteger(code) ? { action: 'die', containerId, taskId, exitCode: code } : { action: 'die', containerId, taskId }
  }
  if (action.startsWith('health_status')) {
    const h = action.slice('health_status'.length).replace(/^:\s*/, '').trim()
    return HEALTH.has(h) ? { action: 'health_status', containerId, taskId, health: h as HealthState } : null
  }
  return null
}
