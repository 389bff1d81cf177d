import { Command } from 'commander'
import { controlGet, type LookupRecord, type LookupResult } from '../src/api/index.ts'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { agentTarget } from './client.ts'
import { ConfigError } from '../src/base/errors.ts'
import { ipv4ToInt } from '../src/base/cidr.ts'
import { table } from './table.ts'

const TYPES = ['A', 'AAAA', 'SRV', 'PTR', 'SOA', 'TXT', 'ANY']

function show(r: LookupRecord): string {
  const d = r.data as Record<string, unknown> | string
  if (r.type === 'SRV' && typeof d === 'object') return `${String(d.priority)} ${String(d.weight)} ${String(d.port)} ${String(d.target)}`
  if (r.type === 'SOA' && typeof d === 'object') return `${String(d.mname)} ${String(d.rname)} (minimum ${String(d.minimum)})`
  return typeof d === 'string' ? d : JSON.stringify(d)
}

export function dnsCommand(): Command {
  const dns = new Command('dns').description('service discovery DNS: what a container resolves')
  dns.command('lookup')
    .description('answer NAME as the local agent\'s DNS answers a container (VIP, task addresses, SRV, PTR); names that are not services say "forwarded"')
    .argument('<name>', 'a service (web, web.mystack, web.mesh.), tasks.web, a task (web.1), _80._tcp.web, or an address for PTR')
    .option('--type <type>', `record type: ${TYPES.join(', ')} (default A; PTR when NAME is an IPv4 address)`)
    .option('--from <ip>', 'answer as for a container with this overlay address (its stack decides short names)')
    .option('--json', 'print JSON for scripts')
    .option('--data-dir <dir>', `the agent's data dir (default ${DEFAULT_DATA_DIR}, env MESH_DATA_DIR)`)
    .addHelpText('after', '\nExamples:\n  mesh dns lookup web\n  mesh dns lookup tasks.web\n  mesh dns lookup _80._tcp.web --type SRV\n  mesh dns lookup 10.78.0.2')
    .action(async (name: string, o: { type?: string; from?: string; json?: boolean; dataDir?: string }) => {
      let type = (o.type ?? 'A').toUpperCase()
      let qname = name
      if (ipv4ToInt(name) !== null && o.type === undefined) {
        type = 'PTR'
        qname = `${name.split('.').reverse().join('.')}.in-addr.arpa`
      }
      if (!TYPES.includes(type)) throw new ConfigError(`--type "${o.type}": want one of ${TYPES.join(', ')}`)
      const q = new URLSearchParams({ name: qname, type, ...(o.from ? { from: o.from } : {}) })
      const r = await controlGet<LookupResult>(agentTarget('mesh dns lookup', o.dataDir), `/v1/dns/lookup?${q.toString()}`)
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`)
        return
      }
      if (r.forwarded) {
        process.stdout.write(`${qname}: not a mesh name; forwarded to the upstream resolvers\n`)
        return
      }
      process.stdout.write(`${qname} ${type}: ${r.rcode}${r.rcode === 'NOERROR' && r.answers.length === 0 ? ' (no records of this type)' : ''}\n`)
      if (r.answers.length > 0) process.stdout.write(table(['NAME', 'TYPE', 'TTL', 'DATA'], r.answers.map((a) => [a.name, a.type, String(a.ttl), show(a)])))
    })
  return dns
}
