/**
 * `mesh agent`'s signals and ending (agent/run.ts) with fake agents: SIGTERM stops without leaving, SIGINT leaves
 * (as serf), a handed-over agent exits 0, an abandoned handover starts the agent again in this process
 * and only then lets the old data plane go.
 */
import t from 'tap'
import { runAgent } from '../../../agent/run.ts'
import type { AgentEnd } from '../../../agent/agent.ts'
import { createLogger } from '../../../agent/log.ts'
import { loadConfig } from '../../../src/config/index.ts'

const config = loadConfig({ flags: {}, env: {} })
const log = createLogger('silent')
const exit = (code: number): never => { throw new Error(`exit ${code}`) }

/** A fake agent whose done resolves when shutdown is called (or by hand). */
function fakeAgent(events: string[], name: string) {
  let end = (_e: AgentEnd): void => undefined
  const done = new Promise<AgentEnd>((r) => { end = r })
  return {
    end,
    agent: {
      done,
      shutdown: async (reason: string, o: { leave?: boolean } = {}) => {
        events.push(`${name} ${reason} leave=${o.leave ?? false}`)
        end({ type: o.leave ? 'left' : 'stopped' })
      },
    },
  }
}

const signals = [
  { name: 'SIGTERM (systemd stop/restart): stop, keep state', sig: 'SIGTERM', want: 'a SIGTERM leave=false' },
  { name: 'SIGINT (Ctrl-C, as serf): leave', sig: 'SIGINT', want: 'a SIGINT leave=true' },
] as const
for (const c of signals) {
  t.test(c.name, async (t) => {
    const events: string[] = []
    const a = fakeAgent(events, 'a')
    const running = runAgent(config, log, { exit, start: async () => a.agent })
    await new Promise((r) => setImmediate(r))
    process.emit(c.sig, c.sig)
    t.equal(await running, 0)
    t.same(events, [c.want])
  })
}

t.test('handed over: exit 0 without a shutdown', async (t) => {
  const events: string[] = []
  const a = fakeAgent(events, 'a')
  const running = runAgent(config, log, { exit, start: async () => a.agent })
  a.end({ type: 'handed-over' })
  t.equal(await running, 0)
  t.same(events, [])
})

t.test('an abandoned handover: start again in this process, then let the old data plane go; signals reach the new agent', async (t) => {
  const events: string[] = []
  const a = fakeAgent(events, 'a')
  const b = fakeAgent(events, 'b')
  const agents = [a, b]
  const running = runAgent(config, log, {
    exit,
    start: async () => { const next = agents.shift(); events.push('start'); return (next as typeof a).agent },
  })
  await new Promise((r) => setImmediate(r))
  a.end({ type: 'resume', why: 'the new agent went away', letGo: async () => { events.push('old lets go'); return 0 } })
  await new Promise((r) => setTimeout(r, 10))
  process.emit('SIGTERM', 'SIGTERM')
  t.equal(await running, 0)
  t.same(events, ['start', 'start', 'old lets go', 'b SIGTERM leave=false'])
})

t.test('starting again fails: the old data plane lets go, exit 1', async (t) => {
  const events: string[] = []
  const a = fakeAgent(events, 'a')
  let n = 0
  const running = runAgent(config, log, {
    exit,
    start: async () => { if (n++ > 0) throw new Error('port 7946 in use'); return a.agent },
  })
  await new Promise((r) => setImmediate(r))
  a.end({ type: 'resume', why: 'x', letGo: async () => { events.push('old lets go'); return 0 } })
  t.equal(await running, 1)
  t.same(events, ['old lets go'])
})

t.test('a signal during start: the agent stops as soon as it is up, not killed half-started', async (t) => {
  const events: string[] = []
  const a = fakeAgent(events, 'a')
  let up = (): void => undefined
  const starting = new Promise<void>((r) => { up = r })
  const running = runAgent(config, log, { exit, start: async () => { await starting; events.push('a up'); return a.agent } })
  await new Promise((r) => setImmediate(r))
  process.emit('SIGTERM', 'SIGTERM')
  t.same(events, [], 'nothing is stopped while starting')
  up()
  t.equal(await running, 0)
  t.same(events, ['a up', 'a SIGTERM leave=false'], 'stopped without leaving once up')
})

t.test('a failed start removes the signal handlers and throws', async (t) => {
  const before = process.listenerCount('SIGTERM')
  await t.rejects(runAgent(config, log, { exit, start: async () => { throw new Error('no') } }), /no/)
  t.equal(process.listenerCount('SIGTERM'), before)
})
