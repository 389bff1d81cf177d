/**
 * Self-test of the multi-node lab (test/lab): three nodes, each with its own engine; a container served over a
 * user-defined network; node-to-node traffic on the underlay; no way out of the lab; wireguard-go UAPI sockets
 * private to a node; kill-node / restart-node; and a `down` that leaves no namespace, process, mount or cgroup.
 *
 * Addresses: the lab's own namespaces only (192.168.77.0/24 underlay, 172.31.I.0/24 container networks), plus
 * 192.0.2.1 (TEST-NET-1), which must be unreachable from inside. Needs root; skipped otherwise.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs'
import t from 'tap'
import { createLab, isRoot, LAB_IMAGE, LAB_NETWORK, LAB_SH, type Lab } from '../lab/index.ts'
import { run, stop, waitExit, waitFor } from '../support/procs.ts'

interface Recorded {
  pids: Array<{ pid: number; start: string }>
  cgroups: string[]
}

/** What the state file says the run created: checked after `down`. */
function readState(lab: Lab): Recorded {
  const rec: Recorded = { pids: [], cgroups: [] }
  for (const line of readFileSync(`${lab.stateDir}/state`, 'utf8').split('\n')) {
    const f = line.split(' ')
    if (f[0] === 'pid') rec.pids.push({ pid: Number(f[3]), start: f[4] ?? '' })
    if (f[0] === 'cgroup') rec.cgroups.push(f[2] ?? '')
  }
  return rec
}

/** The process exists and is not a zombie (PID 1 here reaps orphans late); with `start`, it is the same one. */
function liveProcess(pid: number, start?: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return f[0] !== 'Z' && f[0] !== 'X' && (start === undefined || f[19] === start)
  } catch {
    return false
  }
}

/**
 * Holds every recorded namespace open until `release()`. The kernel reuses a freed namespace's inode for the next
 * one made (another lab or a container started beside this test), so after `down` a recorded inode could name
 * somebody else's namespace; an open fd keeps ours alive, and its inode ours, while the test looks for processes.
 * A namespace that no longer carries its recorded inode is not pinned (and not looked for).
 */
function pinNamespaces(lab: Lab): { inodes: string[]; current: number; release: () => void } {
  const fds: number[] = []
  const inodes: string[] = []
  // A node killed and restarted has a second set of nsino lines: its namespaces now are the last ones recorded.
  const last = new Map<string, string>()
  for (const line of readFileSync(`${lab.stateDir}/state`, 'utf8').split('\n')) {
    const f = line.split(' ')
    if (f[0] === 'nsino' && (f[2] === 'net' || f[2] === 'mnt')) last.set(`${f[1]} ${f[2]}`, f[3] ?? '')
  }
  for (const [key, ino] of last) {
    const [i, type] = key.split(' ') as [string, string]
    const path = type === 'net' ? `/run/netns/${lab.prefix}-${i === '0' ? 'net' : `n${i}`}` : `${lab.stateDir}/pins/n${i}.mnt`
    try {
      const fd = openSync(path, 'r')
      if (String(fstatSync(fd).ino) === ino) {
        fds.push(fd)
        inodes.push(`${type}:[${ino}]`)
      } else closeSync(fd)
    } catch {
      // not made (or already gone): nothing of ours to look for there
    }
  }
  return { inodes, current: last.size, release: () => fds.splice(0).forEach((fd) => closeSync(fd)) }
}

/** Live PIDs whose net or mnt namespace is one of `inodes` ("net:[4026532001]"). */
function processesIn(inodes: string[]): number[] {
  const want = new Set(inodes)
  const found = new Set<number>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    for (const ns of ['net', 'mnt']) {
      try {
        if (want.has(readlinkSync(`/proc/${d}/ns/${ns}`))) found.add(Number(d))
      } catch {
        // gone meanwhile
      }
    }
  }
  return [...found].filter((pid) => liveProcess(pid))
}

