import { Command } from 'commander'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, ControlError } from '../src/base/errors.ts'
import { ApiError, CLIENT_BUNDLE } from '../src/api/index.ts'
import { parseDuration } from '../src/api/spec.ts'
import { managerClient } from './client.ts'
import { listOptions, renderList, type ListFlags, type ListView } from './format/list.ts'

/**
 * `mesh ca …` — the cluster CA (docker swarm ca): show it, rotate it with every node re-issued, and issue or revoke
 * admin client certificates for remote use (MESH_HOST + MESH_CERT_PATH, as DOCKER_CERT_PATH). A client key is made
 * here and never sent; the manager signs a CSR.
 */
interface CaStatus { digest: string; rotating: boolean; pending: { id: string; hostname: string; state: string }[] }

export function caCommand(): Command {
  const cmd = new Command('ca').description('the cluster certificate authority (on a manager, or with MESH_HOST + MESH_CERT_PATH)')
  cmd.command('show').description('print the root certificate (PEM) and its sha256, which join tokens pin')
    .option('--json', 'digest, rotation state and the nodes still to renew').action(async (f: { json?: boolean }) => {
      const c = managerClient()
      const ca = await c.request<{ certificate: string; digest: string }>('GET', '/v1/ca')
      const st = await c.request<CaStatus>('GET', '/v1/ca/status')
      if (f.json) return void process.stdout.write(`${JSON.stringify({ ...st, certificate: ca.certificate }, null, 2)}\n`)
      process.stdout.write(`${ca.certificate}sha256:${ca.digest}${st.rotating ? `  (rotating: ${st.pending.length} node(s) still to renew)` : ''}\n`)
    })
  cmd.command('rotate').description('replace the root CA: every node gets a new certificate, no task stops; join tokens change')
    .option('--detach', 'start the rotation and return')
    .option('--timeout <duration>', 'how long to wait for every node to renew', '5m')
    .action(async (f: { detach?: boolean; timeout: string }) => {
      const timeoutMs = parseDuration(f.timeout, '--timeout')
      const c = managerClient()
      let st = await c.request<CaStatus>('POST', '/v1/ca/rotate')
      process.stdout.write(`New root CA sha256:${st.digest}; join tokens changed (mesh token show worker).\n`)
      if (f.detach) return
      const total = st.pending.length
      const until = Date.now() + timeoutMs
      let shown = -1
      while (st.rotating) {
        if (shown !== st.pending.length) {
          shown = st.pending.length
          process.stdout.write(`rotating: ${total - st.pending.length}/${total} nodes have a certificate from the new root\n`)
        }
        if (Date.now() > until) {
          throw new ConfigError(`the rotation is still running: ${st.pending.map((p) => `${p.hostname} (${p.state})`).join(', ')} ` +
            'have not renewed; it finishes when they reconnect or are removed with mesh node rm')
        }
        await new Promise((r) => setTimeout(r, 500))
        try {
          st = await c.request<CaStatus>('GET', '/v1/ca/status')
        } catch (err) {
          // The manager asked may not answer for a few seconds (its agent restarted during the rotation, as
          // docs/operations.md asks of each manager on etcd once it ends). Keep asking until --timeout.
          if (!(err instanceof ControlError) && !(err instanceof ApiError && err.status >= 500)) throw err
          if (Date.now() > until) throw err
          if (shown !== -2) process.stdout.write(`rotating: the manager is not answering (${err.message}); still waiting\n`)
          shown = -2
        }
      }
      process.stdout.write(`rotated: ${total}/${total} nodes renewed; the old root is no longer trusted.\n`)
    })
  cmd.command('issue-client').description('issue an admin client certificate bundle (ca.pem, cert.pem, key.pem) into DIR')
    .argument('<name>', 'who it is for (letters, digits, . _ -)').requiredOption('--out <dir>', 'a new or empty directory')
    .action(async (name: string, f: { out: string }) => {
      if (existsSync(f.out) && readdirSync(f.out).length > 0) throw new ConfigError(`--out ${f.out}: not empty; give a new directory`)
      // Loaded here: the X.509 library costs a quarter of every other command's start.
      const { createNodeKeyAndCsr } = await import('../src/pki/index.ts')
      const { keyPem, csrPem } = await createNodeKeyAndCsr()
      const r = await managerClient().request<{ certificate: string; ca: string[]; serial: string; notAfter: string }>('POST', '/v1/ca/clients', { name, csr: csrPem })
      mkdirSync(f.out, { recursive: true, mode: 0o700 })
      writeFileSync(join(f.out, CLIENT_BUNDLE.key), keyPem, { mode: 0o600, flag: 'wx' })
      writeFileSync(join(f.out, CLIENT_BUNDLE.cert), r.certificate, { mode: 0o644, flag: 'wx' })
      writeFileSync(join(f.out, CLIENT_BUNDLE.ca), r.ca.join(''), { mode: 0o644, flag: 'wx' })
      process.stdout.write(`Admin client certificate "${name}" (serial ${r.serial}, expires ${r.notAfter}) in ${f.out}.\n` +
        `Use it from another host:\n    MESH_HOST=tcp://<manager>:7947 MESH_CERT_PATH=${f.out} mesh node ls\n` +
        `    curl --cacert ${f.out}/ca.pem --cert ${f.out}/cert.pem --key ${f.out}/key.pem https://<manager>:7947/v1/nodes\n` +
        `    DOCKER_HOST=tcp://<manager>:7947 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${f.out} docker node ls   (docs/docker-api.md)\n` +
        `Withdraw it with: mesh ca revoke-client ${name}\n`)
    })
  listOptions(cmd.command('ls-clients').description('the admin client certificates the manager accepts'), ['name', 'serial'], { quietWhat: 'names' })
    .action(async (f: ListFlags) => {
      const list = await managerClient().request<AdminClientView[]>('GET', '/v1/ca/clients')
      process.stdout.write(renderList(adminClientList(list), f))
    })
  cmd.command('revoke-client').description('withdraw every admin client certificate issued under NAME (refused at once)')
    .argument('<name>').action(async (name: string) => {
      const r = await managerClient().request<{ revoked: number }>('DELETE', `/v1/ca/clients/${encodeURIComponent(name)}`)
      process.stdout.write(`Revoked ${r.revoked} client certificate(s) named "${name}".\n`)
    })
  return cmd
}

export interface AdminClientView { name: string; serial: string; notAfter: string }

/** `ca ls-clients`: NAME SERIAL EXPIRES; `-q` prints names; filters `name=` (prefix) and `serial=`. */
export function adminClientList(items: readonly AdminClientView[]): ListView<AdminClientView> {
  return {
    items, columns: ['Name', 'Serial', 'Expires'], quietField: 'Name',
    fields: (c) => ({ Name: c.name, Serial: c.serial, Expires: c.notAfter }),
    matchers: { name: (c, v) => c.name.startsWith(v), serial: (c, v) => c.serial === v.toLowerCase() },
  }
}
