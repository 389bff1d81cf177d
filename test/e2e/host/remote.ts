/**
 * Part `remote` of test/e2e/host.test.ts: the CLI on one host drives the cluster on another over SSH, as
 * `DOCKER_HOST=ssh://…` and `docker context` do. A real sshd runs inside node1's namespace (its own host key, an
 * authorized client key, both in a temp dir; `SetEnv` gives sessions MESH_DATA_DIR and a PATH whose `mesh` is this
 * checkout's CLI), and the CLI runs in node2's namespace with the system's `ssh`:
 *   - MESH_HOST=ssh://root@node1:2222 `mesh service ls` lists a service created on the manager
 *   - `mesh context create n1 --host ssh://…`, then `mesh --context n1 service ls` and `MESH_CONTEXT=n1 mesh status`
 *     (the agent's control socket, through `mesh dial-stdio --control`) and `mesh dns lookup`
 *   - a key the server does not accept: one line, ssh's own message, exit 1, no hang
 * sshd is killed by PID and the temp dir removed; the only address used is node1's on the lab's underlay.
 */
import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MESH_BIN, killAndReap, waitFor } from '../../support/procs.ts'
import type { HostContext } from './context.ts'

const PORT = 2222
const SERVICE = 'remote-probe'

export async function run(t: Test, ctx: HostContext): Promise<void> {
  const { c } = ctx
  const [node1, node2] = c.lab.nodes
  if (!node1 || !node2) throw new Error('the remote part needs two lab nodes')
  const tmp = mkdtempSync(join(tmpdir(), 'mesh-remote-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))

  // keys: the server's host key, the client's key (authorized), a second client key (not authorized)
  const keygen = (name: string): string => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(tmp, name)])
    return readFileSync(join(tmp, `${name}.pub`), 'utf8').trim()
  }
  const hostKey = keygen('host_ed25519')
  writeFileSync(join(tmp, 'authorized_keys'), `${keygen('id_client')}\n`, { mode: 0o600 })
  keygen('id_wrong')
  writeFileSync(join(tmp, 'known_hosts'), `[${node1.ip}]:${PORT} ${hostKey}\n`)

  // the session's `mesh`: this checkout's CLI under the Node running this test
  mkdirSync(join(tmp, 'bin'))
  writeFileSync(join(tmp, 'bin', 'mesh'), `#!/bin/sh\nexec ${process.execPath} ${MESH_BIN} "$@"\n`)
  chmodSync(join(tmp, 'bin', 'mesh'), 0o755)
  writeFileSync(join(tmp, 'sshd_config'), [
    `ListenAddress ${node1.ip}:${PORT}`,
    `HostKey ${join(tmp, 'host_ed25519')}`,
    `AuthorizedKeysFile ${join(tmp, 'authorized_keys')}`,
    'StrictModes no', 'UsePAM no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password', 'PidFile none', 'LogLevel VERBOSE',
    // sshd sets PATH itself; SetEnv is applied after it (and over anything the client sends)
    `SetEnv MESH_DATA_DIR=${c.dataDir(node1)} PATH=${join(tmp, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
  ].join('\n') + '\n')
  const client = (key: string): string => {
    const file = join(tmp, `ssh_config_${key}`)
    writeFileSync(file, [
      'Host *', `  IdentityFile ${join(tmp, key)}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${join(tmp, 'known_hosts')}`,
      '  GlobalKnownHostsFile /dev/null', '  StrictHostKeyChecking yes', '  LogLevel ERROR',
    ].join('\n') + '\n')
    return `ssh -F ${file}`
  }
  const good = client('id_client')
  const wrong = client('id_wrong')

  // sshd's privilege separation dir is /run/sshd: node1's /run is its own tmpfs, gone with the node
  const mk = await node1.exec(['mkdir', '-p', '-m', '0755', '/run/sshd'])
  t.equal(mk.code, 0, 'privsep dir inside node1')
  const sshd = node1.spawn(['/usr/sbin/sshd', '-D', '-e', '-f', join(tmp, 'sshd_config')], { name: 'sshd' })
  t.teardown(() => killAndReap(sshd))
  await waitFor(() => sshd.stderr().includes(`Server listening on ${node1.ip} port ${PORT}`) || !sshd.running(), 30_000, { what: 'sshd listening' })
  t.ok(sshd.running(), `sshd runs in node1's namespace on ${node1.ip}:${PORT}${sshd.running() ? '' : `: ${sshd.tail()}`}`)

  const created = await c.mesh(['service', 'create', '--name', SERVICE, '--update-monitor', '1s', 'mesh/busybox:latest', 'sleep', '100000'], 180_000)
  t.equal(created.code, 0, `service created on the manager ${created.stderr}`)
  t.teardown(() => c.mesh(['service', 'rm', SERVICE]))

  const url = `ssh://root@${node1.ip}:${PORT}`
  const cfg = join(tmp, 'client-config')
  /** The CLI in node2's namespace, with its own config dir (contexts) and the given environment. */
  const cli = (args: string[], env: Record<string, string>) => node2.exec(['env', `MESH_CONFIG_DIR=${cfg}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    process.execPath, MESH_BIN, ...args], { timeoutMs: 120_000 })

  const ls = await cli(['service', 'ls'], { MESH_HOST: url, MESH_SSH_COMMAND: good })
  t.equal(ls.code, 0, `MESH_HOST=${url} mesh service ls: exit 0 ${ls.stderr}`)
  t.match(ls.stdout, new RegExp(`^ID\\s+NAME\\s+MODE[\\s\\S]*\\s${SERVICE}\\s+replicated`), 'lists the service created on node1')

  const made = await cli(['context', 'create', 'n1', '--host', url, '--description', 'node1 over ssh'], {})
  t.equal(made.code, 0, `mesh context create n1 ${made.stderr}`)
  t.equal(made.stdout, 'n1\n')
  const ctxLs = await cli(['context', 'ls', '--format', '{{.Name}} {{.MeshEndpoint}}'], {})
  t.match(ctxLs.stdout, `n1 ${url}`, 'context ls shows its endpoint')

  const viaFlag = await cli(['--context', 'n1', 'service', 'ls', '--format', '{{.Name}}'], { MESH_SSH_COMMAND: good })
  t.equal(viaFlag.code, 0, `mesh --context n1 service ls ${viaFlag.stderr}`)
  t.match(viaFlag.stdout, new RegExp(`^${SERVICE}$`, 'm'), '--context n1 lists it too')

  const status = await cli(['status'], { MESH_CONTEXT: 'n1', MESH_SSH_COMMAND: good })
  t.equal(status.code, 0, `MESH_CONTEXT=n1 mesh status ${status.stderr}`)
  t.match(status.stdout, new RegExp(`^Node: ${node1.name} \\(${node1.ip.replace(/\./g, '\\.')}:`), 'status is node1\'s agent, through dial-stdio --control')

  const lookup = await cli(['dns', 'lookup', SERVICE, '--json'], { MESH_CONTEXT: 'n1', MESH_SSH_COMMAND: good })
  t.equal(lookup.code, 0, `MESH_CONTEXT=n1 mesh dns lookup ${lookup.stderr}`)
  t.match(JSON.parse(lookup.stdout || '{}'), { rcode: 'NOERROR', answers: [{ type: 'A' }] }, 'node1\'s DNS answers the service\'s VIP')

  const started = Date.now()
  const denied = await cli(['service', 'ls'], { MESH_HOST: url, MESH_SSH_COMMAND: wrong })
  t.equal(denied.code, 1, 'a key sshd does not accept: exit 1')
  t.match(denied.stderr, new RegExp(`^mesh: ${url.replace(/[./]/g, '\\$&')}: root@${node1.ip.replace(/\./g, '\\.')}: Permission denied \\(publickey\\)\\.\\n$`),
    'one line: the host URL and ssh\'s own message')
  t.ok(Date.now() - started < 60_000, 'and no hang')
}
