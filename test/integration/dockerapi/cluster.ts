/**
 * A small cluster for the Docker API tests: a real Manager core on an in-memory store with its own node `manager1`
 * and a worker `worker1` (both ready), a network `webnet`, a service `web` (2 replicas on webnet, 8080:80, stack
 * label) whose tasks run with an address on webnet, and the Docker API on a unix socket in a temp dir.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DOCKER_API_SOCKET, STACK_LABEL, defaultServiceSpec } from '../../../src/api/index.ts'
import { Manager, createDockerApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { joinAs, testCsr } from '../../support/pki.ts'
import { run, spawnProc, type Proc } from '../../support/procs.ts'

/** The docker CLI: 28.x where the machine has it (/usr/local/bin), else Debian's docker.io (20.10, API 1.41 too). */
export const DOCKER = ['/usr/local/bin/docker', '/usr/bin/docker'].find((p) => existsSync(p)) ?? 'docker'

interface Teardown { teardown(fn: () => unknown): void }

export interface DockerCluster {
  manager: Manager
  dir: string
  socket: string
  /** The environment the docker CLI runs with: DOCKER_HOST on the socket, its config in the temp dir. */
  env: NodeJS.ProcessEnv
  /** Runs the real docker CLI against the socket: exit code, stdout, stderr (never throws). */
  docker(args: string[], o?: { env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; out: string; err: string }>
  /** Starts a long-running docker command (docker events); stopped by the caller. */
  spawnDocker(args: string[]): Proc
}

export async function dockerCluster(t: Teardown): Promise<DockerCluster> {
  const store = openSqliteStore(':memory:')
  const manager = new Manager({ store })
  await manager.init()
  manager.start()
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dockerapi-'))
  const res = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }
  await manager.registerSelf({ hostname: 'manager1', addr: '127.0.0.1', resources: res }, { csr: await testCsr() })
  await joinAs(manager, 'worker1', { addr: '127.0.0.2' })
  await manager.setNodeState('manager1', 'ready')
  await manager.setNodeState('worker1', 'ready')
  const net = await manager.networks.create({ name: 'webnet', driver: 'overlay', attachable: false, internal: false, encrypted: true, labels: { tier: 'front' } })
  await manager.createService({
    ...defaultServiceSpec('web', 'nginx:1.27'), mode: { replicated: { replicas: 2 } }, labels: { [STACK_LABEL]: 'shop' }, env: ['MODE=prod'],
    ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], networks: [{ target: 'webnet', aliases: [] }],
  })
  await manager.reconcileNow()
  // Each task runs, with an address in its node's slice of webnet (as an agent reports it).
  for (const task of manager.listTasks()) {
    const slice = manager.networks.get(net.id)?.slices[task.nodeId] as string
    const ip = slice.replace(/\.(\d+)\/\d+$/, (_m, o: string) => `.${Number(o) + 2}`)
    const node = manager.getNode(task.nodeId)
    if (!node) throw new Error(`task ${task.id} has no node`)
    const status = { state: 'running', message: 'started', timestamp: Date.now(), containerId: `c${task.slot}`.padEnd(64, '0') }
    const n = await manager.reportTasks(node, [{ taskId: task.id, status, ip, addresses: [{ network: net.id, ip }] }])
    if (n !== 1) throw new Error(`task ${task.id}: report refused`)
  }
  const socket = join(dir, DOCKER_API_SOCKET)
  const server = await listen(createDockerApp({ manager, apiPort: 7947 }), { socketPath: socket })
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections()
    server.close(() => {
      manager.stop()
      store.close()
      rmSync(dir, { recursive: true, force: true })
      r()
    })
  }))
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, DOCKER_CONFIG: join(dir, '.docker'), DOCKER_HOST: `unix://${socket}` }
  const docker: DockerCluster['docker'] = async (args, o = {}) => {
    const r = await run(DOCKER, args, { env: o.env ?? env, timeoutMs: 20_000 })
    return { code: r.code, out: r.stdout, err: r.stderr }
  }
  const spawnDocker = (args: string[]): Proc => spawnProc(DOCKER, args, { name: `docker ${args[0] ?? ''}`, env })
  return { manager, dir, socket, env, docker, spawnDocker }
}
