import { readFile, rm, writeFile } from 'node:fs/promises'

/**
 * An etcd left running by a previous agent process (the agent was killed -9; its child lives on, holding the data
 * dir's lock and the ports). The supervisor records its child's PID in `<data-dir>/etcd.pid`; on start it stops
 * the process that file names, but only when that process's command line is an etcd on this very data dir: a PID
 * reused by anything else is left alone.
 */

/** Whether a command line (argv) is an etcd member on `dataDir` (pure). */
export function isMemberCommand(argv: readonly string[], dataDir: string): boolean {
  return argv.includes(`--data-dir=${dataDir}`) && argv.some((a) => a.startsWith('--name='))
}

export function pidFile(dataDir: string): string {
  return `${dataDir}.pid`
}

export async function recordPid(dataDir: string, pid: number): Promise<void> {
  await writeFile(pidFile(dataDir), `${pid}\n`, { mode: 0o600 })
}

export async function forgetPid(dataDir: string): Promise<void> {
  await rm(pidFile(dataDir), { force: true })
}

async function commandOf(pid: number): Promise<string[] | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '')
  } catch {
    return undefined // gone, or not ours to read
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Stops the member a previous agent left running on `dataDir` (SIGTERM, then SIGKILL after `timeoutMs`). Returns
 * the PID it stopped, or undefined when there was none (no file, a dead PID, or a PID that is not such an etcd).
 */
export async function stopOrphan(dataDir: string, timeoutMs: number): Promise<number | undefined> {
  let pid: number
  try {
    pid = Number.parseInt(await readFile(pidFile(dataDir), 'utf8'), 10)
  } catch {
    return undefined
  }
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return undefined
  const argv = await commandOf(pid)
  if (!argv || !isMemberCommand(argv, dataDir)) return undefined
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + timeoutMs
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  if (alive(pid)) process.kill(pid, 'SIGKILL')
  while (alive(pid) && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 50))
  return pid
}
