import { contextCommand } from '../../../mesh/context.ts'

/** What `mesh context ARGS` printed, and the error it ended with, if any. */
export interface ContextRun { out: string; err: string; error?: Error }

/**
 * `mesh context …` in-process with its contexts under `configDir` (MESH_CONFIG_DIR) and the default data dir;
 * `env` adds variables (MESH_HOST, MESH_CONTEXT, …). Commander's exits become a returned error.
 */
export function contextCli(configDir: string): (args: string[], env?: NodeJS.ProcessEnv) => Promise<ContextRun> {
  return async (args, env = {}) => {
    let out = ''
    let err = ''
    const cmd = contextCommand({ env: { MESH_CONFIG_DIR: configDir, MESH_DATA_DIR: '/var/lib/mesh', ...env }, out: (s) => void (out += s), err: (s) => void (err += s) })
    for (const c of [cmd, ...cmd.commands]) c.exitOverride().configureOutput({ writeErr: () => undefined })
    try {
      await cmd.parseAsync(args, { from: 'user' })
      return { out, err }
    } catch (e) {
      return { out, err, error: e as Error }
    }
  }
}
