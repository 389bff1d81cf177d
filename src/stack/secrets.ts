import { resolve } from 'node:path'
import { MAX_SECRET_BYTES, type FileReference } from '../api/secrets.ts'
import { StackFileError, formatPath, type KeyPath } from './errors.ts'
import type { DeclaredFile, FileUse, Ref, Unsupported } from './model.ts'
import { labelMap } from './labels.ts'

/**
 * Compose `secrets:` and `configs:` (pure): the top-level declarations (`file:`, `external:`, `name:`, `labels:`),
 * a service's uses in short (`- db`) and long syntax (`{source, target, uid, gid, mode}`), and their conversion into
 * the stack's own objects (`<stack>_<key>`, labelled with the namespace) and the services' FileReferences, with
 * docker/cli's defaults: the target is the key (a secret's file under /run/secrets, a config's `/<key>`); uid and
 * gid "0"; mode 0444. The values are read later (readStackValues), only by a deploy.
 */

export type FileKind = 'secret' | 'config'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

export interface FilesContext {
  file: string
  workingDir: string
}

/** Top-level `secrets:` or `configs:` (the schema has checked the shapes). */
export function declaredFiles(kind: FileKind, doc: Obj, ctx: FilesContext, unsupported: Unsupported): Map<string, DeclaredFile> {
  const key = `${kind}s`
  const out = new Map<string, DeclaredFile>()
  for (const [name, raw] of Object.entries(isObj(doc[key]) ? doc[key] : {})) {
    const d = isObj(raw) ? raw : {}
    const path: KeyPath = [key, name]
    const fail = (msg: string, ...sub: KeyPath): never => {
      throw new StackFileError(ctx.file, formatPath([...path, ...sub]), msg)
    }
    const at = { file: ctx.file, path: formatPath(path) }
    const labels = labelMap(d.labels)
    if ('driver' in d) fail(`${kind} drivers are not supported: give the value with file:, or create it with mesh ${kind} create and write external: true`, 'driver')
    for (const k of ['driver_opts', 'template_driver']) if (k in d) unsupported([...path, k])
    const ext = d.external
    if (ext === true || isObj(ext)) {
      if (isObj(ext) && typeof ext.name === 'string' && typeof d.name === 'string') fail('external.name and name are both set; keep name')
      if (typeof d.file === 'string') fail(`external: true and file are both set: an external ${kind} exists already (remove file, or external to create it from the file)`)
      const fixed = isObj(ext) && typeof ext.name === 'string' ? ext.name : typeof d.name === 'string' ? d.name : name
      out.set(name, { fixedName: fixed, external: true, labels, at })
      continue
    }
    if (typeof d.file !== 'string' || d.file === '') fail(`file is required: the file that holds the value (or external: true for a ${kind} made with mesh ${kind} create)`)
    out.set(name, {
      ...(typeof d.name === 'string' ? { fixedName: d.name } : {}),
      external: false, file: resolve(ctx.workingDir, d.file as string), labels, at,
    })
  }
  return out
}

/** A service's `secrets:` or `configs:` list. */
export function fileUses(kind: FileKind, list: unknown, base: KeyPath, ctx: FilesContext): FileUse[] {
  if (!Array.isArray(list)) return []
  return list.map((item, i): FileUse => {
    const path = [...base, `${kind}s`, i]
    const at = { file: ctx.file, path: formatPath(path) }
    if (typeof item === 'string') return { source: item, at }
    const o = isObj(item) ? item : {}
    if (typeof o.source !== 'string' || o.source === '') throw new StackFileError(ctx.file, formatPath([...path, 'source']), `is required: the top-level ${kind} to use`)
    const mode = o.mode
    if (mode !== undefined && !(typeof mode === 'number' && Number.isInteger(mode) && mode >= 0 && mode <= 0o777)) {
      throw new StackFileError(ctx.file, formatPath([...path, 'mode']), `must be a file mode from 0 to 0777 (octal, e.g. 0440), not ${String(mode)}`)
    }
    const use: FileUse = { source: o.source, at }
    if (typeof o.target === 'string' && o.target !== '') use.target = o.target
    if (typeof o.uid === 'string' && o.uid !== '') use.uid = o.uid
    if (typeof o.gid === 'string' && o.gid !== '') use.gid = o.gid
    if (typeof mode === 'number') use.mode = mode
    return use
  })
}

