import t from 'tap'
import { PullProgress } from '../../../src/runtime/index.ts'
import { parseEngineEvent } from '../../../src/runtime/engine-events.ts'
import { JsonLines } from '../../../src/base/ndjson.ts'
import { EngineError, engineError, engineText } from '../../../src/runtime/errors.ts'
import { lastLogLine } from '../../../src/runtime/log-tail.ts'
import { pullEventError } from '../../../src/runtime/pull-progress.ts'

t.test('pull progress: one percentage over the layers, never backwards', async (t) => {
  const p = new PullProgress()
  const steps: [Parameters<PullProgress['update']>[0], number][] = [
    [{ status: 'Pulling from library/app', id: '1' }, 0],
    [{ status: 'Pulling fs layer', id: 'a' }, 0],
    [{ status: 'Already exists', id: 'z' }, 0],
    [{ status: 'Pulling fs layer', id: 'b' }, 0],
    [{ status: 'Downloading', id: 'a', progressDetail: { current: 500, total: 1000 } }, 25],
    [{ status: 'Downloading', id: 'b', progressDetail: { current: 0, total: 3000 } }, 25], // b's size known late: would drop to 6
    [{ status: 'Download complete', id: 'a' }, 25],
    [{ status: 'Downloading', id: 'b', progressDetail: { current: 3000, total: 3000 } }, 50],
    [{ status: 'Extracting', id: 'a', progressDetail: { current: 1000, total: 1000 } }, 62],
    [{ status: 'Pull complete', id: 'a' }, 62],
    [{ status: 'Extracting', id: 'b', progressDetail: { current: 1500, total: 3000 } }, 81],
    [{ status: 'Pull complete', id: 'b' }, 100],
    [{ status: 'Digest: sha256:abc' }, 100],
    [{ status: 'Status: Downloaded newer image for app:latest' }, 100],
  ]
  for (const [e, want] of steps) t.equal(p.update(e), want, `${e.status} ${e.id ?? ''}`)
})

t.test('pull progress: only existing layers → 0 until finish()', async (t) => {
  const p = new PullProgress()
  t.equal(p.update({ status: 'Already exists', id: 'a' }), 0)
  t.equal(p.finish(), 100)
})

t.test('errors inside the pull stream are found', async (t) => {
  t.equal(pullEventError({ errorDetail: { message: 'manifest unknown' }, error: 'manifest unknown' }), 'manifest unknown')
  t.equal(pullEventError({ error: 'x' }), 'x')
  t.equal(pullEventError({ status: 'Downloading' }), undefined)
})

t.test('engine text comes out of docker-modem errors unchanged', async (t) => {
  const modem = (status: number, reason: string, text: string, json: unknown) =>
    Object.assign(new Error(`(HTTP code ${status}) ${reason} - ${text} `), { statusCode: status, json })
  const cases = [
    { desc: 'json body', err: modem(404, 'no such container', 'No such image: nosuch:latest', { message: 'No such image: nosuch:latest' }),
      want: 'No such image: nosuch:latest' },
    { desc: 'streamed endpoint (no json)', err: modem(404, 'unexpected', "pull access denied for nosuch, repository does not exist or may require 'docker login'", null),
      want: "pull access denied for nosuch, repository does not exist or may require 'docker login'" },
    { desc: 'reason with a dash in the text', err: modem(500, 'server error', 'Get "https://r:5000/v2/": dial tcp - refused', null),
      want: 'Get "https://r:5000/v2/": dial tcp - refused' },
    { desc: 'socket error', err: new Error('connect ENOENT /run/docker.sock'), want: 'connect ENOENT /run/docker.sock' },
  ]
  for (const c of cases) t.equal(engineText(c.err), c.want, c.desc)
  const e = engineError('pull', 'nosuch:latest', cases[1]?.err)
  t.ok(e instanceof EngineError)
  t.equal(e.code, 'MESH_ERR_DOCKER')
  t.equal(e.statusCode, 404)
  t.match(e.message, /^docker: pull nosuch:latest: pull access denied/)
})

t.test('engine events → runtime events', async (t) => {
  const attrs = { 'mesh.task.id': 't1', exitCode: '3', name: 'web.1.t1' }
  const cases = [
    { m: { Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: attrs } }, want: { action: 'die', containerId: 'c1', taskId: 't1', exitCode: 3 } },
    { m: { Type: 'container', Action: 'start', Actor: { ID: 'c1', Attributes: attrs } }, want: { action: 'start', containerId: 'c1', taskId: 't1' } },
    { m: { Type: 'container', Action: 'health_status: unhealthy', Actor: { ID: 'c1', Attributes: attrs } },
      want: { action: 'health_status', containerId: 'c1', taskId: 't1', health: 'unhealthy' } },
    { m: { Type: 'container', Action: 'exec_start: sh', Actor: { ID: 'c1', Attributes: attrs } }, want: null },
    { m: { Type: 'network', Action: 'connect', Actor: { ID: 'n1', Attributes: {} } }, want: null },
    { m: { Type: 'container', Action: 'die', Actor: { ID: 'c2', Attributes: {} } }, want: { action: 'die', containerId: 'c2', taskId: '' } },
    { m: 'garbage', want: null },
  ]
  for (const c of cases) t.same(parseEngineEvent(c.m), c.want, JSON.stringify(c.m).slice(0, 60))
})

t.test('JSON lines split across chunks', async (t) => {
  const j = new JsonLines()
  t.same(j.push('{"a":1}\n{"b"'), [{ a: 1 }])
  t.same(j.push(':2}\nnot json\n\n{"c":3}\n'), [{ b: 2 }, { c: 3 }])
})

t.test('last log line of a multiplexed log body', async (t) => {
  const frame = (stream: number, s: string) => {
    const b = Buffer.from(s)
    const h = Buffer.alloc(8)
    h[0] = stream
    h.writeUInt32BE(b.length, 4)
    return Buffer.concat([h, b])
  }
  t.equal(lastLogLine(Buffer.concat([frame(1, 'starting\n'), frame(2, 'boom: no config\n'), frame(1, '\n')])), 'boom: no config')
  t.equal(lastLogLine(Buffer.from('tty line one\r\ntty two\r\n')), 'tty two', 'unframed (TTY) text')
  t.equal(lastLogLine(Buffer.alloc(0)), undefined)
})
