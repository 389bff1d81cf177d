import { Command, CommanderError, Option } from 'commander'
import { agentCommand } from './agent.ts'
import { statusCommand } from './status.ts'
import { serviceCommand } from './service.ts'
import { nodeCommand, tokenCommand } from './node.ts'
import { eventsCommand } from './events.ts'
import { stackCommand } from './stack.ts'
import { dnsCommand } from './dns.ts'
import { caCommand } from './ca.ts'
import { uiCommand } from './ui.ts'
import { keyCommand } from './key.ts'
import { versionCommand } from './version.ts'
import { infoCommand } from './info.ts'
import { completionCommand } from './completion.ts'
import { errorMessage } from './errors.ts'
import { MESH_VERSION } from '../src/api/version.ts'

/**
 * mesh/ — the `mesh` CLI. One file per command; commands talk to the local agent over its control socket
 * (or, later, to a manager's HTTP API). Every error is one line `mesh: …` and exit code 1.
 */
export function buildProgram(o: { out?: (text: string) => void } = {}): Command {
  const out = o.out ?? ((text: string) => void process.stdout.write(text))
  // Help is output, not an error: a bare command group (`mesh`, `mesh service`) prints its help on stdout and exits
  // 0, as docker does. commander sends that help to writeErr; errors go through outputError (printed by main).
  const output = { writeOut: out, writeErr: out, outputError: () => undefined }
  const program = new Command('mesh')
    .description('mesh: container networking across hosts — gossip membership, WireGuard overlay, routing mesh, DNS')
    .version(MESH_VERSION, '-v, --version')
    .showHelpAfterError(false)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput(output)
  program.addHelpText('after', `
Start a node (see \`mesh agent --help\`):
  mesh agent --bind ADDR[:PORT] [--init | --join ADDR] [--name NAME] [--overlay on|off|auto]
  (gossip is encrypted: a cluster's keyring comes from its manager; gossip only: --encrypt-file F or --gossip-plaintext)
Then:
  mesh status          the members and the overlay, as this node sees them
  mesh ui login        a one-time login code for the web dashboard (on a manager)
Lists (ls, ps) take -q, --filter KEY=VALUE, --format json|table|TEMPLATE and --json; inspect prints a JSON array.
Run 'mesh help COMMAND [SUBCOMMAND]' or 'mesh COMMAND --help' for more on a command; every command and flag: docs/cli.md.`)
  program.addCommand(agentCommand())
  program.addCommand(statusCommand())
  program.addCommand(serviceCommand())
  program.addCommand(nodeCommand())
  program.addCommand(tokenCommand())
  program.addCommand(eventsCommand())
  program.addCommand(stackCommand())
  program.addCommand(dnsCommand())
  program.addCommand(caCommand())
  program.addCommand(uiCommand())
  program.addCommand(keyCommand())
  program.addCommand(versionCommand())
  program.addCommand(infoCommand())
  program.addCommand(completionCommand(() => buildProgram()))
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput(output)
    for (const sub of c.commands) quiet(sub)
  }
  for (const c of program.commands) quiet(c)
  return program
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(helpAsFlag(argv), { from: 'user' })
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0
      process.stderr.write(`mesh: ${err.message.replace(/^error: /, '')}\n`)
      return 1
    }
    process.stderr.write(`mesh: ${errorMessage(err)}\n`)
    return 1
  }
}

/**
 * `mesh help service create` → `mesh service create --help` (commander's own help command looks one level down
 * only); `mesh help` alone → `mesh --help`.
 */
export function helpAsFlag(argv: readonly string[]): string[] {
  return argv[0] === 'help' ? [...argv.slice(1), '--help'] : [...argv]
}

export { errorMessage }
export { Option }
