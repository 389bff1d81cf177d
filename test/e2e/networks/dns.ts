/**
 * Part `dns` of test/e2e/networks.test.ts: names, aliases and VIPs per network, and an attachable network serving a
 * plain `docker run --network NAME` container.
 *
 * Two stacks, dnsa and dnsb, each a `web` (a shell to ask from) and a `db` (httpd answering its stack's name) on the
 * stack's own `<stack>_default`; dnsa's db has the alias `database` there, dnsb's db `store`. From dnsa's web: `db`
 * resolves to an address of dnsa_default and serves dnsa's page, by name and by that VIP, `database` too; dnsb's db
 * (`dnsb_db`, `db.dnsb`, `tasks.dnsb_db`) and its alias are NXDOMAIN, and its VIP and task address do not answer
 * dnsa's web; and the reverse names from dnsb's web. A service
 * `dnsapi` on the attachable network `dnsfront`: a plain container on dnsfront on a worker resolves it to an address
 * of dnsfront (its VIP there) and fetches it; dnsa_db (not on dnsfront) is NXDOMAIN there.
 * At the end stack rm, service rm and network rm leave every node's footprint (Docker networks, mbr-/mvx- links,
 * routes, the nft table, DOCKER-USER) as it was before the part. Every wait is bounded. Addresses: only the lab's own namespaces.
 */
import type { Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LabNode } from '../../lab/index.ts'
import { waitFor } from '../../support/procs.ts'
import { expectNothingLeft, footprint } from './footprint.ts'
import type { NetworksContext } from './context.ts'

const HTTPD = (body: string) => ['sh', '-c', `mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p 80 -h /www`]
const MONITOR = { update_config: { monitor: '1s' } }

