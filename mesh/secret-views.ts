import type { ConfigRecord, SecretView } from '../src/api/index.ts'
import { idPrefix, labelMatches } from './format/filter.ts'
import type { ListView } from './format/list.ts'
import { formatAgo } from './table.ts'

/**
 * `secret ls` and `config ls` as docker's: ID NAME [DRIVER] CREATED UPDATED, filters `id` (prefix), `label`,
 * `name` (prefix) and `names` (exact), pure. `inspect --pretty` as docker's text.
 */

export const SECRET_FILTERS = ['id', 'label', 'name', 'names'] as const

type ValueObject = SecretView | ConfigRecord

function objectList<T extends ValueObject>(items: readonly T[], now: number, driver: boolean): ListView<T> {
  const ago = (ms: number) => formatAgo(Math.max(0, now - ms))
  return {
    items,
    columns: driver ? ['ID', 'Name', 'Driver', 'CreatedAt', 'UpdatedAt'] : ['ID', 'Name', 'CreatedAt', 'UpdatedAt'],
    headers: { CreatedAt: 'CREATED', UpdatedAt: 'UPDATED' },
    fields: (o) => ({
      ID: o.id, Name: o.spec.name, ...(driver ? { Driver: '' } : {}), CreatedAt: ago(o.createdAt), UpdatedAt: ago(o.updatedAt),
      Labels: Object.entries(o.spec.labels).map(([k, v]) => `${k}=${v}`).join(','),
    }),
    matchers: {
      id: (o, v) => idPrefix(o.id, v),
      label: (o, v) => labelMatches(o.spec.labels, v),
      name: (o, v) => o.spec.name.startsWith(v),
      names: (o, v) => o.spec.name === v,
    },
  }
}

export function secretList(items: readonly SecretView[], now: number): ListView<SecretView> {
  return objectList(items, now, true)
}

export function configList(items: readonly ConfigRecord[], now: number): ListView<ConfigRecord> {
  return objectList(items, now, false)
}

/** `inspect --pretty`: docker's layout; a config's data is shown decoded (docker does too), a secret has none. */
export function prettyObject(o: ValueObject): string {
  const labels = Object.entries(o.spec.labels)
  const lines = [
    `ID:              ${o.id}`,
    `Name:              ${o.spec.name}`,
    ...(labels.length > 0 ? ['Labels:', ...labels.map(([k, v]) => ` - ${k}=${v}`)] : []),
    ...('data' in o.spec ? [] : ['Driver:']),
    `Created at:        ${new Date(o.createdAt).toISOString()}`,
    `Updated at:        ${new Date(o.updatedAt).toISOString()}`,
  ]
  if ('data' in o.spec) lines.push('Data:', Buffer.from(o.spec.data, 'base64').toString('utf8'))
  return `${lines.join('\n')}\n`
}
