import { Command } from 'commander'
import { join } from 'node:path'
import { MANAGER_SOCKET } from '../src/api/index.ts'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { ContextError, ContextStore, DEFAULT_CONTEXT, checkContextName, configDir, type StoredContext } from './context-store.ts'
import { contextName } from './endpoint.ts'
import { listOptions, renderInspect, renderList, type ListFlags, type ListView } from './format/list.ts'

/**
 * `mesh context create|ls|use|rm|inspect|show` (docker context): named endpoints for the CLI, stored under
 * MESH_CONFIG_DIR or ~/.mesh (mesh/context-store.ts); which one a command uses is mesh/endpoint.ts. Output as
 * docker's: names on stdout, the confirmation on stderr.
 */

/** One row of `context ls` (docker's ClientContext, DockerEndpoint → MeshEndpoint). */
export interface ContextRow {
  Name: string
  Description: string
  MeshEndpoint: string
  Current: boolean
  Error: string
}

/** docker's `default` context: MESH_HOST, or this host's manager socket. */
export function defaultContext(env: NodeJS.ProcessEnv): StoredContext {
  const host = env.MESH_HOST || `unix://${join(env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR, MANAGER_SOCKET)}`
  return { Name: DEFAULT_CONTEXT, Metadata: { Description: 'Current MESH_HOST based configuration' }, Endpoints: { mesh: { Host: host } } }
}

/** The rows of `context ls`: the default, every stored context, and the current one even if it is missing (docker). */
export function contextRows(stored: readonly StoredContext[], current: string, env: NodeJS.ProcessEnv): ContextRow[] {
  const rows: ContextRow[] = [defaultContext(env), ...stored].map((c) => ({
    Name: c.Name, Description: c.Metadata.Description ?? '', MeshEndpoint: c.Endpoints.mesh.Host ?? '', Current: c.Name === current, Error: '',
  }))
  if (!rows.some((r) => r.Current)) rows.push({ Name: current, Description: '', MeshEndpoint: '', Current: true, Error: `context "${current}": no such context` })
  return rows.sort((a, b) => a.Name.localeCompare(b.Name, 'en', { numeric: true }))
}

export function contextList(rows: readonly ContextRow[]): ListView<ContextRow> {
  const fields = (r: ContextRow): Record<string, string> => ({ Name: r.Name, Description: r.Description, MeshEndpoint: r.MeshEndpoint, Current: String(r.Current), Error: r.Error })
  return {
    items: rows,
    columns: ['Name', 'Description', 'MeshEndpoint', 'Error'],
    fields,
    quietField: 'Name',
    tableRows: (items) => items.map((r) => [r.Current ? `${r.Name} *` : r.Name, r.Description, r.MeshEndpoint, r.Error]),
  }
}

/** `context inspect`: docker's shape, with where the context is stored. */
export function inspectContext(c: StoredContext, store: ContextStore): Record<string, unknown> {
  const stored = c.Name !== DEFAULT_CONTEXT
  return {
    Name: c.Name, Metadata: c.Metadata, Endpoints: c.Endpoints,
    TLSMaterial: c.tlsDir ? { mesh: ['ca.pem', 'cert.pem', 'key.pem'] } : {},
    Storage: stored ? { MetadataPath: store.metaDir(c.Name), TLSPath: store.tlsDir(c.Name) } : { MetadataPath: '<IN MEMORY>', TLSPath: '<IN MEMORY>' },
  }
}

const HOST_WARNING = 'Warning: MESH_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset MESH_HOST environment variable.\n'

