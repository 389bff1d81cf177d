/**
 * How `mesh agent` is started: the Node/V8 settings of the long-running agent process, in one place (pure).
 *
 * bin/mesh.js calls `agentRelaunch` for the `agent` subcommand only (every other command starts as before: the
 * CLI's start time is untouched) and, when it answers, replaces its own process with the answer through
 * `process.execve` (same PID, so systemd, the lab and tests see one process; no wrapper to forward signals). The
 * systemd unit, the netns lab, the e2e tests and the demo all start the agent through bin/mesh.js, so they all get
 * these settings from here.
 *
 * Why these settings (docs/benchmarks.md, "1,000 services / 10,000 endpoints, all together"): at 10,000 endpoints
 * the agent's live heap is ~40 MB, but under catalog churn V8 lets the heap grow to several times that before it
 * collects; `--optimize-for-size` keeps the heap near the live data, a small young generation
 * (`--max-semi-space-size`) bounds the garbage each catalog push leaves, and `MALLOC_ARENA_MAX=2` stops glibc from
 * keeping one malloc arena per thread (libuv's pool, V8's workers) full of freed memory.
 *
 * Operators override the Node flags with MESH_AGENT_NODE_OPTIONS (whitespace-separated `--flag` or `--flag=value`;
 * empty: none, the agent runs in the process bin/mesh.js started). A MALLOC_ARENA_MAX already in the environment is
 * kept.
 */

import { ConfigError } from '../src/base/errors.ts'

/** The agent's Node flags unless MESH_AGENT_NODE_OPTIONS says otherwise. */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(['--optimize-for-size', '--max-semi-space-size=2'])
/** Environment the agent gets unless already set (glibc reads it once, at process start). */
export const AGENT_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_ARENA_MAX: '2' })
export const AGENT_NODE_OPTIONS_ENV = 'MESH_AGENT_NODE_OPTIONS'
/** Set in the relaunched process's environment (bin/mesh.js removes it again): never a second relaunch. */
export const RELAUNCHED_ENV = 'MESH_AGENT_RELAUNCHED'

export interface Relaunch {
  /** argv for execve: [node, ...flags, script, ...args]. */
  argv: string[]
  env: Record<string, string>
}

/** MESH_AGENT_NODE_OPTIONS is not a list of Node flags the agent may start with (bin/mesh.js prints one line). */
export class LaunchError extends ConfigError {}

/**
 * The agent's Node flags: MESH_AGENT_NODE_OPTIONS when set (validated: each word a `--flag[=value]`, at most 20, no
 * `--eval`/`--require`/`--import`-style code loading), else AGENT_NODE_FLAGS.
 */
export function agentNodeFlags(env: Readonly<Record<string, string | undefined>>): string[] {
  const raw = env[AGENT_NODE_OPTIONS_ENV]
  if (raw === undefined) return [...AGENT_NODE_FLAGS]
  const words = raw.split(/\s+/).filter((w) => w !== '')
  if (words.length > 20) throw new LaunchError(`${AGENT_NODE_OPTIONS_ENV}: at most 20 flags (got ${words.length})`)
  for (const w of words) {
    if (!/^--[a-z0-9][a-z0-9_-]*(=[A-Za-z0-9._:/,+-]*)?$/.test(w)) {
      throw new LaunchError(`${AGENT_NODE_OPTIONS_ENV}: "${w.slice(0, 60)}" is not a node flag (--name or --name=value)`)
    }
    if (/^--(eval|print|require|import|loader|experimental-loader|input-type|test|run|watch|env-file)/.test(w)) {
      throw new LaunchError(`${AGENT_NODE_OPTIONS_ENV}: ${w.split('=')[0]} is not allowed (it changes what runs, not how)`)
    }
  }
  return words
}

/**
 * What to execve for `mesh <args>`, or null to go on in this process: not the agent subcommand, already started
 * with the flags and environment, the relaunched process itself, or MESH_AGENT_NODE_OPTIONS empty (no flags: the
 * environment alone is not worth a second start). `execArgv`: this process's
 * Node flags; `script`: bin/mesh.js.
 */
export function agentRelaunch(o: {
  args: readonly string[]
  execPath: string
  execArgv: readonly string[]
  script: string
  env: Readonly<Record<string, string | undefined>>
}): Relaunch | null {
  if (o.args[0] !== 'agent' || o.env[RELAUNCHED_ENV] !== undefined) return null
  const flags = agentNodeFlags(o.env)
  if (flags.length === 0) return null
  const missingEnv = Object.entries(AGENT_ENV).filter(([k]) => o.env[k] === undefined)
  const missingFlags = flags.filter((f) => !o.execArgv.includes(f))
  if (missingFlags.length === 0 && missingEnv.length === 0) return null
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v
  for (const [k, v] of missingEnv) env[k] = v
  env[RELAUNCHED_ENV] = '1'
  // The flags this process already has (e.g. --enable-source-maps from the caller) stay, before the agent's own.
  const keep = o.execArgv.filter((f) => !flags.includes(f))
  return { argv: [o.execPath, ...keep, ...flags, o.script, ...o.args], env }
}
