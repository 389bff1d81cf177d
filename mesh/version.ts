import { Command } from 'commander'
import { arch, platform } from 'node:os'
import type { ClusterInfo } from '../src/api/info.ts'
import { API_VERSION, MESH_VERSION } from '../src/api/version.ts'
import { managerClient, type ApiClient } from './client.ts'
import { renderInspect } from './format/list.ts'
import { errorMessage } from './errors.ts'

/**
 * `mesh version` (docker version): the client's version, API version, Node version and OS/arch, then the manager's
 * when one is reachable (on a manager, or MESH_HOST); without one the Server part says why and the command still
 * exits 0 (the client part is what a worker can tell). `--format` over `{Client, Server}` (`{{.Server.Version}}`).
 */
export interface VersionView {
  Client: { Version: string; ApiVersion: string; NodeVersion: string; Os: string; Arch: string }
  Server: { Version: string; ApiVersion: string; ClusterId: string } | null
  /** Why there is no Server part. */
  ServerError?: string
}

export async function versionView(client: ApiClient, env: { node: string; os: string; arch: string } = { node: process.version, os: platform(), arch: arch() }): Promise<VersionView> {
  const Client = { Version: MESH_VERSION, ApiVersion: API_VERSION, NodeVersion: env.node, Os: env.os, Arch: env.arch }
  try {
    const i = await client.request<ClusterInfo>('GET', '/v1/info')
    return { Client, Server: { Version: i.version ?? 'unknown', ApiVersion: i.apiVersion ?? 'unknown', ClusterId: i.clusterId } }
  } catch (err) {
    return { Client, Server: null, ServerError: errorMessage(err) }
  }
}

export function renderVersion(v: VersionView, format?: string): string {
  if (format !== undefined) return renderInspect([v], format)
  const row = (k: string, val: string) => ` ${`${k}:`.padEnd(19)}${val}\n`
  let out = 'Client:\n' + row('Version', v.Client.Version) + row('API version', v.Client.ApiVersion) +
    row('Node version', v.Client.NodeVersion) + row('OS/Arch', `${v.Client.Os}/${v.Client.Arch}`)
  out += '\nServer:\n'
  if (v.Server) out += row('Version', v.Server.Version) + row('API version', v.Server.ApiVersion) + row('Cluster', v.Server.ClusterId)
  else out += ` no manager reachable: ${v.ServerError ?? 'unknown'}\n`
  return out
}

export function versionCommand(client: () => ApiClient = managerClient): Command {
  return new Command('version').description('show the mesh version of this CLI and of the manager (docker version)')
    .option('-f, --format <format>', 'json | TEMPLATE, e.g. \'{{.Server.Version}}\'')
    .action(async (f: { format?: string }) => {
      process.stdout.write(renderVersion(await versionView(client()), f.format))
    })
}
