import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import { parseKeyValue } from '../src/api/spec.ts'
import { parseNetworkOpt, type NetworkCreateRequest, type NetworkRecord, type NetworkTaskAddress } from '../src/api/index.ts'
import { managerClient, type ApiClient } from './client.ts'
import { listOptions, renderList, type ListFlags } from './format/list.ts'
import { hostsOf, inspectAll } from './service-list.ts'
import { many } from './service-flags.ts'
import { NETWORK_FILTERS, networkInspect, networkList } from './network-view.ts'

/**
 * `mesh network create|ls|inspect|rm` (docker network, swarm scope): user networks with their own range, VIPs and
 * isolation; the default network `mesh` is listed and cannot be removed. API: /v1/networks.
 */

type Out = (text: string) => void
const stdout: Out = (s) => void process.stdout.write(s)

export interface CreateFlags {
  driver?: string
  subnet?: string
  attachable?: boolean
  internal?: boolean
  opt?: string[]
  label?: string[]
}

/** The create request the flags ask for (pure). */
export function networkCreateRequest(name: string, f: CreateFlags): NetworkCreateRequest {
  if (f.driver !== undefined && f.driver !== 'overlay') throw new ConfigError(`--driver "${f.driver}": mesh networks are overlay networks (omit --driver, or give overlay)`)
  const req: NetworkCreateRequest = { name, driver: 'overlay', attachable: f.attachable ?? false, internal: f.internal ?? false, encrypted: true, labels: {} }
  for (const o of f.opt ?? []) req.encrypted = parseNetworkOpt(o).encrypted
  for (const l of f.label ?? []) {
    const [k, v] = parseKeyValue(l, '--label')
    req.labels = { ...req.labels, [k]: v }
  }
  if (f.subnet !== undefined) req.subnet = f.subnet
  return req
}

export async function createNetwork(client: ApiClient, name: string, f: CreateFlags, out: Out = stdout): Promise<void> {
  const n = await client.request<NetworkRecord>('POST', '/v1/networks', networkCreateRequest(name, f))
  out(`${n.id}\n`)
}

export async function listNetworks(client: ApiClient, f: ListFlags, out: Out = stdout): Promise<void> {
  out(renderList(networkList(await client.request<NetworkRecord[]>('GET', '/v1/networks')), f))
}

export async function inspectNetworks(client: ApiClient, refs: readonly string[], format: string | undefined, out: Out = stdout): Promise<void> {
  const hosts = await hostsOf(client)
  await inspectAll(refs, async (ref) => {
    const n = await client.request<NetworkRecord & { tasks: NetworkTaskAddress[] }>('GET', `/v1/networks/${encodeURIComponent(ref)}`)
    return networkInspect(n, hosts)
  }, format, out)
}

/** Removes each network; the first refusal (in use, not found) is the error, after the others were tried (docker). */
export async function removeNetworks(client: ApiClient, refs: readonly string[], out: Out = stdout): Promise<void> {
  let failure: unknown
  for (const ref of refs) {
    try {
      await client.request('DELETE', `/v1/networks/${encodeURIComponent(ref)}`)
      out(`${ref}\n`)
    } catch (err) {
      failure ??= err
    }
  }
  if (failure !== undefined) throw failure
}

export function networkCommand(): Command {
  const cmd = new Command('network').description('manage the cluster\'s overlay networks (on a manager)')
  const client = () => managerClient()
  cmd.command('create').argument('<name>').description('create an overlay network')
    .option('-d, --driver <driver>', 'network driver: overlay (the only one)', 'overlay')
    .option('--subnet <cidr>', 'the network\'s range: a private IPv4 /16 to /24 (default: the next free one of the address pool)')
    .option('--attachable', 'plain `docker run --network NAME` containers may join it on any node')
    .option('--internal', 'no route out of the network')
    .option('-o, --opt <key=value>', 'driver option: encrypted=true|false (default true: WireGuard; false: kernel VXLAN)', many)
    .option('--label <KEY=VALUE>', 'network label (repeatable)', many)
    .addHelpText('after', '\nExamples:\n  mesh network create webnet\n  mesh network create --attachable --opt encrypted=false --subnet 10.90.0.0/24 fastnet')
    .action((name: string, f: CreateFlags) => createNetwork(client(), name, f))
  listOptions(cmd.command('ls').alias('list').description('list networks'), NETWORK_FILTERS)
    .addHelpText('after', '\nExample:\n  mesh network ls --filter label=com.docker.stack.namespace=web --format \'{{.Name}} {{.Driver}}\'')
    .action((f: ListFlags) => listNetworks(client(), f))
  cmd.command('inspect').argument('<network...>', 'name or ID').description('show networks as a JSON array (with each node\'s slice and the tasks\' addresses)')
    .option('-f, --format <format>', 'json | TEMPLATE, e.g. \'{{.IPAM.Config}}\'')
    .action((refs: string[], f: { format?: string }) => inspectNetworks(client(), refs, f.format))
  cmd.command('rm').alias('remove').argument('<network...>', 'name or ID').description('remove networks (refused while a service or task uses one)')
    .action((refs: string[]) => removeNetworks(client(), refs))
  return cmd
}
