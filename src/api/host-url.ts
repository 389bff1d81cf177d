import { ConfigError } from '../base/errors.ts'
import { splitWords } from './words.ts'

/**
 * Where the CLI sends its requests, as DOCKER_HOST names it (pure, no I/O):
 *   `tcp://HOST:PORT`           the manager API (TLS 1.3 with an admin client certificate)
 *   `ssh://[USER@]HOST[:PORT]`  the system's `ssh` runs `mesh dial-stdio` on HOST, which relays to that host's sockets
 * and the argv of that `ssh`, built as docker's connection helper builds it (`-l USER -p PORT -- HOST …`).
 */
export type HostUrl =
  | { scheme: 'tcp'; host: string; port: number; url: string }
  | { scheme: 'ssh'; host: string; user?: string; port?: number; url: string }

const TCP = /^tcp:\/\/([^:/@[\]]+|\[[^\]]+\]):(\d+)\/?$/
// user: no '@', ':' or '/'; host: a name (never starting with '-', which ssh would read as an option), an IPv4 or a
// bracketed IPv6; optional port; an optional lone '/'
const SSH = /^ssh:\/\/(?:([^@:/\s]+)@)?([A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\])(?::(\d+))?\/?$/

function port(text: string, url: string, what: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`${what} "${url}": port ${text} is out of range (1-65535)`)
  return n
}

/**
 * Parse a host URL (MESH_HOST, `--host`, a context's host); one ConfigError line naming the forms otherwise.
 * `what` names where it came from in that line (default `host`).
 */
export function parseHostUrl(url: string, what = 'host'): HostUrl {
  const tcp = TCP.exec(url)
  if (tcp) return { scheme: 'tcp', host: (tcp[1] as string).replace(/^\[|\]$/g, ''), port: port(tcp[2] as string, url, what), url }
  if (url.startsWith('ssh://')) {
    if (/^ssh:\/\/[^@/]*:[^@/]*@/.test(url)) throw new ConfigError(`${what} "${url}": a password in an ssh URL is not supported (use a key or ssh-agent)`)
    const ssh = SSH.exec(url)
    if (!ssh) throw new ConfigError(`${what} "${url}": want ssh://[USER@]HOST[:PORT], e.g. ssh://root@10.0.0.1`)
    return {
      scheme: 'ssh', host: (ssh[2] as string).replace(/^\[|\]$/g, ''), url,
      ...(ssh[1] ? { user: ssh[1] } : {}), ...(ssh[3] ? { port: port(ssh[3], url, what) } : {}),
    }
  }
  throw new ConfigError(`${what} "${url}": want tcp://HOST:PORT (the manager API, e.g. tcp://10.0.0.1:7947) or ssh://[USER@]HOST[:PORT]`)
}

/**
 * A host or a list of them (`tcp://a:7947,tcp://b:7947`: MESH_HOST, `--host`, a context's host): several only for
 * tcp:// managers, which the client tries in order when one does not answer (src/api client.ts). An ssh:// host
 * stands alone (its `ssh` decides what "does not answer" means). One ConfigError line otherwise.
 */
export function parseHostUrls(text: string, what = 'host'): HostUrl[] {
  const parts = text.split(',').map((p) => p.trim())
  if (parts.length === 1) return [parseHostUrl(text, what)]
  if (parts.some((p) => p === '')) throw new ConfigError(`${what} "${text}": an empty host in the list (want tcp://A:7947,tcp://B:7947)`)
  const urls = parts.map((p) => parseHostUrl(p, what))
  const ssh = urls.find((u) => u.scheme !== 'tcp')
  if (ssh) throw new ConfigError(`${what} "${text}": a list of hosts is for tcp:// managers only; ${ssh.url} must be the one host`)
  const seen = new Set<string>()
  for (const u of urls) {
    const key = `${u.host}:${String(u.port)}`
    if (seen.has(key)) throw new ConfigError(`${what} "${text}": ${u.url} is listed twice`)
    seen.add(key)
  }
  return urls
}

/** ssh fails fast instead of waiting on a dead host (docker's connection helper uses the same 30 s). */
export const SSH_CONNECT_TIMEOUT_S = 30

export interface SshArgvOptions {
  /** MESH_SSH_COMMAND (as GIT_SSH_COMMAND): the ssh program and its own flags, split as a shell splits words. Default `ssh`. */
  sshCommand?: string | undefined
  /** Relay to the agent's control socket (`mesh status`, `mesh dns lookup`) instead of the manager socket. */
  control?: boolean
}

/**
 * The argv that reaches `mesh dial-stdio` on the remote host. The user's own flags (MESH_SSH_COMMAND) come first:
 * ssh takes the first value it is given for an option, so `-o ConnectTimeout=5` there wins over the default here.
 * BatchMode: never a password or host-key prompt on a terminal the CLI's HTTP is using (a failure instead, with
 * ssh's own message). -T: no pseudo-terminal, so the stream is bytes and no login shell runs.
 */
export function sshArgv(u: Extract<HostUrl, { scheme: 'ssh' }>, o: SshArgvOptions = {}): string[] {
  const base = o.sshCommand?.trim() ? splitWords(o.sshCommand) : ['ssh']
  return [
    ...base,
    '-o', `ConnectTimeout=${SSH_CONNECT_TIMEOUT_S}`, '-o', 'BatchMode=yes', '-T',
    ...(u.user ? ['-l', u.user] : []), ...(u.port ? ['-p', String(u.port)] : []),
    '--', u.host, 'mesh', 'dial-stdio', ...(o.control ? ['--control'] : []),
  ]
}
