/** mesh's cluster events as dockerd's swarm events, their filters and since/until (pure). */
import t from 'tap'
import type { ClusterEvent } from '../../../../src/api/index.ts'
import { dockerEvent, eventMatches, eventTime } from '../../../../src/manager/dockerapi/events.ts'
import { parseFilters, EVENT_FILTERS } from '../../../../src/manager/dockerapi/filters.ts'

const TIME = Date.UTC(2026, 11, 7, 10, 0, 0, 250)

function ev(type: ClusterEvent['type'], action: string, subject: string, attributes: Record<string, string> = {}): ClusterEvent {
  return { id: 1, time: TIME, revision: 3, type, action, subject, subjectId: `${subject}-id`, attributes }
}

t.test('each mesh event → dockerd\'s Type/Action/Actor; task events dropped', async (t) => {
  const cases = [
    { e: ev('service', 'create', 'web', { image: 'nginx' }), want: ['service', 'create', { name: 'web' }] },
    { e: ev('service', 'scale', 'web', { from: '2', replicas: '3' }), want: ['service', 'update', { name: 'web', 'replicas.new': '3', 'replicas.old': '2' }] },
    { e: ev('service', 'update', 'web', { image: 'nginx:2' }), want: ['service', 'update', { name: 'web', 'image.new': 'nginx:2' }] },
    { e: ev('service', 'update', 'web', { 'updatestate.new': 'completed', 'updatestate.old': 'updating' }), want: ['service', 'update', { name: 'web', 'updatestate.new': 'completed', 'updatestate.old': 'updating' }] },
    { e: ev('service', 'remove', 'web'), want: ['service', 'remove', { name: 'web' }] },
    { e: ev('node', 'join', 'n2'), want: ['node', 'create', { name: 'n2' }] },
    { e: ev('node', 'down', 'n2', { from: 'ready' }), want: ['node', 'update', { name: 'n2', 'state.new': 'down', 'state.old': 'ready' }] },
    { e: ev('node', 'update', 'n2', { availability: 'drain' }), want: ['node', 'update', { name: 'n2', 'availability.new': 'drain' }] },
    { e: ev('node', 'remove', 'n2'), want: ['node', 'remove', { name: 'n2' }] },
    { e: ev('secret', 'create', 'db'), want: ['secret', 'create', { name: 'db' }] },
    { e: ev('config', 'remove', 'conf'), want: ['config', 'remove', { name: 'conf' }] },
    { e: ev('network', 'create', 'webnet', { driver: 'overlay', subnet: '10.80.0.0/20' }), want: ['network', 'create', { name: 'webnet', type: 'overlay' }] },
  ] as const
  for (const c of cases) {
    const d = dockerEvent(c.e)
    t.same(d && [d.Type, d.Action, d.Actor.Attributes], c.want, `${c.e.type} ${c.e.action}`)
    t.equal(d?.Actor.ID, `${c.e.subject}-id`)
  }
  t.same(dockerEvent(ev('service', 'create', 'web')), {
    Type: 'service', Action: 'create', Actor: { ID: 'web-id', Attributes: { name: 'web' } }, scope: 'swarm',
    time: Math.floor(TIME / 1000), timeNano: TIME * 1e6,
  }, 'the whole message')
  t.equal(dockerEvent(ev('task', 'running', 'web.1')), null, 'tasks are not docker events')
})

t.test('filters: type, event, scope, and objects by id, id prefix or name', async (t) => {
  const svc = dockerEvent(ev('service', 'create', 'web'))
  const nd = dockerEvent(ev('node', 'join', 'n2'))
  if (!svc || !nd) throw new Error('no event')
  const cases = [
    { f: '{"type":["service"]}', want: [true, false] },
    { f: '{"type":{"node":true}}', want: [false, true] },
    { f: '{"event":["create"]}', want: [true, true] },
    { f: '{"scope":["local"]}', want: [false, false] },
    { f: '{"service":["web"]}', want: [true, false] },
    { f: '{"service":["web-"]}', want: [true, false] },
    { f: '{"node":["n2"]}', want: [false, true] },
    { f: '{"type":["service"],"service":["api"]}', want: [false, false] },
  ]
  for (const c of cases) t.same([svc, nd].map((e) => eventMatches(e, parseFilters(c.f, EVENT_FILTERS))), c.want, c.f)
  t.throws(() => parseFilters('{"container":["x"]}', EVENT_FILTERS), { status: 400, message: "invalid filter 'container'" })
})

t.test('since/until: Unix seconds with an optional fraction, else a 400', async (t) => {
  t.equal(eventTime(undefined, 'since'), undefined)
  t.equal(eventTime('1700000000', 'since'), 1700000000000)
  t.equal(eventTime('1700000000.250000000', 'until'), 1700000000250)
  t.throws(() => eventTime('10m', 'since'), { status: 400, message: /invalid since value "10m"/ })
})