export function contextCommand(o: { env?: NodeJS.ProcessEnv; out?: (s: string) => void; err?: (s: string) => void } = {}): Command {
  const env = (): NodeJS.ProcessEnv => o.env ?? process.env
  const out = o.out ?? ((s: string) => void process.stdout.write(s))
  const err = o.err ?? ((s: string) => void process.stderr.write(s))
  const store = (): ContextStore => new ContextStore(configDir(env()))
  const cmd = new Command('context').description('manage contexts: named endpoints (ssh:// or tcp://) the CLI talks to, as docker context')

  cmd.command('create')
    .description('create a context: an ssh:// host (runs `mesh dial-stdio` there) or a tcp:// manager API with an admin client bundle')
    .argument('<name>', 'the context name: letters, digits and _ . + - (first a letter or digit)')
    .requiredOption('--host <url>', 'ssh://[USER@]HOST[:PORT] or tcp://HOST:PORT; several tcp:// managers: repeat it or give a comma list (tried in order)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--description <text>', 'a description shown by `mesh context ls`')
    .option('--tls-ca <file>', 'tcp://: the cluster CA (ca.pem of `mesh ca issue-client NAME --out DIR`)')
    .option('--tls-cert <file>', 'tcp://: the admin client certificate (cert.pem)')
    .option('--tls-key <file>', 'tcp://: the admin client key (key.pem); copied into the context store, mode 0600')
    .addHelpText('after', '\nExamples:\n  mesh context create prod --host ssh://root@10.0.0.1\n' +
      '  mesh context create lab --host tcp://10.0.0.1:7947 --tls-ca ops/ca.pem --tls-cert ops/cert.pem --tls-key ops/key.pem\n' +
      '  mesh context create ha --host tcp://10.0.0.1:7947 --host tcp://10.0.0.2:7947 --host tcp://10.0.0.3:7947 --tls-ca ops/ca.pem …')
    .action((name: string, f: { host: string[]; description?: string; tlsCa?: string; tlsCert?: string; tlsKey?: string }) => {
      const given = [f.tlsCa, f.tlsCert, f.tlsKey].filter((x) => x !== undefined).length
      if (given !== 0 && given !== 3) throw new ContextError(`context "${name}": give all three of --tls-ca, --tls-cert and --tls-key`)
      const tls = given === 3 ? { ca: f.tlsCa as string, cert: f.tlsCert as string, key: f.tlsKey as string } : undefined
      store().create(name, { host: f.host, ...(f.description ? { description: f.description } : {}), ...(tls ? { tls } : {}) })
      out(`${name}\n`)
      err(`Successfully created context "${name}"\n`)
    })

  listOptions(cmd.command('ls').alias('list').description('list the contexts; the current one is marked *'), [], { quietWhat: 'context names' })
    .action((f: ListFlags) => {
      const s = store()
      out(renderList(contextList(contextRows(s.list(), contextName(env(), s).name, env())), f))
      if (env().MESH_HOST) err(HOST_WARNING)
    })

  cmd.command('use')
    .description('make a context the current one for later commands (`default`: the local sockets, or MESH_HOST)')
    .argument('<name>', 'a context name, or default')
    .action((name: string) => {
      checkContextName(name)
      const s = store()
      if (name !== DEFAULT_CONTEXT && !s.get(name)) throw new ContextError(`context "${name}": no such context`)
      s.setCurrent(name)
      out(`${name}\n`)
      err(`Current context is now "${name}"\n`)
      if (env().MESH_HOST) err(HOST_WARNING)
    })

  cmd.command('show')
    .description('print the name of the context in effect')
    .action(() => out(`${contextName(env(), store()).name}\n`))

  cmd.command('rm').alias('remove')
    .description('remove contexts (the current one only with -f, which makes `default` current)')
    .argument('<name...>', 'context names')
    .option('-f, --force', 'remove the current context too; names that do not exist are no error')
    .action((names: string[], f: { force?: boolean }) => {
      const s = store()
      const inUse = contextName(env(), s).name
      const selected = s.current()
      const errors: string[] = []
      for (const name of names) {
        if (name === DEFAULT_CONTEXT) { errors.push(`context "${DEFAULT_CONTEXT}" cannot be removed`); continue }
        if (name === inUse && !f.force) { errors.push(`context "${name}" is in use, set -f flag to force remove`); continue }
        if (!s.get(name) && !f.force) { errors.push(`context "${name}": no such context`); continue }
        if (name === selected) s.setCurrent(DEFAULT_CONTEXT)
        s.remove(name)
        out(`${name}\n`)
      }
      if (errors.length > 0) throw new ContextError(errors.join('; '))
    })

  cmd.command('inspect')
    .description('print contexts as a JSON array (default: the one in effect)')
    .argument('[name...]', 'context names')
    .option('-f, --format <template>', 'a template applied to each context, or json')
    .action((names: string[], f: { format?: string }) => {
      const s = store()
      const wanted = names.length > 0 ? names : [contextName(env(), s).name]
      const found: Record<string, unknown>[] = []
      const missing: string[] = []
      for (const name of wanted) {
        const c = name === DEFAULT_CONTEXT ? defaultContext(env()) : s.get(name)
        if (c) found.push(inspectContext(c, s))
        else missing.push(name)
      }
      out(renderInspect(found, f.format))
      if (missing.length > 0) throw new ContextError(missing.map((n) => `context "${n}": no such context`).join('; '))
    })
  return cmd
}
