import { Command, CommanderError, Option } from 'commander'
import { agentCommand } from './agent.ts'
import { statusCommand } from './status.ts'
import { serviceCommand } from './service.ts'
import { nodeCommand, tokenCommand } from './node.ts'
import { eventsCommand } from './events.ts'
import { stackCommand } from './stack.ts'
import { networkCommand } from './network.ts'
import { dnsCommand } from './dns.ts'
import { caCommand } from './ca.ts'
import { uiCommand } from './ui.ts'
import { keyCommand } from './key.ts'
import { configCommand, secretCommand } from './secret.ts'
import { unlockCommand, unlockKeyCommand } from './unlock.ts'
import { versionCommand } from './version.ts'
import { infoCommand } from './info.ts'
import { completionCommand } from './completion.ts'
import { errorMessage } from './errors.ts'
import { MESH_VERSION } from '../src/api/version.ts'
import { leaveCommand } from './leave.ts'
import { managerCommand } from './manager-backup.ts'
import { contextCommand } from './context.ts'
import { dialStdioCommand } from './dial-stdio.ts'
import { globalOptionsEnv } from './endpoint.ts'

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
    .option('-c, --context <name>', 'the context to use for this command (overrides MESH_HOST, MESH_CONTEXT and `mesh context use`)')
    .option('-H, --host <url>', 'the manager to talk to: ssh://[USER@]HOST[:PORT] or tcp://HOST:PORT, or several tcp:// managers comma-separated, tried in order (as MESH_HOST)')
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
Remote: MESH_HOST=ssh://root@HOST mesh service ls, or mesh context create prod --host ssh://root@HOST; mesh context use prod
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
  program.addCommand(networkCommand())
  program.addCommand(dnsCommand())
  program.addCommand(caCommand())
  program.addCommand(uiCommand())
  program.addCommand(keyCommand())
  program.addCommand(secretCommand())
  program.addCommand(configCommand())
  program.addCommand(unlockCommand())
  program.addCommand(unlockKeyCommand())
  program.addCommand(versionCommand())
  program.addCommand(infoCommand())
  program.addCommand(completionCommand(() => buildProgram()))
  program.addCommand(leaveCommand())
  program.addCommand(managerCommand())
  program.addCommand(contextCommand())
  // the remote half of ssh:// hosts; hidden as docker hides `docker system dial-stdio` (docs/cli.md shows it)
  program.addCommand(dialStdioCommand(), { hidden: true })
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput(output)
    for (const sub of c.commands) quiet(sub)
  }
  for (const c of program.commands) quiet(c)
  return program
}

/** Run the CLI; returns the exit code. `io`: where help and errors go (a test's buffers; default stdout/stderr). */
export async function main(argv: string[], io: { out?: (text: string) => void; err?: (text: string) => void } = {}): Promise<number> {
  const err = io.err ?? ((text: string) => void process.stderr.write(text))
  const program = buildProgram(io.out ? { out: io.out } : {})
  // --host/--context are this run's MESH_HOST/MESH_CONTEXT (mesh/endpoint.ts), put back afterwards (tests run main() often)
  const saved = { MESH_HOST: process.env.MESH_HOST, MESH_CONTEXT: process.env.MESH_CONTEXT }
  program.hook('preAction', () => {
    const env = globalOptionsEnv(program.opts<{ host?: string; context?: string }>(), process.env)
    for (const k of ['MESH_HOST', 'MESH_CONTEXT'] as const) {
      if (env[k] === undefined) delete process.env[k]
      else process.env[k] = env[k]
    }
  })
  try {
    await program.parseAsync(helpAsFlag(argv, program), { from: 'user' })
    return 0
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0
      err(`mesh: ${e.message.replace(/^error: /, '')}\n`)
      return 1
    }
    err(`mesh: ${errorMessage(e)}\n`)
    return 1
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

/**
 * `mesh help service create` → `mesh service create --help` (commander's own help command looks one level down
 * only); `mesh help` alone → `mesh --help`. A word that names no command is an error, as an unknown command is.
 */
export function helpAsFlag(argv: readonly string[], program?: Command): string[] {
  if (argv[0] !== 'help') return [...argv]
  let at = program
  for (const word of argv.slice(1)) {
    if (!at || word.startsWith('-')) break
    at = at.commands.find((c) => c.name() === word || c.aliases().includes(word))
    if (!at) throw new CommanderError(1, 'commander.unknownCommand', `unknown command '${word}'`)
  }
  return [...argv.slice(1), '--help']
}

export { errorMessage }
export { Option }
