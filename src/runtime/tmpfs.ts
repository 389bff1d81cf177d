import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * The role that mounts a task's private in-memory filesystem (task-files.ts keeps its secret and config files there,
 * never on disk). `ExecTmpfs` runs mount(8)/umount(8); tests use a fake that only records.
 */
export interface Tmpfs {
  /** Mount a tmpfs of at most `sizeBytes` on `dir` (an existing directory), mode 0700, no exec, no devices, no setuid. */
  mount(dir: string, sizeBytes: number): Promise<void>
  /** Unmount `dir`; when something still holds it, detach it lazily. */
  unmount(dir: string): Promise<void>
  /** Is a filesystem mounted exactly on `dir`? */
  isMounted(dir: string): Promise<boolean>
}

/** `/proc/self/mountinfo` escapes space, tab, newline and backslash in paths as octal. */
const unescape = (p: string): string => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))

/** The adapter: mount(8) and umount(8) in the agent's mount namespace (the one its dockerd sees). */
export class ExecTmpfs implements Tmpfs {
  async mount(dir: string, sizeBytes: number): Promise<void> {
    await run('mount', ['-t', 'tmpfs', '-o', `mode=0700,nosuid,nodev,noexec,size=${sizeBytes}`, 'mesh-task-files', dir])
  }

  async unmount(dir: string): Promise<void> {
    try {
      await run('umount', [dir])
    } catch {
      await run('umount', ['-l', dir])
    }
  }

  async isMounted(dir: string): Promise<boolean> {
    const info = await readFile('/proc/self/mountinfo', 'utf8')
    return info.split('\n').some((l) => l.split(' ')[4] !== undefined && unescape(l.split(' ')[4] as string) === dir)
  }
}
