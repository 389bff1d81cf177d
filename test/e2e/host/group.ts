/**
 * Part `group` of test/e2e/host.test.ts: the `mesh` group opens both admin sockets, as docker's group opens
 * docker.sock. On node1 (the manager), whose agent started while the group existed:
 *   - manager.sock and mesh.sock are root:<group> 0660, the data dir root:<group> 0710 (search only);
 *   - a non-root uid in the group (no account: setpriv with a bare uid/gid) runs `mesh service ls` and `mesh status`;
 *   - a uid outside it gets exactly the permission line for each socket, exit 1, nothing else on stderr.
 * The CLI runs from this checkout, which may sit under a 0700 directory (a CI clone under `mktemp -d`): a directory
 * on the way to it or to the data dir that others cannot search gets o+x for the part, and its mode back after;
 * the CLI runs with cwd `/` (no read access needed on the checkout's parents).
 */
import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { socketPermissionMessage } from '../../../src/base/unix-socket.ts'
import type { HostContext } from './context.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MESH_BIN = join(ROOT, 'bin/mesh.js')
/** Bare ids with no passwd/group entry: a member of the group, and an outsider. */
const MEMBER = 64_101
const OUTSIDER = 64_102

/** Give o+x to every directory from `path` up to / that lacks it; returns how to undo that. */
function openPathToOthers(paths: string[]): () => void {
  const changed = new Map<string, number>()
  for (const p of paths) {
    for (let dir = p; ; dir = dirname(dir)) {
      const mode = statSync(dir).mode & 0o7777
      if ((mode & 0o001) === 0 && !changed.has(dir)) {
        changed.set(dir, mode)
        chmodSync(dir, mode | 0o001)
      }
      if (dir === '/') break
    }
  }
  return () => { for (const [dir, mode] of changed) chmodSync(dir, mode) }
}

export async function run(t: Test, ctx: HostContext): Promise<void> {
  const { c, group } = ctx
  const node = c.manager
  const dataDir = c.dataDir(node)
  const gid = Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2])
  t.ok(Number.isInteger(gid) && gid > 0, `group ${group} has gid ${gid}`)

  // The sockets as the agent made them.
  const stat = await node.exec(['stat', '-c', '%n %U:%G %a', dataDir, join(dataDir, 'manager.sock'), join(dataDir, 'mesh.sock')])
  t.equal(stat.code, 0, stat.stderr)
  t.same(stat.stdout.trim().split('\n'), [
    `${dataDir} root:${group} 710`,
    `${join(dataDir, 'manager.sock')} root:${group} 660`,
    `${join(dataDir, 'mesh.sock')} root:${group} 660`,
  ], 'sockets root:mesh 0660, the data dir search-only to the group')

  // The checkout (and node_modules, maybe a symlink elsewhere) and the data dir's parents, searchable for the part.
  const restore = openPathToOthers([ROOT, realpathSync(join(ROOT, 'node_modules')), dirname(dataDir)])
  t.teardown(restore)
  // Each uid gets its own HOME and TMPDIR (tsx's cache), removed after: nothing left behind.
  const homes: string[] = []
  t.teardown(() => { for (const h of homes) rmSync(h, { recursive: true, force: true }) })
  const as = async (uid: number, groups: number[], args: string[]) => {
    const home = mkdtempSync('/tmp/mesh-group-')
    homes.push(home)
    chownSync(home, uid, uid)
    const ids = [`--reuid=${uid}`, `--regid=${uid}`, groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups', '--inh-caps=-all']
    // `env -C /`: the exec'd cwd is the checkout as the host's mount namespace sees it, which inside the node is
    // "unreachable" to getcwd, whose fallback then needs read access on every parent; `/` of the node is reachable.
    return node.exec(['setpriv', ...ids, 'env', '-i', '-C', '/', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, `HOME=${home}`, `TMPDIR=${home}`,
      `MESH_DATA_DIR=${dataDir}`, 'node', MESH_BIN, ...args], { timeoutMs: 60_000 })
  }

  const ls = await as(MEMBER, [gid], ['service', 'ls'])
  t.equal(ls.code, 0, `a uid in the ${group} group: mesh service ls exits 0 (${ls.stderr.trim()})`)
  t.match(ls.stdout.split('\n')[0] ?? '', /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS/, 'the table header')
  const status = await as(MEMBER, [gid], ['status'])
  t.equal(status.code, 0, `a uid in the ${group} group: mesh status exits 0 (${status.stderr.trim()})`)
  t.match(status.stdout, node.name, 'the status names the node')

  const denied = await as(OUTSIDER, [], ['service', 'ls'])
  t.equal(denied.code, 1, 'a uid outside the group: exit 1')
  t.equal(denied.stderr, `mesh: ${socketPermissionMessage(join(dataDir, 'manager.sock'))}\n`, 'exactly the permission line')
  t.equal(denied.stdout, '', 'nothing on stdout')
  const deniedStatus = await as(OUTSIDER, [], ['status'])
  t.equal(deniedStatus.code, 1, 'mesh status outside the group: exit 1')
  t.equal(deniedStatus.stderr, `mesh: ${socketPermissionMessage(join(dataDir, 'mesh.sock'))}\n`, 'the same line for the control socket')
}