/** One of the stack's secrets or configs, as the deploy must find or create it. */
export interface StackObject {
  kind: FileKind
  /** The top-level key (`db`). */
  key: string
  /** Its name on the cluster: `<stack>_<key>`, or `name:` / the external name as written. */
  name: string
  external: boolean
  /** Not external: the absolute path of the value's file. */
  file?: string
  /** Its labels (the stack's own carry com.docker.stack.namespace). */
  labels: Record<string, string>
  at: Ref
}

export function clusterFileName(stack: string, key: string, d: DeclaredFile): string {
  return d.fixedName ?? `${stack}_${key}`
}

/**
 * A service's uses → FileReferences (`id` empty: the manager fills it from `name`), with docker's defaults. A use of
 * an undeclared key fails at the use's key path.
 */
export function fileReferences(stack: string, kind: FileKind, uses: readonly FileUse[], declared: ReadonlyMap<string, DeclaredFile> | undefined): FileReference[] {
  return uses.map((u) => {
    const d = declared?.get(u.source)
    if (!d) {
      throw new StackFileError(u.at.file, u.at.path, `${kind} "${u.source}" is not declared under the top-level ${kind}s key (add ${kind}s: {${u.source}: {file: ./${u.source}.txt}})`)
    }
    // As docker/cli: the target is the key unless given; a config's relative target is relative to / (fileRefPath).
    return { id: '', name: clusterFileName(stack, u.source, d), target: u.target ?? u.source, uid: u.uid ?? '0', gid: u.gid ?? '0', mode: u.mode ?? 0o444 }
  })
}

/**
 * Every declared secret and config of the stack, as docker/cli's deploy sees them: the stack's own (created from
 * their files, all of them, used or not) and the external ones that a service uses (which must exist).
 */
export function stackObjects(stack: string, kind: FileKind, declared: ReadonlyMap<string, DeclaredFile> | undefined, used: ReadonlySet<string>, namespaceLabel: string): StackObject[] {
  const out: StackObject[] = []
  for (const [key, d] of [...(declared ?? new Map<string, DeclaredFile>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (d.external && !used.has(key)) continue
    const name = clusterFileName(stack, key, d)
    const labels = d.external ? { ...d.labels } : { ...d.labels, [namespaceLabel]: stack }
    out.push({ kind, key, name, external: d.external, ...(d.file !== undefined ? { file: d.file } : {}), labels, at: d.at })
  }
  return out
}

/**
 * Reads the values of the stack's own objects (base64, by object name) with the injected reader; a file that
 * cannot be read, is empty or exceeds MAX_SECRET_BYTES fails naming the compose file and key.
 */
export function readStackValues(objects: readonly StackObject[], readBytes: (path: string) => Uint8Array): Map<string, string> {
  const out = new Map<string, string>()
  for (const o of objects) {
    if (o.external || o.file === undefined) continue
    const fail = (msg: string): never => {
      throw new StackFileError(o.at.file, `${o.at.path}.file`, msg)
    }
    let bytes: Uint8Array
    try {
      bytes = readBytes(o.file)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      return fail(`cannot read ${o.file}: ${code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message}`)
    }
    if (bytes.length === 0) fail(`${o.file} is empty: a ${o.kind} needs a value`)
    if (bytes.length > MAX_SECRET_BYTES) fail(`${o.file} holds ${bytes.length} bytes: a ${o.kind} is at most ${MAX_SECRET_BYTES} bytes (500 KiB)`)
    out.set(o.name, Buffer.from(bytes).toString('base64'))
  }
  return out
}
