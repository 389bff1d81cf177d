/**
 * Part `dns` of test/e2e/networks.test.ts: names, aliases and VIPs per network, and an attachable network serving a
 * plain `docker run --network NAME` container.
 *
 * Two stacks, dnsa and dnsb, each a `web` (a shell to ask from) and a `db` (httpd answering its stack's name) on the
 * stack's own `<stack>_default`; dnsa's db has the alias `database` there and is also on the attachable network
 * `dnsfront`. From dnsa's web: `db` resolves to an address of dnsa_default and serves dnsa's page, `database` too;
 * dnsb's db (`dnsb_db`, `db.dnsb`, `tasks.dnsb_db`) is NXDOMAIN. From dnsb's web: `database` is NXDOMAIN. A plain
 * container on dnsfront on a worker resolves `dnsa_db` to an address of dnsfront (its VIP there) and fetches it.
 * Every wait is bounded; everything made here is removed at the end. Addresses: only the lab's own namespaces.
 */
import type { Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LabNode } from '../../lab/index.ts'
import { waitFor } from '../../support/procs.ts'
import type { NetworksContext } from './context.ts'

const HTTPD = (body: string) => ['sh', '-c', `mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p 80 -h /www`]
const MONITOR = { update_config: { monitor: '1s' } }

function stackFile(stack: string, withFront: boolean): string {
  const db: Record<string, unknown> = {
    image: 'mesh/busybox:latest', command: HTTPD(`${stack}-db`), deploy: MONITOR,
    networks: withFront ? { default: { aliases: ['database'] }, dnsfront: {} } : { default: { aliases: ['database'] } },
  }
  return JSON.stringify({
    version: '3.8',
    services: { web: { image: 'mesh/busybox:latest', command: ['sleep', '3600'], deploy: MONITOR }, db },
    ...(withFront ? { networks: { dnsfront: { external: true } } } : {}),
  })
}

/** `a.b.c.d` inside `x.y.z.w/p`? */
function inCidr(ip: string, cidr: string): boolean {
  const n = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0)
  const [base, p] = cidr.split('/') as [string, string]
  const size = 2 ** (32 - Number(p))
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size)
}

