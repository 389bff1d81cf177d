import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EtcdMember, type MemberEvent, memberConfig } from '../../../../src/manager/etcd/index.ts'
import { isMemberCommand } from '../../../../src/manager/etcd/orphan.ts'

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

t.test('an etcd a killed agent left running on the data dir is stopped before a new one starts', async (t) => {
  const bin = script('orphan.sh', "trap '' TERM; while :; do sleep 0.1; done")
  const m = member('orphan', bin, { stopTimeoutMs: 300 })
  // What a killed agent leaves: its etcd still running on the data dir, the PID file naming it.
  const orphan = spawn(bin, [`--name=orphan`, `--data-dir=${m.config.dataDir}`], { stdio: 'ignore' })
  const orphanExit = new Promise<NodeJS.Signals | null>((r) => orphan.once('exit', (_code, signal) => r(signal)))
  t.teardown(() => orphan.kill('SIGKILL'))
  // Its shell ignores SIGTERM only once it has run `trap` (a loaded machine may not have run it yet).
  await until('the orphan ignores SIGTERM', () => ignoresTerm(orphan.pid as number))
  mkdirSync(m.config.dataDir, { recursive: true })
  writeFileSync(`${m.config.dataDir}.pid`, `${orphan.pid}\n`)
  t.teardown(() => m.stop())
  await m.start()
  const bounded = new Promise<string>((r) => setTimeout(() => r('still running'), 15_000).unref())
  t.equal(await Promise.race([orphanExit, bounded]), 'SIGKILL', 'the orphan was stopped (SIGKILL after ignoring SIGTERM)')
  await until('the new PID recorded', () => readFileSync(`${m.config.dataDir}.pid`, 'utf8').trim() === String(m.pid()))
  await m.stop()
  t.notOk(existsSync(`${m.config.dataDir}.pid`), 'PID file removed on stop')
})

t.test('a PID file naming a process that is not an etcd on this data dir is left alone', async (t) => {
  const m = member('reused', script('reused.sh', 'exec sleep 30'))
  const other = member('other', script('other.sh', "echo up >&2; while :; do sleep 0.1; done"))
  await other.start()
  t.teardown(() => other.stop())
  await until('the other running', () => other.logs().includes('up'))
  mkdirSync(m.config.dataDir, { recursive: true })
  writeFileSync(`${m.config.dataDir}.pid`, `${other.pid()}\n`) // a PID reused by another member's process
  await m.start()
  t.doesNotThrow(() => process.kill(other.pid() as number, 0), 'the other process lives')
  await m.stop()
  t.ok(isMemberCommand(['etcd', '--name=a', '--data-dir=/d/etcd'], '/d/etcd'))
  t.notOk(isMemberCommand(['etcd', '--name=a', '--data-dir=/d/etcd2'], '/d/etcd'))
  t.notOk(isMemberCommand(['sleep', '30'], '/d/etcd'))
})

t.test('stop after a start that never happened is harmless', async (t) => {
  const m = member('never', script('never.sh', 'exit 0'))
  await m.stop()
  t.equal(m.starts(), 0)
})

/** /proc/PID/status's SigIgn has SIGTERM (15: bit 14). */
function ignoresTerm(pid: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('SigIgn:'))
    return line !== undefined && (BigInt(`0x${line.slice(7).trim()}`) & (1n << 14n)) !== 0n
  } catch {
    return false
  }
}
