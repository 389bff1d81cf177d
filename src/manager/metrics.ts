/**
 * Manager (scheduler) metrics for Prometheus: computed at scrape time from the store and the EventLog, so the
 * metric objects hold no state of their own and the same set can be registered on several registries (the agent's
 * /metrics listener and the API port's /metrics).
 *
 *   mesh_scheduler_tasks{state}                 tasks in the store by current state
 *   mesh_scheduler_tasks_desired{desired}       tasks by desired state (running / shutdown / remove)
 *   mesh_scheduler_unassigned_tasks             tasks waiting for a node
 *   mesh_scheduler_reschedules_total            new tasks that replace a failed/rejected/orphaned one or one on a down node
 *   mesh_manager_nodes{role,state,availability} nodes
 *   mesh_manager_services                       services
 *   mesh_service_replicas{service,kind}         kind=desired|running per service
 *   mesh_manager_store_revision                 store revision (moves on every committed change)
 *   mesh_manager_events_total{type,action}      cluster events recorded (see events.ts)
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { EventLog } from './events.ts'
import type { StoreReader } from './store.ts'
import { TASK_STATES } from '../api/types.ts'
import { setStateCounts } from '../base/metrics.ts'

/** What the metrics read at scrape time: the manager's view of the store and its event log (a Manager is one). */
export interface ManagerMetricsSource extends Pick<StoreReader, 'listNodes' | 'listServices' | 'listTasks'> {
  readonly revision: number
  readonly events: EventLog
}

/** Defined in src/base (gossip counts its members with it too); re-exported for the manager's own callers. */
export { setStateCounts }

export function registerManagerMetrics(registry: Registry, store: ManagerMetricsSource): void {
  const events = store.events
  const registers = [registry]
  new Gauge({
    name: 'mesh_scheduler_tasks', help: 'Tasks in the manager store by current state.', labelNames: ['state'], registers,
    collect() {
      setStateCounts(this, TASK_STATES, store.listTasks().map((t) => t.status.state))
    },
  })
  new Gauge({
    name: 'mesh_scheduler_tasks_desired', help: 'Tasks in the manager store by desired state.', labelNames: ['desired'], registers,
    collect() {
      this.reset()
      const by = new Map<string, number>([['running', 0], ['shutdown', 0], ['remove', 0]])
      for (const t of store.listTasks()) by.set(t.desiredState, (by.get(t.desiredState) ?? 0) + 1)
      for (const [desired, n] of by) this.set({ desired }, n)
    },
  })
  new Gauge({
    name: 'mesh_scheduler_unassigned_tasks', help: 'Tasks that want to run and have no node yet.', registers,
    collect() {
      this.set(store.listTasks({ nodeId: '', desiredState: 'running' }).length)
    },
  })
  new Counter({
    name: 'mesh_scheduler_reschedules_total', help: 'Tasks created to replace one that failed, was rejected or orphaned, or whose node went down.', registers,
    collect() {
      this.reset()
      this.inc(events.counts.reschedules)
    },
  })
  new Gauge({
    name: 'mesh_manager_nodes', help: 'Nodes known to the manager.', labelNames: ['role', 'state', 'availability'], registers,
    collect() {
      this.reset()
      const by = new Map<string, number>()
      for (const n of store.listNodes()) {
        const k = `${n.role}\u0000${n.state}\u0000${n.availability}`
        by.set(k, (by.get(k) ?? 0) + 1)
      }
      for (const [k, n] of by) {
        const [role, state, availability] = k.split('\u0000') as [string, string, string]
        this.set({ role, state, availability }, n)
      }
    },
  })
  new Gauge({
    name: 'mesh_manager_services', help: 'Services in the manager store.', registers,
    collect() {
      this.set(store.listServices().length)
    },
  })
  new Gauge({
    name: 'mesh_service_replicas', help: 'Tasks per service: kind=desired (should run) or running (running and should).', labelNames: ['service', 'kind'], registers,
    collect() {
      this.reset()
      const tasks = store.listTasks()
      for (const s of store.listServices()) {
        const mine = tasks.filter((t) => t.serviceId === s.id && t.desiredState === 'running')
        this.set({ service: s.spec.name, kind: 'desired' }, mine.length)
        this.set({ service: s.spec.name, kind: 'running' }, mine.filter((t) => t.status.state === 'running').length)
      }
    },
  })
  new Gauge({
    name: 'mesh_manager_store_revision', help: 'Revision of the manager store (grows by one per committed change).', registers,
    collect() {
      this.set(store.revision)
    },
  })
  new Counter({
    name: 'mesh_manager_events_total', help: 'Cluster events recorded by the manager (mesh events).', labelNames: ['type', 'action'], registers,
    collect() {
      this.reset()
      for (const [k, n] of events.counts.byAction) {
        const [type, action] = k.split(' ') as [string, string]
        this.inc({ type, action }, n)
      }
    },
  })
}
