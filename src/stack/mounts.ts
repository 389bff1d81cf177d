import { isAbsolute, resolve } from 'node:path'
import { parseFileMode, parseMemory } from '../api/spec.ts'
import { MeshError } from '../base/errors.ts'
import { StackFileError, formatPath, type KeyPath } from './errors.ts'
import type { Env } from './interpolate.ts'
import type { Unsupported, VolumeUse } from './model.ts'

/**
 * A service's `volumes:` entries and `tmpfs:` paths → VolumeUse (pure): binds (relative and `~` sources resolved),
 * named volumes (resolved against the top-level volumes later, in convert.ts) and tmpfs mounts. Errors name the file
 * and the key path of the entry.
 */

export interface MountContext {
  file: string
  /** Relative bind sources are resolved from here (the first compose file's directory). */
  workingDir: string
  env: Env
}

const VOLUME_MODES = new Set(['ro', 'rw'])
const TYPES = ['bind', 'volume', 'tmpfs']
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * Short `SOURCE:TARGET[:ro]` (source `/`, `.` or `~` = bind, else a named volume) or long syntax
 * `{type: bind|volume|tmpfs, source, target, read_only, tmpfs: {size}}` → VolumeUse.
 */
export function volume(v: unknown, path: KeyPath, ctx: MountContext, unsupported: Unsupported): VolumeUse {
  const at = { file: ctx.file, path: formatPath(path) }
  const fail = (msg: string): never => {
    throw new StackFileError(ctx.file, formatPath(path), msg)
  }
  let type: VolumeUse['type']
  let source: string
  let target: string
  let readOnly = false
  let tmpfs: VolumeUse['tmpfs']
  if (isObj(v)) {
    if (!TYPES.includes(v.type as string)) fail(`type "${String(v.type)}" is not supported: want bind, volume or tmpfs`)
    type = v.type as VolumeUse['type']
    source = typeof v.source === 'string' ? v.source : ''
    target = typeof v.target === 'string' ? v.target : ''
    readOnly = v.read_only === true
    for (const k of ['consistency', 'bind', 'volume']) if (k in v) unsupported([...path, k])
    if ('tmpfs' in v) {
      if (type !== 'tmpfs') fail(`tmpfs options are incompatible with type ${type}`)
      const o = isObj(v.tmpfs) ? v.tmpfs : {}
      for (const k of Object.keys(o)) if (k !== 'size') unsupported([...path, 'tmpfs', k])
      if (typeof o.size === 'number') tmpfs = { sizeBytes: o.size }
    }
  } else {
    const text = String(v)
    const parts = text.split(':')
    if (parts.length === 1) fail(`"${text}" is an anonymous volume, which mesh does not support: name it ("NAME:${text}") and declare NAME under the top-level volumes`)
    if (parts.length > 3) fail(`"${text}": want SOURCE:TARGET[:ro|rw]`)
    source = parts[0] as string
    target = parts[1] as string
    const modes = (parts[2] ?? '').split(',').filter((m) => m !== '')
    for (const m of modes) if (!VOLUME_MODES.has(m)) unsupported(path, `mode ${m}`)
    readOnly = modes.includes('ro')
    type = /^[/.~]/.test(source) ? 'bind' : 'volume'
  }
  if (!target.startsWith('/')) fail(`target "${target}" must be an absolute path in the container`)
  if (type === 'tmpfs') {
    if (source !== '') fail(`a tmpfs mount has no source (remove source: ${source})`)
    return { type, source: '', target, readOnly, ...(tmpfs ? { tmpfs } : {}), at }
  }
  if (type === 'bind') {
    if (source === '') fail('a bind mount needs a source path')
    if (source.startsWith('~')) {
      const home = ctx.env.HOME
      if (!home) fail(`"${source}": HOME is not set, so ~ cannot be expanded`)
      source = resolve(home as string, `.${source.slice(1)}`)
    } else if (!isAbsolute(source)) {
      source = resolve(ctx.workingDir, source)
    }
  } else if (source === '') {
    fail(`an anonymous volume on ${target}: mesh needs a volume name (source:) declared under the top-level volumes`)
  } else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source)) {
    fail(`volume name "${source}" may only contain letters, digits, '_', '.', '-'`)
  }
  return { type, source, target, readOnly, at }
}

/**
 * The service-level `tmpfs:` key (one path or a list): `PATH[:OPTIONS]`, options as `docker run --tmpfs` takes them,
 * comma-separated: `size=64m` (docker's units), `mode=1777` (octal), `ro`, `rw`; any other is reported as unsupported.
 */
export function tmpfsPaths(v: unknown, base: KeyPath, ctx: MountContext, unsupported: Unsupported): VolumeUse[] {
  const list = typeof v === 'string' ? [v] : Array.isArray(v) ? (v as string[]) : []
  return list.map((text, i) => {
    const path = typeof v === 'string' ? base : [...base, i]
    const at = { file: ctx.file, path: formatPath(path) }
    const colon = text.indexOf(':')
    const target = colon < 0 ? text : text.slice(0, colon)
    if (!target.startsWith('/')) throw new StackFileError(ctx.file, at.path, `"${text}": the path must be absolute, e.g. /run`)
    const use: VolumeUse = { type: 'tmpfs', source: '', target, readOnly: false, at }
    const tmpfs: NonNullable<VolumeUse['tmpfs']> = {}
    for (const opt of colon < 0 ? [] : text.slice(colon + 1).split(',').filter((o) => o !== '')) {
      const [k, val] = [opt.split('=')[0] as string, opt.slice(opt.indexOf('=') + 1)]
      try {
        if (k === 'size' && opt.includes('=')) tmpfs.sizeBytes = parseMemory(val, 'size')
        else if (k === 'mode' && opt.includes('=')) tmpfs.mode = parseFileMode(val, 'mode')
        else if (opt === 'ro' || opt === 'rw') use.readOnly = opt === 'ro'
        else unsupported(path, `tmpfs option ${opt}`)
      } catch (err) {
        if (err instanceof MeshError) throw new StackFileError(ctx.file, at.path, `"${text}": ${err.message}`, { cause: err })
        throw err
      }
    }
    return Object.keys(tmpfs).length > 0 ? { ...use, tmpfs } : use
  })
}
