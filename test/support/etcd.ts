/**
 * Real etcd 3.4 clusters for tests (the `etcd` and `etcdctl` binaries Debian's etcd-server/etcd-client install):
 * one or N members on 127.0.0.1 with free client and peer ports and a temp data dir, optionally with client TLS
 * (a CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl), health waited for before
 * the promise resolves. `stop()` kills every member by PID (procs.ts never kills by name) and removes the dir;
 * `kill(i)` (SIGKILL) and `restart(i)` (same data dir, same ports) are for fault tests.
 *
 *   const etcd = await startEtcd(t, { members: 3 })
 *   const client = new Etcd3({ hosts: etcd.endpoints })
 *   await etcd.kill(await etcd.leader()) // kill -9 the raft leader; the other two elect one and keep quorum
 *   await etcd.restart(0)              // back with its data dir
 *
 * Election timing is tuned for a loaded 2-core machine (heartbeat 100 ms, election 1000 ms, etcd's defaults);
 * every wait here is bounded.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StopWaiting, killAndReap, run, spawnProc, waitFor, type Proc } from './procs.ts'

/** Files of a client-TLS etcd (PEM paths). */
export interface EtcdTlsFiles {
  ca: string
  /** The server's certificate and key (also its peer certificate). */
  serverCert: string
  serverKey: string
  /** A client certificate the server accepts (signed by `ca`). */
  clientCert: string
  clientKey: string
}

export interface EtcdMember {
  name: string
  clientUrl: string
  peerUrl: string
  dataDir: string
  proc: Proc | null
}

export interface EtcdCluster {
  /** `127.0.0.1:PORT` of each member, in member order. */
  endpoints: string[]
  /** `http(s)://127.0.0.1:PORT` of each member. */
  clientUrls: string[]
  members: EtcdMember[]
  /** Set when started with `tls: true`. */
  tls?: EtcdTlsFiles
  /** SIGKILL member `i` (kill -9) and wait until it is reaped. */
  kill(i: number): Promise<void>
  /** Start member `i` again on its data dir and ports; waits until it reports healthy. */
  restart(i: number): Promise<void>
  /** Waits until member `i` answers `endpoint health`. */
  waitHealthy(i: number, timeoutMs?: number): Promise<void>
  /** The index of the member that is raft leader now (asked of the running members; waits for an election). */
  leader(timeoutMs?: number): Promise<number>
  /** Kills every member and removes the data dir. Idempotent. */
  stop(): Promise<void>
}

export interface StartEtcdOptions {
  /** Members (1, 3, 5 …). Default 1. */
  members?: number
  /** Client TLS with client-certificate auth. Default false. */
  tls?: boolean
  /** How long to wait for health, ms. Default 30000. */
  timeoutMs?: number
}

interface Teardown { teardown(fn: () => unknown): void }

/** A port nobody listens on right now (bind port 0, read it, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in `dir` (openssl). */
export function makeEtcdTls(dir: string): EtcdTlsFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const f = (n: string): string => join(dir, n)
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' })
  }
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=etcd-test-ca', '-keyout', f('ca.key'), '-out', f('ca.crt'))
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n')
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const [name, ext, cn] of [['server', 'server.ext', 'etcd'], ['client', 'client.ext', 'mesh-manager']] as const) {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`,
      '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`))
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-days', '2', '-extfile', f(ext), '-out', f(`${name}.crt`))
  }
  return {
    ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'),
    clientCert: f('client.crt'), clientKey: f('client.key'),
  }
}

