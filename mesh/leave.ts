import { Command } from 'commander'
import { join } from 'node:path'
import { CONTROL_SOCKET, controlPost } from '../src/api/index.ts'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'

/** What the agent answers to POST /v1/leave (agent/leave.ts). */
export interface LeaveReply {
  message: string
  warnings: string[]
  forgot: string[]
}

/** Stopping task containers takes their grace periods (10 s by default); the agent answers once it has left. */
const LEAVE_TIMEOUT_MS = 5 * 60_000

/** `mesh leave [--force]` (docker swarm leave): the local agent leaves the cluster and forgets it, then exits. */
export function leaveCommand(): Command {
  return new Command('leave')
    .description('leave the cluster (docker swarm leave): tell the manager, stop this node\'s tasks, leave gossip, tear the overlay down, forget the cluster; the agent then exits')
    .option('-f, --force', 'leave even if this node is the manager (removes the cluster and its state) or the manager cannot be reached')
    .option('--data-dir <dir>', `the agent's data dir (default ${DEFAULT_DATA_DIR}, env MESH_DATA_DIR)`)
    .addHelpText('after', `
The manager marks the node Down at once, drops it from the overlay and reschedules its tasks; the node stays in
\`mesh node ls\` (Down) until \`mesh node rm NODE\` on the manager, as in docker. On the node, node.json, tls/, the
gossip keyring and every cached list are removed: a restarted agent neither rejoins nor serves the cluster.

Example:
  mesh leave
  mesh leave --force        (a manager: the cluster is gone; a worker whose manager is unreachable)`)
    .action(async (opts: { force?: boolean; dataDir?: string }) => {
      const dir = opts.dataDir ?? process.env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR
      const r = await controlPost<LeaveReply>(join(dir, CONTROL_SOCKET), `/v1/leave${opts.force ? '?force=1' : ''}`, LEAVE_TIMEOUT_MS)
      const out = formatLeave(r)
      process.stderr.write(out.stderr)
      process.stdout.write(out.stdout)
    })
}

/** The CLI's output for an agent's answer: warnings on stderr (`mesh: warning: …`), docker's line on stdout. */
export function formatLeave(r: LeaveReply): { stdout: string; stderr: string } {
  return { stdout: `${r.message}\n`, stderr: r.warnings.map((w) => `mesh: warning: ${w}\n`).join('') }
}