if (!isRoot()) {
  t.plan(0, 'skip: the lab needs root (network namespaces, mounts, cgroups)')
} else {
  t.setTimeout(240_000)
  const lab = await createLab({ nodes: 3 })
  t.teardown(() => lab.down())
  t.comment(`up 3: ${lab.upMs} ms (prefix ${lab.prefix})`)
  const [n1, n2, n3] = [lab.node(1), lab.node(2), lab.node(3)]

  t.test('every engine answers /_ping and has its own engine ID', async (t) => {
    const ids = new Set<string>()
    for (const n of lab.nodes) {
      t.equal((await n.api('GET', '/_ping')).body, 'OK', `${n.name} /_ping`)
      const info = JSON.parse((await n.api('GET', '/info')).body) as { ID: string; Name: string }
      t.equal(info.Name, n.name, `${n.name} engine runs with the node's hostname`)
      ids.add(info.ID)
      const img = await n.api('GET', `/images/${LAB_IMAGE}/json`)
      t.equal(img.status, 200, `${n.name} has ${LAB_IMAGE}`)
    }
    t.equal(ids.size, lab.nodes.length, 'engine IDs are distinct')
  })

  t.test('each node has its own hostname, underlay address and /run', async (t) => {
    for (const n of lab.nodes) {
      const r = await n.exec(['sh', '-c', 'hostname; ip -o -4 addr show eth0; cat /etc/hostname; test -S /run/docker.sock && echo sock'])
      t.equal(r.code, 0, `${n.name}: exec works`)
      t.match(r.stdout, new RegExp(`^${n.name}\\n.*inet ${n.ip.replaceAll('.', '\\.')}/24.*\\n${n.name}\\nsock\\n$`, 's'), `${n.name}: hostname, ${n.ip}, own docker.sock`)
    }
  })

  t.test('a container runs httpd on a user-defined network, reachable from its node', async (t) => {
    const started = await n1.docker(['run', '-d', '--name', 'web1', '--network', LAB_NETWORK, LAB_IMAGE,
      'sh', '-c', 'mkdir -p /www && echo hello-from-node1 >/www/index.html && exec httpd -f -p 80 -h /www'])
    t.equal(started.code, 0, `docker run: ${started.stderr}`)
    const ip = (await n1.docker(['inspect', '-f', `{{.NetworkSettings.Networks.${LAB_NETWORK}.IPAddress}}`, 'web1'])).stdout.trim()
    t.match(ip, /^172\.31\.1\.\d+$/, 'container address on the lab network (172.31.1.0/24)')
    // busybox wget -T segfaults (1.35); bound it with timeout(1) instead.
    const body = await waitFor(async () => {
      const r = await n1.exec(['timeout', '5', 'busybox', 'wget', '-qO-', `http://${ip}/`])
      return r.code === 0 && r.stdout
    }, 15_000, { intervalMs: 200, what: 'httpd in web1' })
    t.equal(body, 'hello-from-node1\n', 'HTTP from node1 to the container')
    const byName = await n1.docker(['run', '--rm', '--network', LAB_NETWORK, LAB_IMAGE, 'timeout', '5', 'wget', '-qO-', 'http://web1/'])
    t.equal(byName.stdout, 'hello-from-node1\n', 'HTTP from another container by name (embedded DNS)')
  })

  t.test('node1 reaches node2 on the underlay', async (t) => {
    const r = await n1.exec(['busybox', 'ping', '-c', '1', '-W', '2', n2.ip])
    t.equal(r.code, 0, `ping ${n2.ip}: ${r.stdout}${r.stderr}`)
  })

  t.test('nothing leaves the lab', async (t) => {
    const r = await n2.docker(['run', '--rm', '--network', LAB_NETWORK, LAB_IMAGE, 'timeout', '5', 'wget', '-qO-', 'http://192.0.2.1/'])
    t.not(r.code, 0, 'a container on node2 cannot reach an address outside the lab')
    t.match(r.stderr, /unreachable|No route/i, `fails at once with an ICMP error: ${r.stderr.trim()}`)
    const routes = (await lab.client.exec(['ip', '-4', 'route'])).stdout
    t.match(routes, /^unreachable default/m, 'labnet: the only default route is unreachable')
    t.notMatch(routes, /default via/, 'labnet: no gateway anywhere')
    const links = (await lab.client.exec(['ip', '-o', 'link'])).stdout
    const names = [...links.matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1]).sort()
    t.same(names, ['lab0', 'lo', 'v1', 'v2', 'v3'], 'labnet: only the bridge and the node veths (no uplink)')
  })

  t.test('wireguard-go: a tun device and UAPI socket private to the node', async (t) => {
    const dev = `wt${lab.prefix.slice(-6)}`
    const wg = n1.spawn(['wireguard-go', '-f', dev])
    t.teardown(() => stop(wg, 'SIGTERM', 5_000))
    await waitFor(async () => (await n1.exec(['test', '-S', `/var/run/wireguard/${dev}.sock`])).code === 0, 10_000,
      { intervalMs: 100, what: `${dev}.sock in node1` })
    t.not(readlinkSync(`/proc/${wg.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'wireguard-go runs in a node netns')
    t.ok(existsSync(wg.logPath) && wg.logPath.startsWith(n1.dir), `its output is also logged in the node dir (${wg.logPath})`)
    const show = await n1.exec(['wg', 'show', dev, 'listen-port'])
    t.equal(show.code, 0, `wg talks to it over UAPI: ${show.stderr}`)
    t.match(show.stdout, /^\d+\n$/, 'wg show listen-port')
    t.equal((await n1.exec(['ip', 'link', 'show', dev])).code, 0, 'tun device exists in node1')
    t.not((await n2.exec(['test', '-e', `/var/run/wireguard/${dev}.sock`])).code, 0, 'socket not visible from node2')
    t.not((await n2.exec(['ip', 'link', 'show', dev])).code, 0, 'device not in node2')
    t.notOk(existsSync(`/run/wireguard/${dev}.sock`), 'socket not visible from the host')
  })

  t.test('kill-node takes a node off the underlay; restart-node brings it back', async (t) => {
    const before = JSON.parse((await n3.api('GET', '/info')).body) as { ID: string }
    await lab.killNode(n3)
    t.equal(n3.alive, false, 'marked dead')
    t.not((await n1.exec(['busybox', 'ping', '-c', '1', '-W', '1', n3.ip])).code, 0, 'node3 no longer answers')
    await t.rejects(n3.api('GET', '/_ping', undefined, 2_000), 'its engine is gone')
    await lab.restartNode(n3)
    t.equal((await n3.api('GET', '/_ping')).body, 'OK', 'engine back')
    const after = JSON.parse((await n3.api('GET', '/info')).body) as { ID: string }
    t.equal(after.ID, before.ID, 'same engine identity (data and /etc/docker kept)')
    t.equal((await n1.exec(['busybox', 'ping', '-c', '1', '-W', '2', n3.ip])).code, 0, 'node3 answers again')
  })

  t.test('down leaves no namespace, process, mount or cgroup behind', async (t) => {
    for (const s of await lab.stats()) {
      t.comment(`${s.node}: ${s.memoryMiB} MiB memory cgroup, ${s.rssMiB} MiB rss, ${s.pssMiB} MiB pss, ${s.tasks} tasks`)
    }
    const sleeper = n2.spawn(['sleep', '600'])
    await n2.docker(['run', '-d', '--network', LAB_NETWORK, LAB_IMAGE, 'sleep', '600'])
    const rec = readState(lab)
    t.ok(rec.pids.length >= 7, `state records the daemons and spawned processes (${rec.pids.length})`)
    const pinned = pinNamespaces(lab)
    t.teardown(pinned.release)
    t.equal(pinned.inodes.length, pinned.current, `every namespace of the run held open for the check (${pinned.inodes.length})`)
    const started = Date.now()
    await lab.down()
    t.comment(`down: ${Date.now() - started} ms`)
    const netns = (await run('ip', ['netns', 'list'])).stdout
    t.notMatch(netns, new RegExp(`^${lab.prefix}-`, 'm'), 'no namespace of the run in ip netns list')
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    t.notOk(mounts.includes(lab.prefix), 'no mount of the run in /proc/self/mountinfo')
    t.same(rec.pids.filter((p) => liveProcess(p.pid, p.start)).map((p) => p.pid), [], 'no recorded process alive')
    t.same(processesIn(pinned.inodes), [], 'no process in the run\'s namespaces')
    pinned.release()
    t.same(rec.cgroups.filter((d) => existsSync(d)), [], 'no cgroup left')
    t.notOk(existsSync(lab.stateDir), 'state dir removed')
    t.not(await waitExit(sleeper, 5_000), null, 'spawned process was killed')
    const again = await run('bash', [LAB_SH, '-p', lab.prefix, 'down'])
    t.equal(again.code, 0, 'down again is a no-op')
  })
}
