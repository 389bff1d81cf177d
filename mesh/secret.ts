import { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { ConfigError } from '../src/base/errors.ts'
import { MAX_SECRET_BYTES, objectNameProblem, valueSizeProblem, type ConfigRecord, type SecretView, type ValueKind } from '../src/api/index.ts'
import { managerClient, type ApiClient } from './client.ts'
import { listOptions, renderList, type ListFlags } from './format/list.ts'
import { inspectAll } from './service-list.ts'
import { SECRET_FILTERS, configList, prettyObject, secretList } from './secret-views.ts'

/**
 * `mesh secret …` and `mesh config …` (docker secret / docker config): create from a file or stdin (a value is
 * never an argument: argv is visible to every user of the host), ls, inspect (a secret never shows its value; a
 * config shows its data), rm (refused while a service uses it).
 */

type Out = (text: string) => void
const stdout: Out = (s) => void process.stdout.write(s)
const collect = (v: string, p: string[] = []) => p.concat(v)
const PATH = { secret: '/v1/secrets', config: '/v1/configs' } as const

export function secretCommand(client: () => ApiClient = managerClient): Command {
  return valueCommand('secret', client)
}

export function configCommand(client: () => ApiClient = managerClient): Command {
  return valueCommand('config', client)
}

function valueCommand(kind: ValueKind, client: () => ApiClient): Command {
  const cmd = new Command(kind).description(kind === 'secret'
    ? 'manage secrets: values mounted into tasks at /run/secrets, sealed at rest, never shown (on a manager)'
    : 'manage configs: values mounted into tasks as files (on a manager)')
  cmd.command('create').description(`create a ${kind} from a file, or from stdin with -`)
    .argument('<name>').argument('<file|->', 'the file to read the value from, or - for stdin')
    .option('-l, --label <K=V>', `a label on the ${kind} (repeatable)`, collect)
    .addHelpText('after', kind === 'secret'
      ? '\nExamples:\n  printf \'%s\' "$DB_PASSWORD" | mesh secret create db_password -\n  mesh secret create --label env=prod tls_key ./server.key'
      : '\nExample:\n  mesh config create nginx_conf ./nginx.conf')
    .action(async (name: string, file: string, f: { label?: string[] }) => {
      const view = await createValue(client(), kind, name, file, f.label ?? [], readValue)
      stdout(`${view.id}\n`)
    })
  listOptions(cmd.command('ls').alias('list').description(`list ${kind}s`), SECRET_FILTERS)
    .addHelpText('after', `\nExample:\n  mesh ${kind} ls --filter label=env=prod --format '{{.ID}}\\t{{.Name}}'`)
    .action((f: ListFlags) => listValues(client(), kind, f))
  cmd.command('inspect').argument(`<${kind}...>`, 'name or ID').description(`show ${kind}s as a JSON array (or --format per ${kind})${kind === 'secret' ? '; never the value' : ''}`)
    .option('-f, --format <format>', 'json | TEMPLATE, e.g. \'{{.Spec.Name}}\'')
    .option('--pretty', 'a human-readable layout')
    .action(async (refs: string[], f: { format?: string; pretty?: boolean }) => {
      const c = client()
      const get = (ref: string) => c.request<SecretView | ConfigRecord>('GET', `${PATH[kind]}/${encodeURIComponent(ref)}`)
      if (!f.pretty) return inspectAll(refs, get, f.format)
      if (f.format !== undefined) throw new ConfigError('--pretty and --format: give one of them')
      for (const ref of refs) stdout(prettyObject(await get(ref)))
    })
  cmd.command('rm').alias('remove').argument(`<${kind}...>`, 'name or ID').description(`remove ${kind}s (refused while a service uses one)`)
    .action(async (refs: string[]) => removeValues(client(), kind, refs))
  return cmd
}

/** The value a `create` reads: the file, or stdin for `-`. */
export function readValue(file: string): Buffer {
  try {
    return readFileSync(file === '-' ? 0 : file)
  } catch (err) {
    throw new ConfigError(`${file === '-' ? 'stdin' : file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

/** `create NAME FILE|-`: the value checked here as the manager checks it (size, name), then sent base64. */
export async function createValue(c: ApiClient, kind: ValueKind, name: string, file: string, labels: readonly string[], read: (file: string) => Buffer): Promise<SecretView | ConfigRecord> {
  const nameProblem = objectNameProblem(kind, name)
  if (nameProblem) throw new ConfigError(nameProblem)
  const parsed: Record<string, string> = {}
  for (const l of labels) {
    const i = l.indexOf('=')
    if (i === 0) throw new ConfigError(`--label "${l}": want KEY=VALUE`)
    if (i < 0) parsed[l] = ''
    else parsed[l.slice(0, i)] = l.slice(i + 1)
  }
  const value = read(file)
  const sizeProblem = valueSizeProblem(kind, name, value.length)
  if (sizeProblem) throw new ConfigError(sizeProblem + (value.length > MAX_SECRET_BYTES ? '' : file === '-' ? ' (nothing on stdin)' : ''))
  const data = value.toString('base64')
  value.fill(0)
  return c.request<SecretView | ConfigRecord>('POST', PATH[kind], { name, labels: parsed, data })
}

export async function listValues(c: ApiClient, kind: ValueKind, f: ListFlags, out: Out = stdout, now = Date.now()): Promise<void> {
  if (kind === 'secret') out(renderList(secretList(await c.request<SecretView[]>('GET', PATH.secret), now), f))
  else out(renderList(configList(await c.request<ConfigRecord[]>('GET', PATH.config), now), f))
}

/** `rm NAME…`: each in turn, printing it as given (docker); the first refusal stops with its line. */
export async function removeValues(c: ApiClient, kind: ValueKind, refs: readonly string[], out: Out = stdout): Promise<void> {
  for (const ref of refs) {
    await c.request('DELETE', `${PATH[kind]}/${encodeURIComponent(ref)}`)
    out(`${ref}\n`)
  }
}
