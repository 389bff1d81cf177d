/**
 * The ssh:// transport without sshd: `mesh dial-stdio`'s relay (half-close both ways, one line when there is no
 * socket), and the CLI's HTTP over a command's stdio (CommandConn) with a stand-in for ssh that runs the remote
 * command locally — the JSON answer, ssh's failure as one line, the 127 hint, a timeout that kills the command.
 */
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { CommandConn, ManagerClient, jsonRequest, lastErrorLine } from '../../../src/api/index.ts'
import { relayStdio } from '../../../mesh/dial-stdio.ts'
import { MESH_BIN } from '../../support/procs.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-cconn-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/** Stands in for ssh: skips ssh's options up to `--`, then the host, and runs the remote command with `mesh` = this checkout's CLI. */
const fakeSsh = join(dir, 'fake-ssh')
writeFileSync(fakeSsh, `#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift 2\n[ "$1" = mesh ] && shift\nexec ${process.execPath} ${MESH_BIN} "$@"\n`)
chmodSync(fakeSsh, 0o755)

function collect(s: PassThrough): () => string {
  const chunks: Buffer[] = []
  s.on('data', (b: Buffer) => chunks.push(b))
  return () => Buffer.concat(chunks).toString('utf8')
}

t.test('relayStdio: stdin\'s end half-closes the socket, the answer still comes, then it ends', async (t) => {
  const sock = join(dir, 'echo.sock')
  // answers only once the client has half-closed: proves the write side ended while the read side stayed open
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    let got = ''
    c.on('data', (b) => { got += b.toString() })
    c.on('end', () => c.end(`got ${got}; bye`))
  }).listen(sock)
  t.teardown(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const input = new PassThrough()
  const output = new PassThrough()
  const text = collect(output)
  const done = relayStdio(sock, input, output)
  input.end('hello')
  await done
  t.equal(text(), 'got hello; bye')
  t.ok(input.destroyed, 'stdin is let go, so the process can exit')
})

