import { Command } from 'commander'
import { managerClient } from './client.ts'

/** What POST /v1/ui/login-codes answers. */
interface LoginCodeReply { code: string; expiresInS: number; url?: string }

/**
 * `mesh ui login`: mint a one-time dashboard login code on a manager (an admin route: the manager socket as root
 * or a member of the `mesh` group, or an admin credential over MESH_HOST) and print it with the dashboard's URL,
 * like a Jupyter token. The code is printed, never passed in argv; it works once, within 5 minutes.
 */
export function uiCommand(): Command {
  const cmd = new Command('ui').description('the web dashboard (on a manager)')
  cmd.command('login').description('print the dashboard URL and a one-time login code (valid 5 minutes, single use)')
    .option('--json', 'JSON output: {code, expiresInS, url}')
    .addHelpText('after', `
Open the URL in a browser and enter the code on the login page. The session lasts 30 minutes without use and
8 hours at most; "Log out" ends it on the manager. Needs an admin: root or the \`mesh\` group on a manager, or
MESH_HOST with an admin credential.`)
    .action(async (f: { json?: boolean }) => {
      const r = await managerClient().request<LoginCodeReply>('POST', '/v1/ui/login-codes')
      if (f.json) return void process.stdout.write(`${JSON.stringify(r)}\n`)
      const minutes = Math.round(r.expiresInS / 60)
      process.stdout.write(`Open the dashboard and enter this login code (single use, valid ${minutes} minutes):\n\n` +
        `    ${r.url ?? '/ui on this manager\'s API port (7947)'}\n\n    Code: ${r.code}\n`)
    })
  return cmd
}
