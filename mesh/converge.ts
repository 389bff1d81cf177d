import { ConfigError, type MeshError } from '../src/base/errors.ts'
import { assessConvergence, ConvergenceError, isGlobalMode, type Convergence, type TaskRecord } from '../src/api/index.ts'
import type { ServiceView } from './service-mode.ts'

/**
 * Waiting for services to converge after `mesh service create|update|scale|rollback` and `mesh stack deploy`, as
 * docker's progress does, and honestly: src/api/convergence.ts decides (a task counts once it has run for the
 * monitor period, on the manager's clock); this file polls the manager and prints what changed:
 *
 *   overall progress: 1 out of 2 tasks
 *   1/2: running
 *   2/2: task: non-zero exit (1)
 *   verify: Waiting 4 seconds to verify that tasks are stable...
 *   verify: Service converged
 *
 * A service whose every unstable slot keeps failing ends the wait with ConvergenceError naming the task and its
 * error; a paused update or rollback, and the timeout (the last resort), end it too.
 */

/** The part of ManagerClient the wait uses (a fake in tests). */
export interface ConvergeClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
}

export interface ConvergeOptions {
  /** Give up after this long (local clock), the last resort. Default 120 s. */
  timeoutMs?: number
  /** Between polls. Default 500 ms. */
  pollMs?: number
  /** Injected in tests: the pause between polls and the local clock the timeout is measured on. */
  sleep?: (ms: number) => Promise<void>
  clock?: () => number
  out?: (text: string) => void
  /** The error for a paused update and the timeout (`stack deploy`: StackError). Default ConfigError. */
  error?: (message: string) => MeshError
  /** What the timeout and pause messages point at. Default `mesh service ps NAME`. */
  see?: (service: ServiceView) => string
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const path = (name: string) => encodeURIComponent(name)

/** Wait until service `name` converges (see convergeServices). */
export function converge(client: ConvergeClient, name: string, o: ConvergeOptions = {}): Promise<void> {
  return convergeServices(client, [name], o)
}

/**
 * Wait until every named service converges. One service prints docker's slot ids (`1/2: running`); several (a
 * stack) print task names (`web.1: running`) and one overall count.
 */
export async function convergeServices(client: ConvergeClient, names: readonly string[], o: ConvergeOptions = {}): Promise<void> {
  const clock = o.clock ?? Date.now
  const sleep = o.sleep ?? realSleep
  const out = o.out ?? ((s: string) => void process.stdout.write(s))
  const error = o.error ?? ((m: string) => new ConfigError(m))
  const see = o.see ?? ((s: ServiceView) => `mesh service ps ${s.spec.name}`)
  const timeoutMs = o.timeoutMs ?? 120_000
  const start = clock()
  const since = new Map<string, number>()
  const shown = new Map<string, string>()
  const show = (key: string, line: string): void => {
    if (shown.get(key) === line) return
    shown.set(key, line)
    out(`${line}\n`)
  }
  for (;;) {
    const views = await Promise.all(names.map((n) => client.request<ServiceView>('GET', `/v1/services/${path(n)}`)))
    const tasks = await Promise.all(views.map((v) => client.request<TaskRecord[]>('GET', `/v1/tasks?service=${path(v.id)}`)))
    const hostnames = views.some((v) => isGlobalMode(v.spec.mode))
      ? new Map((await client.request<{ id: string; hostname: string }[]>('GET', '/v1/nodes')).map((n) => [n.id, n.hostname]))
      : undefined
    const states = views.map((v, i): [ServiceView, Convergence] => {
      if (!since.has(v.id)) since.set(v.id, v.updatedAt) // the record this command wrote: its start, on the manager's clock
      const now = v.now ?? Date.now() // a manager without `now` in its view: assume the clocks agree
      return [v, assessConvergence({ service: v, tasks: tasks[i] as TaskRecord[], now, since: since.get(v.id) as number, ...(hostnames ? { hostnames } : {}) })]
    })
    const sum = (f: (c: Convergence) => number) => states.reduce((n, [, c]) => n + f(c), 0)
    const back = states.length === 1 && views[0]?.updateStatus?.state === 'rollback_started' ? 'rolling back update: ' : ''
    const job = states.length === 1 && states[0]?.[1].job
    show('overall', job
      ? `job progress: ${sum((c) => c.done)} out of ${sum((c) => c.total)} complete`
      : `overall progress: ${back}${sum((c) => c.done)} out of ${sum((c) => c.total)} tasks`)
    for (const [v, c] of states) {
      // As docker: a rollback (asked for, or the update's failure action) says why.
      const st = v.updateStatus
      if (st?.state.startsWith('rollback') && st.state !== 'rollback_paused') show(`${v.id} rollback`, `rollback: ${st.message}`)
      for (const s of c.slots) show(`${v.id} ${s.id}`, names.length === 1 ? `${s.id}: ${s.text}` : `${s.task}: ${s.text}`)
    }
    for (const [v, c] of states) {
      if (c.verdict === 'paused') throw error(`service "${v.spec.name}": ${c.reason} (see ${see(v)})`)
      if (c.verdict === 'failing' && c.culprit) {
        const n = c.culprit.failures
        throw new ConvergenceError(`service "${v.spec.name}" is not converging: ${c.reason} (${n} failure${n === 1 ? '' : 's'}; see mesh service ps ${v.spec.name})`)
      }
    }
    const pending = states.filter(([, c]) => c.verdict !== 'converged')
    if (pending.length === 0) {
      const jobs = states.every(([, c]) => c.job)
      out(states.length === 1 ? (jobs ? 'job complete\n' : 'verify: Service converged\n') : `verify: ${states.length} services converged\n`)
      return
    }
    if (pending.every(([, c]) => c.verifyInMs !== undefined)) {
      const wait = Math.max(...pending.map(([, c]) => c.verifyInMs as number))
      show('verify', `verify: Waiting ${Math.max(1, Math.ceil(wait / 1000))} seconds to verify that tasks are stable...`)
    } else if (shown.get('verify')?.startsWith('verify: Waiting')) {
      show('verify', 'verify: Detected task failure') // as docker's: a task stopped running during the countdown
    }
    if (clock() - start > timeoutMs) {
      const [v, c] = pending[0] as [ServiceView, Convergence]
      const bad = c.slots.find((s) => s.lastError !== undefined) ?? c.slots.find((s) => !s.stable)
      const why = bad ? `: ${bad.task}: ${bad.lastError ?? bad.text}` : ''
      throw error(`service "${v.spec.name}" did not converge in ${Math.round(timeoutMs / 1000)} s${why} (see ${see(v)})`)
    }
    await sleep(o.pollMs ?? 500)
  }
}
