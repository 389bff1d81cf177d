import t, { type Test } from 'tap'
import net from 'node:net'
import { Ingress, type IngressOptions } from '../../../src/ingress/index.ts'
import { FakeCatalog, bothEngines, ep, freePort, noLog, svc, until } from './helpers.ts'

/**
 * An agent restart without a listening gap: a new process's ingress listens beside the old one's (reusePort), the
 * old one releases (stops listening, lets open connections finish, keeps the nft rules), the new one serves alone.
 */

/** A TCP backend that answers each line with `name`, keeping the connection open. */
async function lineBackend(t: Test, name: string, port: number): Promise<void> {
  const s = net.createServer((c) => c.on('data', () => c.write(`${name}\n`)))
  await new Promise<void>((r) => s.listen(port, '127.0.0.2', () => r()))
  t.teardown(() => new Promise<void>((r) => { s.close(() => r()); for (const x of conns) x.destroy() }))
  const conns: net.Socket[] = []
  s.on('connection', (c) => conns.push(c))
}

function ask(sock: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    sock.once('data', (b: Buffer) => resolve(b.toString().trim()))
    sock.once('error', reject)
    sock.write('?\n')
  })
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s))
    s.once('error', reject)
  })
}

bothEngines(t, 'two ingresses share a published port; the old one releases and its open connection finishes', async (t, engine) => {
  const target = await freePort(['127.0.0.2'])
  const published = await freePort(['127.0.0.1'])
  await lineBackend(t, 'b1', target)
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'tcp', mode: 'ingress' }], [ep(1, '127.0.0.2')])])
  const errors: string[] = []
  const log: IngressOptions['log'] = (level, msg) => { if (level === 'error') errors.push(msg) }
  // A long connect timeout: a stalled process must not see its loopback connect as timed out (an error log).
  const make = () => new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log, exec: async () => '', tcpEngine: engine, connectTimeoutMs: 30_000 })
  const old = make()
  await old.start()
  t.teardown(() => old.stop())
  const held = await connect(published) // accepted by the old one (the only listener)
  t.teardown(() => held.destroy())
  t.equal(await ask(held), 'b1')
  const next = make()
  await next.start()
  t.teardown(() => next.stop())
  t.same(errors, [], 'the new one listens beside the old one')
  t.equal(next.status().length, 1)
  // The drain deadline is far away (release resolves when the last connection closes): a CI run stalled past a 5 s
  // deadline while the test was still talking, and release cut the held connection.
  const released = old.release(120_000, 10)
  await until(() => old.status().every((p) => p.open <= 1), 20_000, 'old listener closed')
  t.equal(await ask(held), 'b1', 'a connection open on the old one goes on while it drains')
  for (let i = 0; i < 5; i++) {
    const c = await connect(published)
    t.equal(await ask(c), 'b1', `new connection ${i} is served (by the new one)`)
    c.destroy()
  }
  held.destroy()
  t.equal(await released, 0, 'release resolves once the last connection closed, none cut')
  t.same(old.status(), [], 'the old one holds no port any more')
})

t.test('release cuts what is still open at the deadline and reports it', async (t) => {
  const target = await freePort(['127.0.0.2'])
  const published = await freePort(['127.0.0.1'])
  await lineBackend(t, 'b1', target)
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'tcp', mode: 'ingress' }], [ep(1, '127.0.0.2')])])
  const ing = new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: async () => '' })
  await ing.start()
  const held = await connect(published)
  t.teardown(() => held.destroy())
  t.equal(await ask(held), 'b1')
  const closed = new Promise<void>((r) => held.once('close', () => r()))
  t.equal(await ing.release(100, 10), 1, 'one connection was still open')
  await closed
  t.pass('and it was closed')
})

t.test('two ingresses share a published UDP port', async (t) => {
  const published = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target: 53, protocol: 'udp', mode: 'ingress' }], [ep(1, '127.0.0.2')])])
  const errors: string[] = []
  const make = () => new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: (level, msg) => { if (level === 'error') errors.push(msg) }, exec: async () => '' })
  const a = make()
  const b = make()
  await a.start()
  await b.start()
  t.teardown(() => Promise.all([a.stop(), b.stop()]))
  t.same(errors, [])
  t.equal(b.status().length, 1)
  t.equal(await a.release(100, 10), 0, 'UDP releases at once')
})

t.test('stop keeps the nft rules when asked (stop without leaving), removes them otherwise', async (t) => {
  const published = await freePort(['127.0.0.1'])
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target: 80, protocol: 'tcp', mode: 'ingress' }], [ep(1, '10.0.1.2')])])
  const cmds: string[] = []
  const exec: IngressOptions['exec'] = async (cmd, args) => { cmds.push(`${cmd} ${args.join(' ')}`); return '' }
  for (const keepRules of [true, false]) {
    cmds.length = 0
    const ing = new Ingress({ catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', log: noLog, exec, tcpEngine: 'net' })
    await ing.start()
    await ing.stop({ keepRules })
    const deletes = cmds.filter((c) => c.startsWith('nft delete'))
    t.equal(deletes.length, keepRules ? 0 : 1, `keepRules ${keepRules}: ${deletes.length} table deletions`)
  }
})
