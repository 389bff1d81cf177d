/**
 * The agent's config file (`--config FILE`, MESH_CONFIG, or /etc/mesh/agent.yaml when it exists): YAML or JSON with
 * the field names of Config (docs/configuration.md). Every `mesh agent` flag has a key here. Secrets come best by
 * file, as the flags' --token-file/--encrypt-file: `cluster.tokenFile` and `gossip.encryptFile` (paths, relative ones
 * to the config file's directory) are read here and become `cluster.token` / `gossip.encryptKeys`. An inline
 * `cluster.token` or `gossip.encryptKeys` in a file the group or others may read gets one warning line (as ssh warns
 * of a private key with open permissions). An unknown key is one line naming the key and the file.
 */
import { readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from '../base/errors.ts'

/** Keys a file may hold beyond Config's own fields: secrets by path, read into the field named. */
const FILE_ONLY_KEYS: Record<string, Record<string, string>> = {
  cluster: { tokenFile: 'token' },
  gossip: { encryptFile: 'encryptKeys' },
}

/** Optional Config fields (absent from the defaults the keys are checked against). */
const OPTIONAL_FIELDS = new Set(['cluster.certExpiryMs'])

/** Fields whose value is a free mapping (not checked key by key). */
const FREE_MAPPINGS = new Set(['gossip.tags'])

/** How the file layer reaches the filesystem (tests inject a fake). */
export interface FileAccess {
  read(path: string): string
  /** Permission bits of the file (mode & 0o777). */
  mode(path: string): number
}

export const nodeFileAccess: FileAccess = {
  read: (p) => readFileSync(p, 'utf8'),
  mode: (p) => statSync(p).mode & 0o777,
}

/** What a config file gave: the fields (secrets resolved) and the warning lines to show. */
export interface ConfigFile {
  input: Record<string, unknown>
  warnings: string[]
}

/**
 * Read, parse and check a config file against `shape` (the default Config: its keys are the allowed ones).
 * Throws ConfigError naming the file on a read or parse failure, an unknown key, a non-mapping section, both an
 * inline secret and its file, or a secret file that cannot be read or is empty.
 */
export function readConfigFileWith(path: string, shape: Record<string, unknown>, fs: FileAccess = nodeFileAccess): ConfigFile {
  let text: string
  try {
    text = fs.read(path)
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  let value: unknown
  try {
    value = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${path}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`)
  }
  if (value === null || value === undefined) return { input: {}, warnings: [] }
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`config file ${path}: must be a mapping`)
  const input = value as Record<string, unknown>
  checkKeys(input, shape, path, '')
  const warnings: string[] = []
  const inline = inlineSecrets(input)
  if (inline.length > 0) {
    const mode = fs.mode(path)
    if ((mode & 0o044) !== 0) {
      warnings.push(`config file ${path}: permissions ${mode.toString(8).padStart(4, '0')} are too open for the inline secret ` +
        `${inline.join(' and ')} (readable by group or others): chmod 600 ${path}, or use ${inline.map(fileKeyOf).join(' / ')}`)
    }
  }
  resolveSecretFiles(input, path, fs)
  return { input, warnings }
}

function checkKeys(obj: Record<string, unknown>, shape: Record<string, unknown>, file: string, prefix: string): void {
  const section = prefix.replace(/\.$/, '')
  for (const [k, v] of Object.entries(obj)) {
    if (FILE_ONLY_KEYS[section]?.[k] !== undefined) {
      if (typeof v !== 'string' || v === '') throw new ConfigError(`config file ${file}: "${prefix}${k}" must be a file path`)
      continue
    }
    if (!(k in shape) && !OPTIONAL_FIELDS.has(`${prefix}${k}`)) throw new ConfigError(`config file ${file}: unknown key "${prefix}${k}" (docs/configuration.md lists the keys)`)
    const s = shape[k]
    if (s && typeof s === 'object' && !Array.isArray(s)) {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`config file ${file}: "${prefix}${k}" must be a mapping`)
      if (!FREE_MAPPINGS.has(`${prefix}${k}`)) checkKeys(v as Record<string, unknown>, s as Record<string, unknown>, file, `${prefix}${k}.`)
    }
  }
}

/** The inline secret fields a file holds (`cluster.token`, `gossip.encryptKeys`), non-empty ones only. */
function inlineSecrets(input: Record<string, unknown>): string[] {
  const out: string[] = []
  for (const [section, keys] of Object.entries(FILE_ONLY_KEYS)) {
    const sec = input[section] as Record<string, unknown> | undefined
    for (const field of Object.values(keys)) {
      const v = sec?.[field]
      if ((typeof v === 'string' && v !== '') || (Array.isArray(v) && v.length > 0)) out.push(`${section}.${field}`)
    }
  }
  return out
}

function fileKeyOf(field: string): string {
  const [section, name] = field.split('.') as [string, string]
  const entry = Object.entries(FILE_ONLY_KEYS[section] ?? {}).find(([, f]) => f === name)
  return `${section}.${entry?.[0] ?? name}`
}

/** Replace `cluster.tokenFile` / `gossip.encryptFile` with the secret they point at. */
function resolveSecretFiles(input: Record<string, unknown>, path: string, fs: FileAccess): void {
  for (const [section, keys] of Object.entries(FILE_ONLY_KEYS)) {
    const sec = input[section] as Record<string, unknown> | undefined
    if (!sec) continue
    for (const [fileKey, field] of Object.entries(keys)) {
      const p = sec[fileKey]
      if (p === undefined) continue
      if (sec[field] !== undefined) throw new ConfigError(`config file ${path}: give ${section}.${field} or ${section}.${fileKey}, not both`)
      const secretPath = resolve(dirname(path), p as string)
      const text = readSecretFile(`config file ${path}: ${section}.${fileKey} ${secretPath}`, secretPath, fs.read)
      sec[field] = field === 'encryptKeys' ? splitKeyLines(text) : text
      delete sec[fileKey]
    }
  }
}

/** A secret file's content, trimmed; ConfigError naming `what` when it cannot be read or is empty. */
export function readSecretFile(what: string, path: string, read: (path: string) => string): string {
  let text: string
  try {
    text = read(path)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new ConfigError(`${what}: cannot read it (${e.code ?? e.message})`, { cause: err })
  }
  if (text.trim() === '') throw new ConfigError(`${what}: the file is empty`)
  return text.trim()
}

/** A gossip key file: one base64 key per line (commas allowed too), first is primary. */
export function splitKeyLines(text: string): string[] {
  return text.split(/[\n,]/).map((x) => x.trim()).filter((x) => x !== '')
}
