import { execFile } from 'node:child_process'
import { MeshError } from '../base/errors.ts'

/** Running a system tool (`ip`, `nft`, `iptables`, `wg`) failed. */
export class SystemCommandError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_SYSTEM', message, options)
  }
}

/** Run a command with a deadline; resolves with stdout, rejects with its stderr in the message. */
export function run(cmd: string, args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: o.timeoutMs ?? 10_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code
        const why = code === 'ENOENT' ? 'command not found' : (stderr.trim() || err.message).split('\n')[0]
        reject(new SystemCommandError(`${cmd} ${args.join(' ')}: ${why}`, { cause: err }))
      } else resolve(stdout)
    })
    if (o.input !== undefined) child.stdin?.end(o.input)
  })
}
