import t from 'tap'
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EtcdMember, type MemberEvent, memberConfig } from '../../../../src/manager/etcd/index.ts'

/**
 * The supervisor's lifecycle with stand-in binaries (shell scripts, no etcd): a crash is restarted, stop() ends a
 * process that ignores SIGTERM with SIGKILL, stderr lands in the ring, and wipe() removes the data dir.
 */
const dir = mkdtempSync(join(tmpdir(), 'mesh-etcd-sup-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function script(name: string, body: string): string {
  const p = join(dir, name)
  writeFileSync(p, `#!/bin/sh\n${body}\n`)
  chmodSync(p, 0o755)
  return p
}

function member(name: string, bin: string, o: { stopTimeoutMs?: number } = {}): EtcdMember {
  const config = memberConfig({ name, addr: '127.0.0.1', dataDir: join(dir, name, 'etcd'), clusterToken: 'c', tls: { caFile: 'ca', certFile: 'c', keyFile: 'k' } })
  return new EtcdMember({ config, mode: { kind: 'init' }, bin, ...o })
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('a process that dies is restarted, and its stderr is kept', async (t) => {
  const m = member('crash', script('crash.sh', 'echo "started with $1" >&2; exit 3'))
  const events: MemberEvent[] = []
  m.onEvent((e) => events.push(e))
  t.teardown(() => m.stop())
  await m.start()
  t.equal(statSync(m.config.dataDir).mode & 0o777, 0o700, 'data dir made 0700')
  await until('a restart', () => m.starts() >= 2)
  await m.stop()
  const kinds = events.map((e) => e.event)
  t.same(kinds.slice(0, 4), ['started', 'exited', 'restarting', 'started'])
  t.match(events[1], { event: 'exited', code: 3 })
  t.match(events[2], { event: 'restarting', delayMs: 500, failures: 1 })
  t.match(m.logs()[0], /^started with --name=crash$/)
  const starts = m.starts()
  await new Promise((r) => setTimeout(r, 700))
  t.equal(m.starts(), starts, 'no restart after stop()')
})

t.test('stop: SIGTERM, then SIGKILL for a process that ignores it', async (t) => {
  const m = member('stubborn', script('stubborn.sh', "trap '' TERM; echo ready >&2; while :; do sleep 0.1; done"), { stopTimeoutMs: 300 })
  const events: MemberEvent[] = []
  m.onEvent((e) => events.push(e))
  await m.start()
  await until('the script running', () => m.logs().includes('ready'))
  const pid = m.pid() as number
  await m.stop()
  t.match(events.find((e) => e.event === 'exited'), { event: 'exited', signal: 'SIGKILL' })
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'gone')
  t.equal(m.pid(), undefined)
  t.equal(m.starts(), 1, 'not restarted')
})

t.test('stop: a process that exits on SIGTERM is not killed', async (t) => {
  const m = member('polite', script('polite.sh', 'echo ready >&2; exec sleep 30'))
  const events: MemberEvent[] = []
  m.onEvent((e) => events.push(e))
  await m.start()
  await until('the script running', () => m.logs().includes('ready'))
  await m.stop()
  t.match(events.find((e) => e.event === 'exited'), { signal: 'SIGTERM' })
})

t.test('wipe: refused while running, removes the data dir once stopped', async (t) => {
  const m = member('wiped', script('wiped.sh', 'exec sleep 30'))
  await m.start()
  await t.rejects(m.wipe(), { code: 'MESH_ERR_ETCD_MEMBER', message: /stop it before wiping/ })
  await m.stop()
  await m.wipe()
  t.notOk(existsSync(m.config.dataDir))
})

t.test('binArgs come before etcd\'s flags (a wrapper that execs etcd)', async (t) => {
  const m = new EtcdMember({
    config: memberConfig({ name: 'wrapped', addr: '127.0.0.1', dataDir: join(dir, 'wrapped', 'etcd'), clusterToken: 'c', tls: { caFile: 'ca', certFile: 'c', keyFile: 'k' } }),
    mode: { kind: 'init' }, bin: script('wrapper.sh', 'echo "$1 $2 $3" >&2; exec sleep 30'), binArgs: ['--wrap', 'etcd'],
  })
  await m.start()
  await until('the wrapper running', () => m.logs().length > 0)
  await m.stop()
  t.equal(m.logs()[0], '--wrap etcd --name=wrapped')
})

t.test('stop after a start that never happened is harmless', async (t) => {
  const m = member('never', script('never.sh', 'exit 0'))
  await m.stop()
  t.equal(m.starts(), 0)
})