function stackFile(stack: string, alias: string): string {
  const db = { image: 'mesh/busybox:latest', command: HTTPD(`${stack}-db`), deploy: MONITOR, networks: { default: { aliases: [alias] } } }
  return JSON.stringify({
    version: '3.8',
    services: { web: { image: 'mesh/busybox:latest', command: ['sleep', '3600'], deploy: MONITOR }, db },
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
  const before = await Promise.all(nodes.map(footprint))

  t.teardown(async () => {
    await c.mesh(['service', 'rm', 'dnsapi'])
    for (const stack of ['dnsa', 'dnsb']) await c.mesh(['stack', 'rm', stack], 120_000)
    // The last subtest removes it already; here only what a failed run left (a missing network is done).
    await waitFor(async () => {
      const r = await c.mesh(['network', 'rm', 'dnsfront'])
      return r.code === 0 || /not found/.test(r.stderr)
    }, 60_000, { intervalMs: 1000, what: 'network rm dnsfront' })
  })
  const net = await c.mesh(['network', 'create', '--driver', 'overlay', '--attachable', 'dnsfront'])
  t.equal(net.code, 0, `network create --attachable dnsfront (${net.stderr.trim()})`)
  const deploys = [['dnsa', 'database'], ['dnsb', 'store']].map(([stack, alias]) => {
    const file = join(tmp, `${stack}.yml`)
    writeFileSync(file, stackFile(stack as string, alias as string))
    return c.mesh(['stack', 'deploy', '-c', file, stack as string], 180_000)
  })
  const api = c.mesh(['service', 'create', '--name', 'dnsapi', '--network', 'dnsfront', '--update-monitor', '1s', 'mesh/busybox:latest', ...HTTPD('dnsapi')], 180_000)
  const [da, db, ap] = await Promise.all([...deploys, api])
  t.equal(da?.code, 0, `stack deploy dnsa (${da?.stderr.trim()})`)
  t.equal(db?.code, 0, `stack deploy dnsb (${db?.stderr.trim()})`)
  t.equal(ap?.code, 0, `service create dnsapi --network dnsfront (${ap?.stderr.trim()})`)

  const subnet = async (name: string): Promise<string> => {
    const r = await c.mesh(['network', 'inspect', name])
    const [n] = JSON.parse(r.stdout) as Array<{ IPAM: { Config: Array<{ Subnet: string }> } }>
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
    for (const name of ['dnsb_db', 'db.dnsb', 'tasks.dnsb_db', 'store', 'dnsapi']) {
      t.equal(answers((await aWeb(`nslookup ${name}`)).stdout), 'NXDOMAIN', `${name}: NXDOMAIN`)
    }
  })

  t.test("stack dnsb's web: its own db and alias; dnsa's are NXDOMAIN", async (t) => {
    const db = answers((await bWeb('nslookup db')).stdout)
    t.ok(Array.isArray(db) && db.length === 1 && inCidr(db[0] as string, bNet), `db → an address of dnsb_default ${bNet}: ${JSON.stringify(db)}`)
    t.equal((await bWeb('timeout 5 wget -qO- http://db/')).stdout.trim(), 'dnsb-db')
    t.same(answers((await bWeb('nslookup store')).stdout), db, 'its alias `store` → its db')
    for (const name of ['dnsa_db', 'database']) t.equal(answers((await bWeb(`nslookup ${name}`)).stdout), 'NXDOMAIN', `${name}: NXDOMAIN`)
    // Nor by address: dnsb's db VIP and task address, from dnsa's web (2 s bound; the fetch above shows they serve).
    const tasks = answers((await bWeb('nslookup tasks.db')).stdout)
    for (const ip of [...(Array.isArray(db) ? db : []), ...(Array.isArray(tasks) ? tasks : [])]) {
      t.equal((await aWeb(`timeout 2 wget -qO- http://${ip}/ 2>/dev/null || true`)).stdout.trim(), '', `dnsa's web cannot reach dnsb's db at ${ip}`)
    }
  })

  t.test('a plain `docker run --network dnsfront` container on a worker resolves and fetches the network\'s service', async (t) => {
    const worker = c.workers[c.workers.length - 1] as LabNode
    // The engine may need a moment to see the network on this node (the bridge comes with the first slice there).
    const r = await waitFor(async () => {
      const x = await worker.docker(['run', '--rm', '--network', 'dnsfront', 'mesh/busybox:latest', 'sh', '-c',
        'nslookup dnsapi; echo ---; timeout 5 wget -qO- http://dnsapi/'], { timeoutMs: 30_000 })
      return x.code === 0 && x.stdout.includes('---\ndnsapi') ? x : null
    }, 30_000, { intervalMs: 1000, what: `${worker.name}: docker run --network dnsfront fetching http://dnsapi/` })
    const [lookup] = r.stdout.split('---')
    const got = answers(lookup as string)
    t.ok(Array.isArray(got) && got.length === 1 && inCidr(got[0] as string, frontNet), `dnsapi → its VIP on dnsfront ${frontNet}: ${JSON.stringify(got)}`)
    t.match(r.stdout, /---\ndnsapi/, 'and http://dnsapi/ answers')
    const b = await worker.docker(['run', '--rm', '--network', 'dnsfront', 'mesh/busybox:latest', 'nslookup', 'dnsa_db'], { timeoutMs: 30_000 })
    t.equal(answers(b.stdout), 'NXDOMAIN', 'dnsa_db (not on dnsfront): NXDOMAIN')
  })

  t.test('stack rm, service rm and network rm leave no Docker network, bridge, VXLAN device, route or rule', async (t) => {
    await c.mesh(['service', 'rm', 'dnsapi'])
    for (const stack of ['dnsa', 'dnsb']) t.equal((await c.mesh(['stack', 'rm', stack], 120_000)).code, 0, `stack rm ${stack}`)
    await waitFor(async () => (await c.mesh(['network', 'rm', 'dnsfront'])).code === 0, 60_000, { intervalMs: 1000, what: 'network rm dnsfront' })
    await expectNothingLeft(t, nodes, before, 'no network, bridge, VXLAN device, route or rule of a network left')
  })
}
