/**
 * Part `control` of test/e2e/networks.test.ts: network objects on the lab through the CLI. `network create` (pool
 * and --subnet, attachable, encrypted=false), `ls` (docker's columns, -q, --filter, --format), `inspect` (docker's
 * shape plus each node's slice); a service on a user network with two replicas on two nodes: each task's address
 * lies in its node's slice (inspect lists them); `rm` refused while in use (and `rm mesh` always); a stack with two
 * declared networks creates `<stack>_default`, `<stack>_front`, `<stack>_back` and `stack rm` removes them (`network
 * ls` before and after). No reachability here (parts isolation and dns). Bounded: ≈ 40 s.
 */
import type { Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '../../support/procs.ts'
import type { NetworksContext } from './context.ts'

interface Inspected {
  Name: string
  Id: string
  Driver: string
  Scope: string
  Attachable: boolean
  Internal: boolean
  IPAM: { Config: { Subnet: string }[] }
  Options: Record<string, string>
  Slices: { Node: string; NodeID: string; Subnet: string }[]
  Tasks: { Name: string; Node: string; Address: string }[]
}

/** Is the dotted quad inside the CIDR? */
function inCidr(ip: string, cidr: string): boolean {
  const n = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0)
  const [base, bits] = cidr.split('/') as [string, string]
  const size = 2 ** (32 - Number(bits))
  return n(ip) >= n(base) && n(ip) < n(base) + size
}

export async function run(t: Test, { c }: NetworksContext): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'mesh-e2e-netctl-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const names = async () => (await c.mesh(['network', 'ls', '--format', '{{.Name}}'])).stdout.trim().split('\n').sort()
  const inspect = async (n: string) => (JSON.parse((await c.mesh(['network', 'inspect', n])).stdout) as Inspected[])[0] as Inspected
  const before = await names()
  t.ok(before.includes('mesh'), 'the default network is listed')

  // ---- create / ls / inspect
  const web = await c.mesh(['network', 'create', '--label', 'e2e=control', 'ctlnet'])
  t.equal(web.code, 0, `network create: ${web.stderr}`)
  t.match(web.stdout, /^[0-9a-f]{25}\n$/, 'prints the ID')
  const fast = await c.mesh(['network', 'create', '--subnet', '10.90.0.0/24', '--attachable', '--opt', 'encrypted=false', 'ctlfast'])
  t.equal(fast.code, 0, `network create --subnet: ${fast.stderr}`)
  const ls = await c.mesh(['network', 'ls'])
  t.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/, 'docker\'s columns')
  t.match(ls.stdout, /\n[0-9a-f]{12}\s+ctlnet\s+overlay\s+swarm\n/)
  t.equal((await c.mesh(['network', 'ls', '-q', '--filter', 'label=e2e=control'])).stdout, `${web.stdout.trim().slice(0, 12)}\n`, '-q --filter label=')
  const f = await inspect('ctlfast')
  t.match(f, { Name: 'ctlfast', Driver: 'overlay', Scope: 'swarm', Attachable: true, Internal: false, IPAM: { Config: [{ Subnet: '10.90.0.0/24' }] } })
  t.equal(f.Options.encrypted, undefined, 'encrypted=false')
  t.equal(f.Slices.length, c.lab.nodes.length, 'attachable: a slice on every node')
  t.ok(f.Slices.every((s) => inCidr(s.Subnet.split('/')[0] as string, '10.90.0.0/24')), 'slices cut from its subnet')
  const dup = await c.mesh(['network', 'create', '--subnet', '10.90.0.0/23', 'ctlover'])
  t.equal(dup.stderr, 'mesh: network "ctlover": subnet 10.90.0.0/23 overlaps network "ctlfast" (10.90.0.0/24)\n', 'an overlapping subnet: one line')

  // ---- a service on ctlnet, two replicas on two nodes: addresses in their nodes' slices
  const svc = await c.mesh(['service', 'create', '--name', 'ctlweb', '--network', 'name=ctlnet,alias=www', '--replicas', '2', '--replicas-max-per-node', '1',
    '--update-monitor', '1s', '--detach', '--no-resolve-image', 'mesh/busybox:latest', 'sleep', '3600'], 60_000)
  t.equal(svc.code, 0, `service create --network: ${svc.stderr}`)
  const net = await waitFor(async () => {
    const n = await inspect('ctlnet')
    return n.Tasks.length === 2 ? n : null
  }, 60_000, { intervalMs: 1000, what: 'two task addresses on ctlnet' })
  t.equal(new Set(net.Tasks.map((x) => x.Node)).size, 2, 'on two nodes')
  for (const task of net.Tasks) {
    const slice = net.Slices.find((s) => s.Node === task.Node)
    t.ok(slice && inCidr(task.Address, slice.Subnet), `${task.Name}: ${task.Address} in ${task.Node}'s slice ${slice?.Subnet}`)
  }
  t.ok(net.Tasks.every((x) => inCidr(x.Address, net.IPAM.Config[0]?.Subnet ?? '')), 'inside the network\'s range')

  // ---- rm: refused while in use; the default network never
  const busy = await c.mesh(['network', 'rm', 'ctlnet'])
  t.equal(busy.stderr, 'mesh: network "ctlnet" is in use by service "ctlweb"\n')
  t.ok((await names()).includes('ctlnet'), 'nothing removed')
  t.equal((await c.mesh(['network', 'rm', 'mesh'])).stderr, 'mesh: network "mesh" is the default network and cannot be removed\n')
  t.equal((await c.mesh(['service', 'rm', 'ctlweb'])).code, 0)
  await waitFor(async () => ((await c.mesh(['network', 'rm', 'ctlnet'])).code === 0 ? true : null), 30_000, { intervalMs: 1000, what: 'ctlnet removed once its tasks stopped' })
  t.equal((await c.mesh(['network', 'rm', 'ctlfast'])).code, 0)

  // ---- a stack with two declared networks: created before its services, removed by stack rm
  const file = join(tmp, 'stack.yml')
  writeFileSync(file, `services:
  api:
    image: mesh/busybox:latest
    command: sleep 3600
    networks:
      front:
        aliases: [api-front]
      back:
  db:
    image: mesh/busybox:latest
    command: sleep 3600
networks:
  front:
    attachable: true
  back:
    driver_opts: {encrypted: "false"}
`)
  const dep = await c.mesh(['stack', 'deploy', '--detach', '--resolve-image', 'never', '-c', file, 'ctl'], 60_000)
  t.equal(dep.code, 0, `stack deploy: ${dep.stderr}`)
  t.match(dep.stdout, /Creating network ctl_back\nCreating network ctl_default\nCreating network ctl_front\n/, 'networks first')
  t.same((await names()).filter((n) => n.startsWith('ctl_')), ['ctl_back', 'ctl_default', 'ctl_front'])
  t.match(await inspect('ctl_front'), { Attachable: true, Options: { encrypted: '' } })
  t.equal((await inspect('ctl_back')).Options.encrypted, undefined, 'driver_opts encrypted: "false"')
  const rm = await c.mesh(['stack', 'rm', 'ctl'], 60_000)
  t.equal(rm.code, 0, `stack rm: ${rm.stderr}`)
  t.match(rm.stdout, /Removing network ctl_back\nRemoving network ctl_default\nRemoving network ctl_front\n/)
  t.same(await names(), before, 'network ls as before the part')
}
