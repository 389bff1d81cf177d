/**
 * The handover protocol over a real unix socket (agent/handover-socket.ts): the running side stops its listener
 * while releasing (as the agent does, so the new process can listen on the same path) and still hears `up`.
 */
import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { realClock } from '../../../src/base/clock.ts'
import { Outgoing } from '../../../agent/handover.ts'
import { HandoverListener, takeOver } from '../../../agent/handover-socket.ts'

/** Bounded generously: what is waited for takes milliseconds, but a loaded CI machine can stall this process for seconds. */
async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

function running(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-handover-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'handover.sock')
  const steps: string[] = []
  let listener: HandoverListener | null = null
  const out = new Outgoing({
    clock: realClock(), upTimeoutMs: 60_000, // no test here waits for it: long, so a stalled process never resumes by timeout
    steps: {
      release: async () => { await listener?.stop(); steps.push('release') },
      letGo: async () => { steps.push('letGo') },
      resume: async (why) => { steps.push(`resume: ${why}`) },
      log: () => undefined,
    },
  })
  listener = new HandoverListener(path, out)
  t.teardown(() => listener?.stop())
  return { path, steps, listener, out }
}

t.test('nothing to take over: no socket, or a stale file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-handover-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.equal(await takeOver(join(dir, 'handover.sock')), null)
})

t.test('hello → released (the path is free again) → up → the old one lets go', async (t) => {
  const { path, steps, listener } = running(t)
  await listener.start()
  const got = await takeOver(path, 4242)
  t.same(got?.result, { type: 'released' })
  t.same(steps, ['release'])
  t.notOk(existsSync(path), 'the socket path is free for the new process')
  got?.handover.up()
  await until(() => steps.includes('letGo'))
  t.same(steps, ['release', 'letGo'])
})

t.test('the new process fails before it is up: the old one resumes', async (t) => {
  const { path, steps, listener } = running(t)
  await listener.start()
  const got = await takeOver(path, 4242)
  got?.handover.failed('overlay: no subnet held after 60000 ms')
  await until(() => steps.length === 2)
  t.match(steps, ['release', /resume: the new agent failed: overlay: no subnet held/])
})