/** nslookup output → the addresses it answered (busybox prints the server first: skip it); NXDOMAIN → 'NXDOMAIN'. */
function answers(out: string): string[] | 'NXDOMAIN' {
  if (/NXDOMAIN|can't find/i.test(out)) return 'NXDOMAIN'
  return [...out.split(/\n\s*\n/).slice(1).join('\n').matchAll(/Address:?\s*(?:\d+:\s*)?(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1] as string)
}

export async function run(t: Test, { c }: NetworksContext): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'mesh-netdns-e2e-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const nodes = c.lab.nodes as LabNode[]
  const byName = new Map(nodes.map((n) => [n.name, n]))

  const net = await c.mesh(['network', 'create', '--driver', 'overlay', '--attachable', 'dnsfront'])
  t.equal(net.code, 0, `network create --attachable dnsfront (${net.stderr.trim()})`)
  for (const [stack, front] of [['dnsa', true], ['dnsb', false]] as const) {
    const file = join(tmp, `${stack}.yml`)
    writeFileSync(file, stackFile(stack, front))
    const r = await c.mesh(['stack', 'deploy', '-c', file, stack], 180_000)
    t.equal(r.code, 0, `stack deploy ${stack} (${r.stderr.trim()})`)
  }
  t.teardown(async () => {
    for (const stack of ['dnsa', 'dnsb']) await c.mesh(['stack', 'rm', stack], 120_000)
    await waitFor(async () => (await c.mesh(['network', 'rm', 'dnsfront'])).code === 0, 60_000, { intervalMs: 1000, what: 'network rm dnsfront' })
  })

  const subnet = async (name: string): Promise<string> => {
    const [n] = await c.json<Array<{ IPAM: { Config: Array<{ Subnet: string }> } }>>(['network', 'inspect', name])
    return n?.IPAM.Config[0]?.Subnet as string
  }
  const [aNet, bNet, frontNet] = await Promise.all([subnet('dnsa_default'), subnet('dnsb_default'), subnet('dnsfront')])
  t.ok(aNet && bNet && frontNet, `subnets: dnsa_default ${aNet}, dnsb_default ${bNet}, dnsfront ${frontNet}`)

  /** A shell in the (first running) task of a service, on whichever node runs it. */
  const shellIn = async (service: string) => {
    const [task] = await c.running(service)
    const node = byName.get(c.nodeName.get(task?.nodeId ?? '') ?? '') as LabNode
    const name = `${service}.${task?.slot}.${task?.id}`
    return (cmd: string) => node.docker(['exec', name, 'sh', '-c', cmd], { timeoutMs: 20_000 })
  }
  const aWeb = await shellIn('dnsa_web')
  const bWeb = await shellIn('dnsb_web')

  t.test("stack dnsa's web: its own db by name and VIP, an alias on its network; nothing of stack dnsb", async (t) => {
    const db = answers((await aWeb('nslookup db')).stdout)
    t.ok(Array.isArray(db) && db.length === 1 && inCidr(db[0] as string, aNet), `db → one address of dnsa_default ${aNet}: ${JSON.stringify(db)}`)
    const vip = (db as string[])[0] as string
    t.equal((await aWeb('timeout 5 wget -qO- http://db/')).stdout.trim(), 'dnsa-db', 'http://db/ → stack dnsa\'s db')
    t.equal((await aWeb(`timeout 5 wget -qO- http://${vip}/`)).stdout.trim(), 'dnsa-db', `http://${vip}/ (the VIP) → stack dnsa's db`)
    t.same(answers((await aWeb('nslookup database')).stdout), [vip], 'the alias `database` → the same VIP')
    for (const name of ['dnsb_db', 'db.dnsb', 'tasks.dnsb_db']) {
      t.equal(answers((await aWeb(`nslookup ${name}`)).stdout), 'NXDOMAIN', `${name}: NXDOMAIN`)
    }
  })

  t.test("stack dnsb's web: its own db; dnsa's alias is NXDOMAIN", async (t) => {
    const db = answers((await bWeb('nslookup db')).stdout)
    t.ok(Array.isArray(db) && db.length === 1 && inCidr(db[0] as string, bNet), `db → an address of dnsb_default ${bNet}: ${JSON.stringify(db)}`)
    t.equal((await bWeb('timeout 5 wget -qO- http://db/')).stdout.trim(), 'dnsb-db')
    t.same(answers((await bWeb('nslookup database')).stdout), db, "`database` is dnsb's own db's alias on dnsb_default")
    t.equal(answers((await bWeb('nslookup dnsa_db')).stdout), 'NXDOMAIN', 'dnsa_db: NXDOMAIN')
  })

  t.test('a plain `docker run --network dnsfront` container on a worker resolves and fetches the network\'s service', async (t) => {
    const worker = c.workers[c.workers.length - 1] as LabNode
    // The engine may need a moment to see the network on this node (the bridge comes with the first slice there).
    const r = await waitFor(async () => {
      const x = await worker.docker(['run', '--rm', '--network', 'dnsfront', 'mesh/busybox:latest', 'sh', '-c',
        'nslookup dnsa_db; echo ---; timeout 5 wget -qO- http://dnsa_db/'], { timeoutMs: 30_000 })
      return x.code === 0 && x.stdout.includes('dnsa-db') ? x : null
    }, 30_000, { intervalMs: 1000, what: `${worker.name}: docker run --network dnsfront fetching http://dnsa_db/` })
    const [lookup] = r.stdout.split('---')
    const got = answers(lookup as string)
    t.ok(Array.isArray(got) && got.length === 1 && inCidr(got[0] as string, frontNet), `dnsa_db → its VIP on dnsfront ${frontNet}: ${JSON.stringify(got)}`)
    t.match(r.stdout, /dnsa-db/, 'and http://dnsa_db/ answers')
    const b = await worker.docker(['run', '--rm', '--network', 'dnsfront', 'mesh/busybox:latest', 'nslookup', 'dnsb_db'], { timeoutMs: 30_000 })
    t.equal(answers(b.stdout), 'NXDOMAIN', 'dnsb_db (not on dnsfront): NXDOMAIN')
  })
}