t.test('relayStdio: the socket ending ends the relay though stdin stays open', async (t) => {
  const sock = join(dir, 'closer.sock')
  const server = net.createServer((c) => c.end('early')).listen(sock)
  t.teardown(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const input = new PassThrough()
  const output = new PassThrough()
  const text = collect(output)
  await relayStdio(sock, input, output)
  t.equal(text(), 'early')
})

t.test('relayStdio: no socket is one line', async (t) => {
  await t.rejects(relayStdio(join(dir, 'none', 'manager.sock'), new PassThrough(), new PassThrough()), {
    code: 'MESH_ERR_CONTROL', message: `cannot reach the manager at ${join(dir, 'none', 'manager.sock')}: is this a manager node running \`mesh agent --init\`?`,
  })
  await t.rejects(relayStdio(join(dir, 'none', 'mesh.sock'), new PassThrough(), new PassThrough(), 'agent'), { message: /: is the agent running on this host\?$/ })
})

t.test('lastErrorLine: the last line that says something', async (t) => {
  t.equal(lastErrorLine("Warning: Permanently added '[h]:22' (ED25519) to the list of known hosts.\r\nroot@h: Permission denied (publickey).\r\n"), 'root@h: Permission denied (publickey).')
  t.equal(lastErrorLine('\n\n'), '')
})

t.test('ManagerClient over ssh://: HTTP through `mesh dial-stdio` on the other end', async (t) => {
  const data = join(dir, 'data')
  mkdirSync(data)
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (b) => { body += b })
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body} ${req.headers.connection}`)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ok: true }))
    })
  }).listen(join(data, 'manager.sock'))
  t.teardown(() => server.close())
  await new Promise((r) => server.once('listening', r))
  const saved = process.env.MESH_DATA_DIR
  process.env.MESH_DATA_DIR = data // the "remote" side finds its data dir in its own environment
  t.teardown(() => { if (saved === undefined) delete process.env.MESH_DATA_DIR; else process.env.MESH_DATA_DIR = saved })
  const c = new ManagerClient({ host: 'ssh://root@h:2222', sshCommand: fakeSsh })
  t.equal(c.where, 'ssh://root@h:2222')
  t.same(await c.request('POST', '/v1/services', { name: 'web' }), { ok: true })
  t.same(seen, ['POST /v1/services {"name":"web"} close'], 'one request per connection (Connection: close)')
})

t.test('ssh failing: its own message, one line, with a hint for a missing mesh', async (t) => {
  const fails = (code: number, msg: string) => `sh -c 'printf "%s\\n" "${msg}" >&2; exit ${code}'`
  const denied = new ManagerClient({ host: 'ssh://root@h:2222', sshCommand: fails(255, 'root@h: Permission denied (publickey).') })
  await t.rejects(denied.request('GET', '/v1/services'), { code: 'MESH_ERR_CONTROL', message: 'ssh://root@h:2222: root@h: Permission denied (publickey).' })
  const noMesh = new ManagerClient({ host: 'ssh://h', sshCommand: fails(127, 'bash: line 1: mesh: command not found') })
  await t.rejects(noMesh.request('GET', '/v1/services'), {
    message: 'ssh://h: bash: line 1: mesh: command not found (is mesh installed and on the PATH of non-interactive ssh sessions there?)',
  })
  const remote = new ManagerClient({ host: 'ssh://h', sshCommand: fails(1, 'mesh: cannot reach the manager at /var/lib/mesh/manager.sock: is this a manager node?') })
  await t.rejects(remote.request('GET', '/v1/services'), { message: 'ssh://h: cannot reach the manager at /var/lib/mesh/manager.sock: is this a manager node?' })
  const missing = new ManagerClient({ host: 'ssh://h', sshCommand: join(dir, 'no-such-ssh') })
  await t.rejects(missing.request('GET', '/v1/services'), { message: /^ssh:\/\/h: cannot run .*no-such-ssh: spawn .* ENOENT$/ })
})

t.test('a command that never answers: the request times out and the command is killed', async (t) => {
  let conn: CommandConn | undefined
  const started = Date.now()
  await t.rejects(jsonRequest({ dial: () => (conn = new CommandConn(['sleep', '30'])) }, { method: 'GET', path: '/', timeoutMs: 300 }), { code: 'ETIMEDOUT' })
  t.ok(Date.now() - started < 25_000, 'no hang (the command sleeps 30 s)')
  const pid = conn?.pid as number
  // Until it is reaped (a killed child is a zombie until this process sees its exit), bounded at 20 s rather than a
  // fixed 200 ms a loaded machine may spend elsewhere.
  const gone = () => { try { process.kill(pid, 0); return false } catch { return true } }
  for (const end = Date.now() + 20_000; !gone() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20))
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the command is gone')
})

t.test('a stream over ssh:// (events, logs -f): lines as they come; cancelling ends the command and its socket', async (t) => {
  const data = join(dir, 'stream')
  mkdirSync(data)
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/x-ndjson')
    res.write('{"n":1}\n')
    const timer = setInterval(() => res.write('{"n":2}\n'), 100)
    res.on('close', () => clearInterval(timer))
  }).listen(join(data, 'manager.sock'))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  await new Promise((r) => server.once('listening', r))
  const saved = process.env.MESH_DATA_DIR
  process.env.MESH_DATA_DIR = data
  t.teardown(() => { if (saved === undefined) delete process.env.MESH_DATA_DIR; else process.env.MESH_DATA_DIR = saved })
  const c = new ManagerClient({ host: 'ssh://h', sshCommand: fakeSsh })
  const ac = new AbortController()
  const seen: unknown[] = []
  const end = await c.stream('/v1/events', (v) => {
    seen.push(v)
    if (seen.length === 3) ac.abort()
  }, ac.signal)
  t.equal(end, 'cancelled')
  t.same(seen.slice(0, 3), [{ n: 1 }, { n: 2 }, { n: 2 }], 'lines arrive while the stream is open')
  const open = () => new Promise<number>((r) => server.getConnections((_e, n) => r(n)))
  const deadline = Date.now() + 10_000
  while ((await open()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  t.equal(await open(), 0, 'the relay on the other end is gone: nothing holds the manager socket')
})
