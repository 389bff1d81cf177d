import { Command } from 'commander'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { ConfigError } from '../src/base/errors.ts'
import { unlockKeyText, type UnlockKeyAnswer } from '../src/api/index.ts'
import { managerClient, type ApiClient } from './client.ts'

/**
 * `mesh unlock` and `mesh unlock-key` (docker swarm unlock / unlock-key), for managers started with
 * `mesh agent --init --autolock`. The unlock key is read from stdin or a prompt that does not echo, never from an
 * argument (argv is visible to every user of the host).
 */

type Out = (text: string) => void
const stdout: Out = (s) => void process.stdout.write(s)

export function unlockCommand(client: () => ApiClient = managerClient): Command {
  return new Command('unlock').description('unlock a manager locked by autolock after a restart (the key from a prompt or stdin)')
    .addHelpText('after', '\nExamples:\n  mesh unlock                       # prompts for the key\n  mesh unlock < /run/keys/mesh-unlock')
    .action(async () => {
      await unlock(client(), await readUnlockKey())
    })
}

export function unlockKeyCommand(client: () => ApiClient = managerClient): Command {
  return new Command('unlock-key').description('show the manager\'s unlock key (autolock), or --rotate it')
    .option('-q, --quiet', 'only the key')
    .option('--rotate', 'replace the unlock key (and the key it protects): the old one stops working')
    .action(async (f: { quiet?: boolean; rotate?: boolean }) => showUnlockKey(client(), f))
}

export async function unlock(c: ApiClient, key: string): Promise<void> {
  if (key === '') throw new ConfigError('no unlock key given (type it at the prompt, or pipe it on stdin)')
  await c.request('POST', '/v1/unlock', { key })
}

export async function showUnlockKey(c: ApiClient, f: { quiet?: boolean; rotate?: boolean }, out: Out = stdout): Promise<void> {
  const a = f.rotate ? await c.request<UnlockKeyAnswer>('POST', '/v1/unlock-key/rotate') : await c.request<UnlockKeyAnswer>('GET', '/v1/unlock-key')
  if (f.quiet) return out(`${a.key}\n`)
  out(`${f.rotate ? 'Successfully rotated the manager unlock key.\n' : ''}${unlockKeyText(a.key)}`)
}

/** The key: the first line of stdin, or on a terminal a prompt (on stderr) whose answer is not echoed. */
export async function readUnlockKey(input: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (!input.isTTY) {
    const chunks: Buffer[] = []
    for await (const chunk of input) chunks.push(chunk as Buffer)
    return (Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '').trim()
  }
  process.stderr.write('Enter unlock key: ')
  const muted = new Writable({ write: (_chunk, _enc, cb) => cb() })
  const rl = createInterface({ input, output: muted, terminal: true })
  try {
    return await new Promise<string>((resolve) => rl.question('', (answer) => resolve(answer.trim())))
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}
