import { existsSync } from 'node:fs'
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { readFileSync } from 'node:fs'
import { startEtcd } from '../../support/etcd.ts'

t.test('a 3-member etcd answers, survives kill -9 of one member, and restarts it', async (t) => {
  const etcd = await startEtcd(t, { members: 3 })
  const client = new Etcd3({ hosts: etcd.clientUrls })
  t.teardown(() => client.close())
  await client.put('k').value('v1')
  t.equal(await client.get('k').string(), 'v1')
  await etcd.kill(1)
  await client.put('k').value('v2')
  t.equal(await client.get('k').string(), 'v2', 'two of three keep quorum')
  await etcd.restart(1)
  const one = new Etcd3({ hosts: etcd.clientUrls[1] as string })
  t.teardown(() => one.close())
  t.equal(await one.get('k').string(), 'v2', 'the restarted member caught up')
  const dir = etcd.members[0]?.dataDir as string
  await etcd.stop()
  t.notOk(existsSync(dir), 'stop() removed the data dir')
})

t.test('client TLS: a client with the CA and a client certificate is served', async (t) => {
  const etcd = await startEtcd(t, { tls: true })
  const tls = etcd.tls!
  const client = new Etcd3({
    hosts: etcd.clientUrls,
    credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.clientCert), privateKey: readFileSync(tls.clientKey) },
  })
  t.teardown(() => client.close())
  await client.put('k').value('secure')
  t.equal(await client.get('k').string(), 'secure')
})
