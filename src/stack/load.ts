import { dirname, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { StackFileError } from './errors.ts'
import { convertStack, type Converted } from './convert.ts'
import { interpolateFile, type Env } from './interpolate.ts'
import { mergeModels } from './merge.ts'
import { normalizeFile } from './normalize.ts'
import { validateComposeFile } from './validate.ts'

/** One compose file: `name` as the user gave it (shown in messages, resolved against `cwd`), `text` its content. */
export interface StackFile {
  name: string
  text: string
}

export interface LoadOptions {
  /** The stack name: service `web` becomes `<stack>_web`. */
  stack: string
  /** In order; later files override earlier ones. */
  files: readonly StackFile[]
  /** For `${VAR}` and for environment keys without a value (the deploying shell's environment). */
  env: Env
  /** Where relative file names are resolved from. */
  cwd: string
  /** Reads an env_file (absolute path). */
  readFile: (path: string) => string
}

export interface LoadedStack extends Converted {
  stack: string
  /** Things the user should know but that do not stop a deploy: unsupported keys (one line), unset variables. */
  warnings: string[]
}

const STACK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

/**
 * Integers with a leading 0 are octal, as docker/cli's YAML reader takes them (`mode: 0440` is 0o440, the way
 * compose files write file modes); YAML 1.2 alone would read 440.
 */
const LEGACY_OCTAL = {
  identify: (v: unknown) => typeof v === 'number', default: true, tag: 'tag:yaml.org,2002:int', test: /^0[0-7]+$/,
  resolve: (s: string) => parseInt(s, 8),
}

function parseYaml(f: StackFile): unknown {
  const doc = parseDocument(f.text, { merge: true, uniqueKeys: true, customTags: (tags) => [LEGACY_OCTAL, ...tags] })
  const err = doc.errors[0]
  if (err) {
    const at = err.linePos?.[0]
    const msg = err.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'not valid YAML'
    throw new StackFileError(f.name, at ? `line ${at.line}, column ${at.col}` : '', `not valid YAML: ${msg}`)
  }
  const value = doc.toJS({ maxAliasCount: 1000 }) as unknown
  if (value === null || value === undefined) throw new StackFileError(f.name, '', 'the file is empty')
  return value
}

/**
 * Parses, interpolates, validates and converts compose files into service specs. Throws StackFileError (file +
 * key path) on the first problem; nothing is returned unless every file and every service is valid.
 */
export function loadStack(o: LoadOptions): LoadedStack {
  if (!STACK_NAME.test(o.stack)) throw new StackFileError('stack', '', `name "${o.stack}" must start with a letter or digit and hold only letters, digits, '_', '.', '-'`)
  if (o.files.length === 0) throw new StackFileError('stack', '', 'no compose file given (use -c FILE)')
  const warnings: string[] = []
  const firstDir = dirname(resolve(o.cwd, (o.files[0] as StackFile).name))
  const models = o.files.map((f) => {
    const raw = parseYaml(f)
    const { value, unset } = interpolateFile(raw, o.env, f.name)
    if (unset.length > 0) warnings.push(`${f.name}: ${unset.length === 1 ? 'variable' : 'variables'} ${unset.join(', ')} not set; using an empty string`)
    validateComposeFile(value, f.name)
    return normalizeFile(value as Record<string, unknown>, { file: f.name, workingDir: firstDir, env: o.env, readFile: o.readFile })
  })
  const model = mergeModels(models)
  if (model.services.size === 0) throw new StackFileError(model.files.join(', '), 'services', 'no services to deploy')
  const converted = convertStack(o.stack, model)
  if (model.unsupported.length > 0) {
    const byFile = new Map<string, string[]>()
    for (const u of model.unsupported) byFile.set(u.file, [...(byFile.get(u.file) ?? []), u.path])
    warnings.unshift(`ignoring keys mesh does not support: ${[...byFile].map(([f, ps]) => `${f}: ${ps.join(', ')}`).join('; ')}`)
  }
  return { stack: o.stack, ...converted, warnings }
}
