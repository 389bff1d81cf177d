/**
 * Dashboard sessions and login codes (src/manager/sessions.ts) on a fake clock: codes are single-use and expire,
 * sessions end on idle time, on their absolute lifetime and at logout, a cap ends the least recently used, login
 * attempts are rate-limited per source, and nothing secret is kept.
 */
import t from 'tap'
import { DashboardSessions } from '../../../src/manager/sessions.ts'
import { dashboardLimits } from '../../../src/config/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'

const MIN = 60_000

function setup(limits: Partial<ReturnType<typeof dashboardLimits>> = {}) {
  const clock = new FakeClock()
  const s = new DashboardSessions({ clock, limits: { ...dashboardLimits(), ...limits } })
  return { clock, s }
}

t.test('defaults: 30 min idle, 8 h lifetime, 5 min codes, a few attempts a minute', async (t) => {
  const d = dashboardLimits()
  t.match(d, { sessionIdleMs: 30 * MIN, sessionLifetimeMs: 8 * 60 * MIN, loginCodeTtlMs: 5 * MIN })
  t.ok(d.loginAttemptsPerMinute >= 1 && d.loginAttemptsPerMinute <= 10)
  t.ok(Object.isFrozen(d))
})

t.test('a code opens one session, once; the session id is 256 random bits', async (t) => {
  const { s } = setup()
  const { code, expiresInMs } = s.mintCode()
  t.match(code, /^[0-9a-f]{32}$/)
  t.equal(expiresInMs, 5 * MIN)
  const id = s.login(` ${code}\n`)
  t.type(id, 'string')
  t.equal(Buffer.from(id as string, 'base64url').length, 32)
  t.ok(s.check(id as string))
  t.equal(s.login(code), null, 'used: refused')
  t.equal(s.size, 1, 'no second session')
  t.equal(s.login('0'.repeat(32)), null, 'unknown code: refused')
  t.equal(s.login(''), null)
})

t.test('a code expires after 5 minutes', async (t) => {
  const { clock, s } = setup()
  const early = s.mintCode().code
  const late = s.mintCode().code
  await clock.advance(5 * MIN - 1)
  t.type(s.login(early), 'string', 'just in time')
  await clock.advance(1)
  t.equal(s.login(late), null, 'at 5 minutes: expired')
})

t.test('unused codes are capped: the oldest goes', async (t) => {
  const { s } = setup({ maxLoginCodes: 2 })
  const a = s.mintCode().code
  const b = s.mintCode().code
  const c = s.mintCode().code
  t.equal(s.login(a), null)
  t.type(s.login(b), 'string')
  t.type(s.login(c), 'string')
})

t.test('idle timeout: a request restarts it, a stream check does not', async (t) => {
  const { clock, s } = setup()
  const id = s.login(s.mintCode().code) as string
  await clock.advance(29 * MIN)
  t.ok(s.check(id), 'used at 29 min')
  await clock.advance(29 * MIN)
  t.ok(s.check(id, false), '29 min after the last use: live (checked, not touched)')
  await clock.advance(1 * MIN)
  t.notOk(s.check(id, false), '30 min after the last use: over')
  t.notOk(s.check(id), 'and stays over')
  t.equal(s.size, 0)
})

t.test('absolute lifetime: 8 h after login even when used all along', async (t) => {
  const { clock, s } = setup()
  const id = s.login(s.mintCode().code) as string
  for (let i = 0; i < 31; i++) {
    await clock.advance(15 * MIN)
    t.ok(s.check(id), `used at ${(i + 1) * 15} min`)
  }
  await clock.advance(15 * MIN)
  t.notOk(s.check(id), 'at 8 h: over')
})

t.test('logout ends the session server-side', async (t) => {
  const { s } = setup()
  const id = s.login(s.mintCode().code) as string
  const other = s.login(s.mintCode().code) as string
  t.ok(s.logout(id))
  t.notOk(s.check(id), 'the old id no longer works')
  t.notOk(s.logout(id), 'twice: nothing to end')
  t.ok(s.check(other), 'other sessions live on')
  t.notOk(s.check(undefined))
  t.notOk(s.check('x'))
})

t.test('a cap on live sessions: the least recently used ends', async (t) => {
  const { clock, s } = setup({ maxSessions: 2 })
  const a = s.login(s.mintCode().code) as string
  await clock.advance(1)
  const b = s.login(s.mintCode().code) as string
  await clock.advance(1)
  t.ok(s.check(a), 'a used after b')
  const c = s.login(s.mintCode().code) as string
  t.equal(s.size, 2)
  t.ok(s.check(a))
  t.notOk(s.check(b), 'b was the least recently used')
  t.ok(s.check(c))
})

t.test('login attempts are rate-limited per source, per minute', async (t) => {
  const { clock, s } = setup({ loginAttemptsPerMinute: 3 })
  const got = [1, 2, 3, 4, 5].map(() => s.allowAttempt('192.0.2.1'))
  t.same(got, [true, true, true, false, false])
  t.ok(s.allowAttempt('192.0.2.2'), 'another source has its own budget')
  await clock.advance(MIN)
  t.ok(s.allowAttempt('192.0.2.1'), 'a minute later: allowed again')
})

t.test('the attempt table is capped: the oldest source is forgotten', async (t) => {
  const { s } = setup({ loginAttemptsPerMinute: 1, maxLoginSources: 2 })
  t.ok(s.allowAttempt('a'))
  t.ok(s.allowAttempt('b'))
  t.notOk(s.allowAttempt('b'))
  t.ok(s.allowAttempt('c'), 'a third source pushes out the oldest')
  t.notOk(s.allowAttempt('b'), 'b is still counted')
})

t.test('codes and session ids come from the injected random source and are kept hashed only', async (t) => {
  const clock = new FakeClock()
  let n = 0
  const s = new DashboardSessions({ clock, randomBytes: (k) => Buffer.alloc(k, ++n) })
  const { code } = s.mintCode()
  t.equal(code, '01'.repeat(16))
  const id = s.login(code) as string
  t.equal(id, Buffer.alloc(32, 2).toString('base64url'))
  t.notMatch(JSON.stringify(s), code)
  t.notMatch(JSON.stringify(s), id)
})
