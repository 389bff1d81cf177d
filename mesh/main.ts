import { Command, CommanderError, Option } from 'commander'
import { MeshError } from '../src/base/errors.ts'
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
import { leaveCommand } from './leave.ts'

/**
 * mesh/ — the `mesh` CLI. One file per command; commands talk to the local agent over its control socket
 * (or, later, to a manager's HTTP API). Every error is one line `mesh: …` and exit code 1.
 */
export function buildProgram(): Command {
  const program = new Command('mesh')
    .description('mesh: container networking across hosts — gossip membership, WireGuard overlay, routing mesh, DNS')
    .version('0.1.0', '-v, --version')
    .showHelpAfterError(false)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, outputError: () => undefined })
  program.addHelpText('after', `
Start a node (see \`mesh agent --help\`):
  mesh agent --bind ADDR[:PORT] [--init | --join ADDR] [--name NAME] [--overlay on|off|auto]
  (gossip is encrypted: a cluster's keyring comes from its manager; gossip only: --encrypt-file F or --gossip-plaintext)
Then:
  mesh status          the members and the overlay, as this node sees them
  mesh ui login        a one-time login code for the web dashboard (on a manager)`)
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
  program.addCommand(leaveCommand())
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({ writeErr: () => undefined, outputError: () => undefined })
    for (const sub of c.commands) quiet(sub)
  }
  for (const c of program.commands) quiet(c)
  return program
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv, { from: 'user' })
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

export function errorMessage(err: unknown): string {
  if (err instanceof MeshError) return err.message
  const e = err as NodeJS.ErrnoException
  if (e && e.code === 'EADDRINUSE') return `address already in use (${(e as { address?: string }).address ?? ''}:${(e as { port?: number }).port ?? ''}): is another agent running? use --bind`
  if (e && e.code === 'EADDRNOTAVAIL') return `cannot bind ${(e as { address?: string }).address ?? 'that address'}: it is not an address of this host (check --bind)`
  if (e && e.code === 'EACCES') return `permission denied: ${e.message}`
  return e?.message ?? String(err)
}

export { Option }
