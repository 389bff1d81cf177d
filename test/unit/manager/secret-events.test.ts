/**
 * Secret and config events (docker's `secret`/`config` event types): create and remove, with the name and id only —
 * never the sealed value; `--filter type=secret` takes them.
 */
import t from 'tap'
import { EventLog, matchesFilter, parseEventFilters } from '../../../src/manager/events.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'

t.test('secret and config events', async (t) => {
  const store = openSqliteStore(':memory:')
  const log = new EventLog(store, { now: () => 5 })
  log.start()
  t.teardown(() => {
    log.stop()
    store.close()
  })
  await store.transact((tx) => {
    tx.putObject('secret', { id: 's1', spec: { name: 'db', labels: {} }, sealed: 'v1.SEALEDVALUE', version: 1, createdAt: 1, updatedAt: 1 })
    tx.putObject('config', { id: 'c1', spec: { name: 'conf', labels: {}, data: 'eA==' }, version: 1, createdAt: 1, updatedAt: 1 })
  })
  await store.transact((tx) => tx.deleteObject('secret', 's1'))
  const events = log.since()
  t.same(events.map((e) => [e.type, e.action, e.subject, e.attributes]), [
    ['secret', 'create', 'db', { id: 's1', name: 'db' }],
    ['config', 'create', 'conf', { id: 'c1', name: 'conf' }],
    ['secret', 'remove', 'db', { id: 's1', name: 'db' }],
  ])
  t.notOk(JSON.stringify(events).includes('SEALED'), 'no sealed value in any event')
  t.same(events.filter((e) => matchesFilter(e, parseEventFilters(['type=secret']))).length, 2)
})
