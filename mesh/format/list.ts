import type { Command } from 'commander'
import { ConfigError } from '../../src/base/errors.ts'
import { table } from '../table.ts'
import { applyFilters, parseFilters, type Matchers } from './filter.ts'
import { headerOf, parseTemplate } from './template.ts'

/**
 * The flags every `ls`/`ps` takes and the one function that prints a list, pure of I/O:
 *   `-q, --quiet`           the IDs, one per line (docker's `-q`)
 *   `-f, --filter K=V`      repeatable; same key = any of, different keys = all of (filter.ts)
 *   `--format FORMAT`       `table` (default columns), `table TEMPLATE`, `json` (one object per line), `TEMPLATE`
 *   `--json`                the whole JSON array of the (filtered) records, as before `--format` existed
 * A new list command: `listOptions(cmd, Object.keys(matchers))`, then `out(renderList(view, flags))`.
 */

export interface ListFlags {
  quiet?: boolean
  filter?: string[]
  format?: string
  json?: boolean
}

export interface ListView<T> {
  items: readonly T[]
  /** One item as docker's formatter fields (`ID`, `Name`, …), in the default table's column order. */
  fields: (item: T) => Record<string, string>
  /** The default table's columns (field names). */
  columns: readonly string[]
  /** Headers that are not the field's name split into words (docker's `CREATED` over `.CreatedAt`). */
  headers?: Readonly<Record<string, string>>
  /** The `--filter` keys this list takes and how each matches. */
  matchers?: Matchers<T>
  /** The filter keys that take one of a closed set of values, and that set (lower case). */
  filterValues?: Readonly<Record<string, readonly string[]>>
  /** The field `-q` prints. Default `ID`. */
  quietField?: string
  /** What `--json` prints for the filtered items. Default: the items. */
  json?: (items: T[]) => unknown
  /** Cells of the default table when it is not just the fields (e.g. stack ps's ` \_ ` history rows). */
  tableRows?: (items: T[]) => string[][]
}

const collect = (v: string, p: string[] = []) => p.concat(v)

/** Add `-q`, `-f/--filter`, `--format` and `--json` to a list command. `filterKeys`: shown in the help. */
export function listOptions(c: Command, filterKeys: readonly string[], o: { quietWhat?: string } = {}): Command {
  return c
    .option('-q, --quiet', `only ${o.quietWhat ?? 'IDs'}, one per line`)
    .option('-f, --filter <KEY=VALUE>', filterKeys.length ? `filter (repeatable): ${filterKeys.join(', ')}` : 'filter (this list takes none)', collect)
    .option('--format <format>', 'table | table TEMPLATE | json | TEMPLATE, e.g. \'{{.ID}}\\t{{.Name}}\'')
    .option('--json', 'the whole list as one JSON array (alias kept for scripts)')
}

export function renderList<T>(view: ListView<T>, f: ListFlags): string {
  if (f.json && f.format !== undefined) throw new ConfigError('--json and --format: give one of them')
  const matchers = view.matchers ?? {}
  const items = applyFilters(view.items, parseFilters(f.filter ?? [], Object.keys(matchers), view.filterValues), matchers)
  if (f.json) return `${JSON.stringify(view.json ? view.json(items) : items, null, 2)}\n`
  const quietField = view.quietField ?? 'ID'
  if (f.quiet) return items.map((i) => `${view.fields(i)[quietField] ?? ''}\n`).join('')
  const format = f.format?.trim() ?? 'table'
  if (format === 'json') return items.map((i) => `${JSON.stringify(view.fields(i))}\n`).join('')
  if (format === 'table') {
    const columns = view.columns
    const rows = view.tableRows ? view.tableRows(items) : items.map((i) => {
      const fields = view.fields(i)
      return columns.map((c) => fields[c] ?? '')
    })
    return table(columns.map((c) => view.headers?.[c] ?? headerOf(c)), rows)
  }
  const isTable = format.startsWith('table ')
  const tpl = parseTemplate(isTable ? format.slice(6) : format)
  const lines = items.map((i) => tpl.render(scope(i, view.fields(i))))
  if (!isTable) return lines.map((l) => `${l}\n`).join('')
  const cells = tpl.fields.length > 0 ? tpl.fields.map(headerOf) : []
  const rows = lines.map((l) => l.split('\t'))
  return table(headerLine(format.slice(6), cells), rows)
}

/** What a template sees: the formatter fields, and behind them the record itself (`{{.Spec.Labels}}`). */
function scope(item: unknown, fields: Record<string, string>): Record<string, unknown> {
  return item !== null && typeof item === 'object' ? { ...(item as Record<string, unknown>), ...fields } : fields
}

/** The header of `table TEMPLATE`: the template with each `{{…}}` replaced by its column name, split on tabs. */
function headerLine(template: string, names: readonly string[]): string[] {
  let n = 0
  return template.replace(/\\t/g, '\t').replace(/\\n/g, ' ').replace(/\{\{[^}]*\}\}/g, () => names[n++] ?? '').split('\t')
}

/** `inspect`: a JSON array of the objects (docker), or `--format` applied to each object, one line each. */
export function renderInspect(items: readonly unknown[], format?: string): string {
  if (format === undefined) return `${JSON.stringify(items, null, 2)}\n`
  if (format.trim() === 'json') return items.map((i) => `${JSON.stringify(i)}\n`).join('')
  const tpl = parseTemplate(format)
  return items.map((i) => `${tpl.render(i)}\n`).join('')
}
