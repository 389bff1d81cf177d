import { ConfigError } from '../src/base/errors.ts'
import { taskSpecDiffers, type ManagerClient, type TaskRecord } from '../src/api/index.ts'
import { jobProgress, type ServiceView } from './service-mode.ts'


/** Wait until the service's tasks converge, printing `overall progress: N out of M tasks` as it changes. */
export async function converge(client: ManagerClient, name: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now()
  let last = ''
  for (;;) {
    const s = await client.request<ServiceView>('GET', `/v1/services/${encodeURIComponent(name)}`)
    const tasks = await client.request<TaskRecord[]>('GET', `/v1/tasks?service=${encodeURIComponent(name)}`)
    const want = tasks.filter((t) => t.desiredState === 'running')
    const ok = want.filter((t) => t.status.state === 'running').length
    // Right after an update the orchestrator has not started rolling yet: tasks still running the old spec count as not done.
    const outdated = want.filter((t) => taskSpecDiffers(t.spec, s.spec)).length
    const rolling = ['updating', 'rollback_started'].includes(s.updateStatus?.state ?? '')
    const job = jobProgress(s)
    const line = job ? job.line : `overall progress: ${ok} out of ${'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : s.desired} tasks`
    const problems = want.filter((t) => ['rejected', 'failed'].includes(t.status.state) || (t.status.state === 'pending' && t.status.message))
    if (line !== last) {
      process.stdout.write(`${line}\n`)
      last = line
    }
    if (job?.done) {
      process.stdout.write('job complete\n')
      return
    }
    const target = 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : s.desired
    const settled = target > 0 || Date.now() - start > 1500
    if (!job && settled && !rolling && outdated === 0 && ok === target && want.length === target && s.desired === target) {
      process.stdout.write('verify: Service converged\n')
      return
    }
    if (s.updateStatus?.state === 'paused' || s.updateStatus?.state === 'rollback_paused') {
      throw new ConfigError(`service "${name}": update paused: ${s.updateStatus.message}`)
    }
    if (Date.now() - start > timeoutMs) {
      const why = problems[0] ? `: ${problems[0].status.message || problems[0].status.err || problems[0].status.state}` : ''
      throw new ConfigError(`service "${name}" did not converge in ${timeoutMs / 1000} s${why} (see mesh service ps ${name})`)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}
