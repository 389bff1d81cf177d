/**
 * A CLI user who may not connect to an admin socket (manager.sock for `mesh service ls`, the agent's mesh.sock for
 * `mesh status`) gets ONE line naming the socket and the fix, exit 1, no stack, as docker does for docker.sock.
 * The refusal is the kernel's: both sockets are real, root-owned and 0600; the CLI runs in a child process that
 * loads the sources as root and then drops to uid/gid 65534 (nobody) before it connects (as a non-root tester,
 * the sockets are made mode 0000 instead, which refuses their owner too).
 */
import t from 'tap'
import http from 'node:http'
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { listenUnix, socketPermissionMessage } from '../../../src/base/unix-socket.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const isRoot = process.getuid?.() === 0

t.test('the line names the socket, the group and the fix', async (t) => {
  t.equal(socketPermissionMessage('/var/lib/mesh/manager.sock'),
    'permission denied on /var/lib/mesh/manager.sock: run as root, or add your user to the mesh group (sudo usermod -aG mesh $USER, then log in again)')
})

t.test('mesh service ls and mesh status without access: one line each, exit 1', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'mesh-perm-'))
  chmodSync(d, 0o755) // the sockets' own mode is what refuses, not the directory
  const servers: http.Server[] = []
  t.teardown(async () => {
    for (const s of servers) await new Promise((r) => s.close(r))
    rmSync(d, { recursive: true, force: true })
  })
  for (const name of ['manager.sock', 'mesh.sock']) {
    const s = http.createServer((_req, res) => res.end('{}'))
    await listenUnix(s, join(d, name), 0o600)
    if (!isRoot) chmodSync(join(d, name), 0)
    servers.push(s)
  }
  // Load the CLI first (as the test's user), then become nobody, then run the commands.
  const script = `
    const { main } = await import(${JSON.stringify(join(ROOT, 'mesh/main.ts'))})
    if (${isRoot}) { process.setgroups([]); process.setgid(65534); process.setuid(65534) }
    const out = []
    for (const argv of [['service', 'ls'], ['status']]) {
      let err = ''
      const code = await main(argv, { out: () => undefined, err: (s) => { err += s } })
      out.push({ code, err })
    }
    process.stdout.write(JSON.stringify(out))`
  const got = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT, env: { ...process.env, MESH_DATA_DIR: d, MESH_HOST: '', MESH_CONTEXT: '', MESH_CONFIG_DIR: join(d, 'cli-config') }, timeout: 180_000, // tsx compiles the CLI: slow on a loaded machine
    }, (err, stdout, stderr) => err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))
  })
  const [ls, status] = JSON.parse(got) as { code: number; err: string }[]
  const line = (sock: string): string => `mesh: ${socketPermissionMessage(join(d, sock))}\n`
  t.same(ls, { code: 1, err: line('manager.sock') }, 'mesh service ls')
  t.same(status, { code: 1, err: line('mesh.sock') }, 'mesh status')
})
