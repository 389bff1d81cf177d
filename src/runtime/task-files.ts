import { chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { ConfigError } from '../base/errors.ts'
import { fileRefPath, type FileRefKind } from '../api/file-refs.ts'
import type { DeliveredValue, FileReference } from '../api/secrets.ts'
import type { TaskRecord } from '../api/types.ts'
import { TaskFilesError } from './errors.ts'
import type { Tmpfs } from './tmpfs.ts'

/**
 * A node's secret and config values and the files its tasks read them from (swarmkit's secret/config getters and
 * the engine's per-container secrets dir, merged). Values come from the manager's watch stream (`setValues`: the
 * full list each time, so a value no live task here uses is dropped) and stay in memory. Before a task's container
 * is created, `prepare` mounts a tmpfs for that task only (`<runDir>/tasks/<taskId>`, mode 0700, outside the data
 * dir), writes one file per reference with its uid, gid and mode, and returns them as read-only binds at their
 * targets (/run/secrets/<target>, a config's path). `prune` unmounts and removes the dirs of tasks no longer live
 * (the runner calls it on every pass, and so at agent start for what an earlier run left). Nothing here logs or
 * throws a value; `docker inspect` sees only the bind's host path.
 */

/** A host file bind-mounted read-only into a task's container. */
export interface FileBind {
  source: string
  target: string
}

/** What the task runner needs of TaskFiles (fakes in tests). */
export interface TaskFileStore {
  /** Replace the node's values of one kind (the watch stream's full list). */
  setValues(kind: 'secrets' | 'configs', values: readonly DeliveredValue[]): void
  /** Why the task cannot have its files yet (`secret "db" has not reached this node yet`), or null when it can. */
  missing(task: TaskRecord): string | null
  /** Write the task's files (a tmpfs of its own) and return them as binds; [] when it uses none. Throws TaskFilesError. */
  prepare(task: TaskRecord): Promise<FileBind[]>
  /** Unmount and remove the files of every task not in `keep`; returns the task ids removed. */
  prune(keep: ReadonlySet<string>): Promise<string[]>
}

export interface TaskFilesOptions {
  /** Per-node directory in memory-backed /run (default /run/mesh/<node>); each task gets `tasks/<taskId>` under it. */
  runDir: string
  /** The agent's data dir: runDir must lie outside it (values never reach the data dir). */
  dataDir: string
  tmpfs: Tmpfs
}

/** A task id as it may appear in a path (it comes from the manager: checked anyway). */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
/** Room in a task's tmpfs beyond its files' bytes (inodes, block rounding). */
const SLACK_BYTES = 64 * 1024

const inside = (child: string, parent: string): boolean => {
  const r = relative(parent, child)
  return r === '' || (!r.startsWith('..') && !isAbsolute(r))
}

export class TaskFiles implements TaskFileStore {
  readonly #dir: string
  readonly #tmpfs: Tmpfs
  readonly #values = { secrets: new Map<string, Buffer>(), configs: new Map<string, Buffer>() }

  constructor(o: TaskFilesOptions) {
    const runDir = resolve(o.runDir)
    if (inside(runDir, resolve(o.dataDir)) || inside(resolve(o.dataDir), runDir)) {
      throw new ConfigError(`runtime: the task files dir ${runDir} must lie outside the data dir ${o.dataDir} (secrets never go there)`)
    }
    this.#dir = join(runDir, 'tasks')
    this.#tmpfs = o.tmpfs
  }

  setValues(kind: 'secrets' | 'configs', values: readonly DeliveredValue[]): void {
    const had = this.#values[kind]
    const next = new Map(values.map((v) => [v.id, had.get(v.id) ?? Buffer.from(v.data, 'base64')]))
    for (const [id, old] of had) if (!next.has(id)) old.fill(0) // a dropped value leaves no copy in this process
    this.#values[kind] = next
  }

  missing(task: TaskRecord): string | null {
    for (const { kind, ref } of refsOf(task)) {
      if (!this.#values[`${kind}s`].has(ref.id)) return `${kind} "${ref.name}" has not reached this node yet`
    }
    return null
  }

  /** The directory holding a task's files. */
  taskDir(taskId: string): string {
    return join(this.#dir, taskId)
  }

  async prepare(task: TaskRecord): Promise<FileBind[]> {
    const refs = refsOf(task)
    if (refs.length === 0) return []
    if (!SAFE_ID.test(task.id)) throw new TaskFilesError(`task "${task.id.slice(0, 64)}": not a usable task id`)
    const why = this.missing(task)
    if (why) throw new TaskFilesError(why)
    // Copies, wiped once written: a value dropped meanwhile (setValues) is wiped in place.
    const values = refs.map(({ kind, ref }) => Buffer.from(this.#values[`${kind}s`].get(ref.id) as Buffer))
    try {
      return await this.#write(task, refs, values)
    } finally {
      for (const v of values) v.fill(0)
    }
  }

  async #write(task: TaskRecord, refs: { kind: FileRefKind; ref: FileReference }[], values: Buffer[]): Promise<FileBind[]> {
    const dir = this.taskDir(task.id)
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      if (!(await this.#tmpfs.isMounted(dir))) {
        await this.#tmpfs.mount(dir, values.reduce((n, v) => n + v.length + 4096, SLACK_BYTES))
      }
      await chmod(dir, 0o700)
    } catch (err) {
      throw new TaskFilesError(`task ${task.id}: cannot mount its files' tmpfs at ${dir}: ${(err as Error).message}`, { cause: err })
    }
    const binds: FileBind[] = []
    for (const [i, { kind, ref }] of refs.entries()) {
      const file = join(dir, `${kind}-${i}`)
      try {
        await writeFile(file, values[i] as Buffer, { mode: 0o600 })
        await chown(file, Number(ref.uid), Number(ref.gid))
        await chmod(file, ref.mode)
      } catch (err) {
        throw new TaskFilesError(`task ${task.id}: cannot write ${kind} "${ref.name}": ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
      }
      binds.push({ source: file, target: fileRefPath(kind, ref.target) })
    }
    return binds
  }

  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    let names: string[]
    try {
      names = await readdir(this.#dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const removed: string[] = []
    for (const name of names) {
      if (keep.has(name) || !SAFE_ID.test(name)) continue
      const dir = this.taskDir(name)
      if (await this.#tmpfs.isMounted(dir)) await this.#tmpfs.unmount(dir)
      await rm(dir, { recursive: true, force: true })
      removed.push(name)
    }
    return removed
  }
}

/** A task's references, secrets first, in spec order. */
function refsOf(task: TaskRecord): { kind: FileRefKind; ref: FileReference }[] {
  return [
    ...(task.spec.secrets ?? []).map((ref) => ({ kind: 'secret' as const, ref })),
    ...(task.spec.configs ?? []).map((ref) => ({ kind: 'config' as const, ref })),
  ]
}