/** Starts an etcd cluster; registers its stop() as a teardown of `t`. */
export async function startEtcd(t: Teardown, o: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const n = o.members ?? 1
  const timeoutMs = o.timeoutMs ?? 30_000
  const root = mkdtempSync(join(tmpdir(), 'mesh-etcd-'))
  let stopped = false
  const cluster: EtcdCluster = {
    endpoints: [], clientUrls: [], members: [],
    kill: async (i) => {
      const m = member(i)
      if (m.proc) await killAndReap(m.proc)
      m.proc = null
    },
    restart: async (i) => {
      const m = member(i)
      if (m.proc?.running()) throw new Error(`${m.name} is still running`)
      m.proc = launch(m)
      await cluster.waitHealthy(i)
    },
    waitHealthy: async (i, ms = timeoutMs) => {
      const m = member(i)
      await waitFor(async () => {
        if (m.proc && !m.proc.running()) throw new StopWaiting(`${m.name} exited: ${m.proc.tail(10)}`)
        const r = await run('etcdctl', [...ctlFlags(), `--endpoints=${m.clientUrl}`, '--command-timeout=2s', 'endpoint', 'health'],
          { timeoutMs: 5000, env: { ...process.env, ETCDCTL_API: '3' } })
        return r.code === 0
      }, ms, { intervalMs: 200, what: `${m.name} healthy` })
    },
    leader: async (ms = timeoutMs) => waitFor(async () => {
      const live = cluster.members.filter((m) => m.proc?.running())
      const r = await run('etcdctl', [...ctlFlags(), `--endpoints=${live.map((m) => m.clientUrl).join(',')}`,
        '--command-timeout=2s', 'endpoint', 'status', '-w', 'json'], { timeoutMs: 5000, env: { ...process.env, ETCDCTL_API: '3' } })
      // Member ids are 64-bit: read them as digits, not as JSON numbers.
      const rows = [...r.stdout.matchAll(/"Endpoint":"([^"]+)".*?"member_id":(\d+).*?"leader":(\d+)/g)]
      const leaderId = rows.find((x) => x[3] !== '0')?.[3]
      const row = rows.find((x) => x[2] === leaderId)
      const i = row ? cluster.members.findIndex((m) => m.clientUrl === row[1]) : -1
      return i >= 0 ? i : undefined
    }, ms, { intervalMs: 200, what: 'an etcd leader' }),
    stop: async () => {
      if (stopped) return
      stopped = true
      for (const m of cluster.members) {
        if (m.proc) await killAndReap(m.proc)
        m.proc = null
      }
      rmSync(root, { recursive: true, force: true })
    },
  }
  t.teardown(() => cluster.stop())
  const member = (i: number): EtcdMember => {
    const m = cluster.members[i]
    if (!m) throw new Error(`no etcd member ${i}`)
    return m
  }
  if (o.tls) cluster.tls = makeEtcdTls(join(root, 'tls'))
  const scheme = o.tls ? 'https' : 'http'
  const ctlFlags = (): string[] => cluster.tls
    ? [`--cacert=${cluster.tls.ca}`, `--cert=${cluster.tls.clientCert}`, `--key=${cluster.tls.clientKey}`]
    : []
  /** Fresh ports and data dirs for every member (again after a start lost a port race). */
  const allocate = async (attempt: number): Promise<void> => {
    cluster.members.length = 0
    cluster.endpoints.length = 0
    cluster.clientUrls.length = 0
    for (let i = 0; i < n; i++) {
      const client = await freePort()
      const peer = await freePort()
      cluster.members.push({
        name: `etcd${i}`, clientUrl: `${scheme}://127.0.0.1:${client}`, peerUrl: `http://127.0.0.1:${peer}`,
        dataDir: join(root, `a${attempt}`, `etcd${i}`), proc: null,
      })
      cluster.endpoints.push(`127.0.0.1:${client}`)
      cluster.clientUrls.push(`${scheme}://127.0.0.1:${client}`)
    }
  }
  let initialCluster = ''
  let token = ''
  const launch = (m: EtcdMember): Proc => {
    const args = [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--heartbeat-interval', '100', '--election-timeout', '1000', '--log-level', 'warn', '--logger', 'zap',
    ]
    if (cluster.tls) {
      args.push('--cert-file', cluster.tls.serverCert, '--key-file', cluster.tls.serverKey,
        '--trusted-ca-file', cluster.tls.ca, '--client-cert-auth')
    }
    return spawnProc('etcd', args, { name: m.name, env: { ...process.env, ETCD_UNSUPPORTED_ARCH: '' } })
  }
  // A port picked free may be taken by another process before etcd binds it (the machine is shared): a member
  // that exits while starting makes a new attempt on new ports, at most 3.
  for (let attempt = 1; ; attempt++) {
    await allocate(attempt)
    initialCluster = cluster.members.map((m) => `${m.name}=${m.peerUrl}`).join(',')
    token = `mesh-test-${process.pid}-${Date.now()}-${attempt}`
    try {
      for (const m of cluster.members) m.proc = launch(m)
      for (let i = 0; i < n; i++) await cluster.waitHealthy(i)
      return cluster
    } catch (err) {
      for (const m of cluster.members) if (m.proc) await killAndReap(m.proc)
      if (!(err instanceof StopWaiting) || attempt >= 3) {
        await cluster.stop()
        throw err
      }
    }
  }
}
