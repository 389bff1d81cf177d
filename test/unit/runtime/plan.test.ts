import t from 'tap'
import type { TaskState } from '../../../src/api/types.ts'
import { planContainers, type ContainerInfo, type ContainerState } from '../../../src/runtime/index.ts'
import { task, type TaskOpts } from './fixtures.ts'

const c = (id: string, taskId: string, state: ContainerState): ContainerInfo =>
  ({ id, name: `web.1.${taskId}`, taskId, state, labels: { 'mesh.managed': 'true', 'mesh.task.id': taskId } })
const T = (id: string, state: TaskState, desired: TaskOpts['desired'] = 'running') => task({ id, state, desired })

/** Actions as short strings: `create t1`, `remove c1 orphan`, ... */
const short = (a: ReturnType<typeof planContainers>[number]): string =>
  a.kind === 'remove' ? `remove ${a.containerId} ${a.reason}` : 'containerId' in a ? `${a.kind} ${a.taskId} ${a.containerId}` : `${a.kind} ${a.taskId}`

const cases: { name: string; tasks: ReturnType<typeof task>[]; containers: ContainerInfo[]; observed?: string[]; want: string[] }[] = [
  { name: 'nothing assigned, nothing running', tasks: [], containers: [], want: [] },
  { name: 'desired running, no container, assigned → create', tasks: [T('t1', 'assigned')], containers: [], want: ['create t1'] },
  { name: 'desired running, no container, preparing (agent died mid-pull) → create again', tasks: [T('t1', 'preparing')], containers: [], want: ['create t1'] },
  { name: 'desired running, no container, starting → create', tasks: [T('t1', 'starting')], containers: [], want: ['create t1'] },
  { name: 'matching running container → nothing', tasks: [T('t1', 'running')], containers: [c('c1', 't1', 'running')], want: [] },
  { name: 'paused counts as live → nothing', tasks: [T('t1', 'running')], containers: [c('c1', 't1', 'paused')], want: [] },
  { name: 'running container, task says starting → observe', tasks: [T('t1', 'starting')], containers: [c('c1', 't1', 'running')], want: ['observe t1 c1'] },
  { name: 'running container, not yet observed by this runner → observe (adoption)', tasks: [T('t1', 'running')],
    containers: [c('c1', 't1', 'running')], observed: [], want: ['observe t1 c1'] },
  { name: 'running container, already observed → nothing', tasks: [T('t1', 'running')], containers: [c('c1', 't1', 'running')],
    observed: ['t1'], want: [] },
  { name: 'exited container, task running → observe (exit seen late)', tasks: [T('t1', 'running')], containers: [c('c1', 't1', 'exited')], want: ['observe t1 c1'] },
  { name: 'created, never started → start', tasks: [T('t1', 'preparing')], containers: [c('c1', 't1', 'created')], want: ['start t1 c1'] },
  { name: 'was running, container gone → lost', tasks: [T('t1', 'running')], containers: [], want: ['lost t1'] },
  { name: 'rejected task is not created again', tasks: [T('t1', 'rejected')], containers: [], want: [] },
  { name: 'failed task keeps its exited container while desired running', tasks: [T('t1', 'failed')], containers: [c('c1', 't1', 'exited')], want: [] },
  { name: 'complete task, container exited → nothing', tasks: [T('t1', 'complete')], containers: [c('c1', 't1', 'exited')], want: [] },
  { name: 'ended task (orphaned by the manager) whose container still runs → remove ended', tasks: [T('t1', 'orphaned')],
    containers: [c('c1', 't1', 'running')], want: ['remove c1 ended'] },
  { name: 'desired shutdown, running → remove shutdown', tasks: [T('t1', 'running', 'shutdown')], containers: [c('c1', 't1', 'running')],
    want: ['remove c1 shutdown'] },
  { name: 'desired remove, exited → remove remove', tasks: [T('t1', 'failed', 'remove')], containers: [c('c1', 't1', 'exited')], want: ['remove c1 remove'] },
  { name: 'desired shutdown, no container, not started → shutdown', tasks: [T('t1', 'assigned', 'shutdown')], containers: [], want: ['shutdown t1'] },
  { name: 'desired shutdown, no container, already ended → nothing', tasks: [T('t1', 'failed', 'shutdown')], containers: [], want: [] },
  { name: 'container of an unknown task → remove orphan', tasks: [], containers: [c('c9', 'gone', 'running')], want: ['remove c9 orphan'] },
  { name: 'exited orphan → remove orphan', tasks: [], containers: [c('c9', 'gone', 'exited')], want: ['remove c9 orphan'] },
  { name: 'container without a task label is never touched', tasks: [], containers: [c('c8', '', 'running')], want: [] },
  { name: 'container being removed is left alone', tasks: [T('t1', 'running', 'shutdown')], containers: [c('c1', 't1', 'removing')], want: [] },
  { name: 'two containers for one task: keep the live one, remove the other', tasks: [T('t1', 'running')],
    containers: [c('c2', 't1', 'exited'), c('c1', 't1', 'running')], want: ['remove c2 duplicate'] },
  { name: 'removals first, then reports, then starts', tasks: [T('t1', 'assigned'), T('t2', 'running'), T('t3', 'running', 'shutdown'), T('t4', 'starting')],
    containers: [c('c3', 't3', 'running'), c('c4', 't4', 'running'), c('c9', 'x', 'running')],
    want: ['remove c3 shutdown', 'remove c9 orphan', 'lost t2', 'observe t4 c4', 'create t1'] },
]

for (const k of cases) {
  t.test(k.name, async (t) => {
    const got = planContainers(k.tasks, k.containers, k.observed ? new Set(k.observed) : undefined).map(short)
    t.same(got, k.want)
  })
}

t.test('remove actions carry the task (for its grace period and the shutdown report); orphans do not', async (t) => {
  const [a, b] = planContainers([T('t1', 'running', 'shutdown')], [c('c1', 't1', 'running'), c('c9', 'x', 'exited')])
  t.equal(a?.kind === 'remove' && a.task?.id, 't1')
  t.equal(b?.kind === 'remove' && b.task, undefined)
})

t.test('a task listed twice counts once (last wins)', async (t) => {
  t.same(planContainers([T('t1', 'assigned'), T('t1', 'assigned', 'shutdown')], []).map(short), ['shutdown t1'])
})
