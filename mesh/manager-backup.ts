import { Command, Option } from 'commander'
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { ControlError } from '../src/base/errors.ts'
import type { ManagerClient } from '../src/api/index.ts'
import { managerClient } from './client.ts'

/**
 * `mesh manager backup FILE` (through the manager API, admin) and `mesh manager restore FILE --data-dir DIR`
 * (offline, on the host that will run the restored manager). docs/operations.md has the disaster-recovery path.
 */

type Out = (text: string) => void
const stdout: Out = (s) => void process.stdout.write(s)
const stderr: Out = (s) => void process.stderr.write(s)

/** Progress lines start above this size, one per PROGRESS_STEP received. */
const PROGRESS_FROM = 4 * 1024 * 1024
const PROGRESS_STEP = 4 * 1024 * 1024

export function managerCommand(client: () => Pick<ManagerClient, 'stream'> = managerClient): Command {
  const cmd = new Command('manager').description('back up and restore the manager\'s store (docs/operations.md)')
  cmd.addCommand(new Command('backup').description('write the whole store, at one revision, to FILE (mode 0600; - for stdout)')
    .argument('<file>', 'where to write the backup, or - for stdout')
    .option('--with-kek', 'also include the key-encryption key: whoever holds the file then opens every secret in it')
    .addHelpText('after', '\nSecrets stay sealed in the file; restoring them needs <data-dir>/vault/kek (or --with-kek).\n' +
      'Example:\n  mesh manager backup /root/mesh-$(date +%F).backup')
    .action(async (file: string, f: { withKek?: boolean }) => {
      await backup(client(), file, { withKek: f.withKek === true })
    }))
  cmd.addCommand(new Command('restore').description('write a backup into a fresh store for `mesh agent --data-dir DIR` (offline)')
    .argument('<file>', 'the backup file, or - for stdin')
    .requiredOption('--data-dir <dir>', 'the data dir of the manager to start on the restored state')
    .option('--store <url>', 'restore into an etcd cluster (etcd://HOST:PORT[,HOST:PORT…][/prefix]) instead of DIR/manager.db')
    .addOption(new Option('--store-ca <file>', 'the etcd CA (PEM), for https'))
    .addOption(new Option('--store-cert <file>', 'client certificate for etcd (PEM)'))
    .addOption(new Option('--store-key <file>', 'its private key (PEM)'))
    .option('--force', 'replace a store (and a KEK file) the target already holds')
    .addHelpText('after', '\nExample:\n  mesh manager restore /root/mesh.backup --data-dir /var/lib/mesh && mesh agent --data-dir /var/lib/mesh --init')
    .action(async (file: string, f: { dataDir: string; store?: string; storeCa?: string; storeCert?: string; storeKey?: string; force?: boolean }) => {
      await restore(file, f)
    }))
  return cmd
}

/** Streams the backup from the manager into FILE (a temp file renamed once complete and checked) or stdout. */
export async function backup(c: Pick<ManagerClient, 'stream'>, file: string, o: { withKek: boolean }, out: Out = stdout, err: Out = stderr): Promise<void> {
  const toStdout = file === '-'
  const tmp = `${file}.tmp-${process.pid}`
  const fd = toStdout ? -1 : openSync(tmp, 'wx', 0o600)
  const hash = createHash('sha256')
  let total = 0
  let got = 0
  let nextProgress = PROGRESS_STEP
  let header: { clusterId: string; revision: number; records: number } | undefined
  let end: { bytes: number; sha256: string } | undefined
  try {
    await c.stream(`/v1/manager/backup${o.withKek ? '?kek=true' : ''}`, (v) => {
      const line = v as { header?: typeof header; bytes?: number; chunk?: string; end?: typeof end }
      if (line.header) {
        header = line.header
        total = line.bytes ?? 0
      } else if (typeof line.chunk === 'string') {
        const b = Buffer.from(line.chunk, 'base64')
        hash.update(b)
        got += b.length
        if (toStdout) process.stdout.write(b)
        else writeSync(fd, b)
        if (total >= PROGRESS_FROM && got >= nextProgress) {
          err(`backup: ${mib(got)} of ${mib(total)} MiB\n`)
          nextProgress += PROGRESS_STEP
        }
      } else if (line.end) end = line.end
    })
    if (!header || !end || end.bytes !== got || end.sha256 !== hash.digest('hex')) {
      throw new ControlError('the manager\'s backup stream ended early or arrived damaged: nothing was written')
    }
    if (!toStdout) {
      fsyncSync(fd)
      closeSync(fd)
      renameSync(tmp, file)
    }
  } catch (e) {
    if (!toStdout) {
      try { closeSync(fd) } catch { /* closed already */ }
      rmSync(tmp, { force: true })
    }
    throw e
  }
  if (o.withKek) err(`warning: ${toStdout ? 'the backup' : file} holds the key-encryption key: whoever reads it opens every secret in it; keep it offline\n`)
  const summary = `Backed up cluster ${header.clusterId} at revision ${header.revision} (${header.records} records, ${got} bytes)`
  if (toStdout) err(`${summary}\n`)
  else out(`${summary} to ${file}\n`)
}

async function restore(file: string, f: { dataDir: string; store?: string; storeCa?: string; storeCert?: string; storeKey?: string; force?: boolean }): Promise<void> {
  const { restoreManager } = await import('../src/manager/index.ts')
  const r = await restoreManager({
    file, dataDir: f.dataDir, force: f.force === true,
    ...(f.store ? { store: f.store } : {}), ...(f.storeCa ? { storeCa: f.storeCa } : {}),
    ...(f.storeCert ? { storeCert: f.storeCert } : {}), ...(f.storeKey ? { storeKey: f.storeKey } : {}),
  })
  for (const w of r.warnings) stderr(`warning: ${w}\n`)
  const h = r.backup.header
  const n = (k: 'node' | 'service' | 'task'): number => r.backup.records[k].length
  stdout(`Restored cluster ${h.clusterId} (revision ${h.revision} of ${h.createdAt}: ${n('node')} nodes, ${n('service')} services, ` +
    `${n('task')} tasks) into ${r.target}\nStart it alone: mesh agent --data-dir ${f.dataDir}${f.store ? ` --store ${f.store}` : ''}\n`)
}

function mib(n: number): string {
  return (n / 1024 / 1024).toFixed(1)
}
