/**
 * `--store etcd://HOST:PORT[,HOST:PORT…]` (thin adapter): parses the URL, reads the client-TLS files and builds
 * the `etcd3` client EtcdStore uses. Plain http to the members unless a CA is given, then https with that CA and,
 * when given, a client certificate (etcd's --client-cert-auth). The client does not retry on its own
 * (EtcdStore's commit path does, knowing which writes may already have committed); each call has a deadline.
 */
import { readFileSync } from 'node:fs'
import { Etcd3, type IOptions } from 'etcd3'
import { ConfigError } from '../../base/errors.ts'

export interface EtcdStoreUrl {
  /** host:port of each member. */
  endpoints: string[]
  /** Key prefix from the URL's path (`etcd://h:2379/prod` → '/prod/'), else undefined (the default). */
  prefix?: string
}

/** PEM files for an etcd with client TLS. */
export interface EtcdTlsPaths {
  ca?: string
  cert?: string
  key?: string
}

/** Parses `etcd://HOST:PORT[,HOST:PORT…][/prefix]`; throws ConfigError naming what is wrong. */
export function parseEtcdUrl(url: string): EtcdStoreUrl {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url)
  if (!m) throw new ConfigError(`--store: expected etcd://HOST:PORT[,HOST:PORT…] (got ${JSON.stringify(url)})`)
  const endpoints = (m[1] as string).split(',').map((h) => h.trim())
  for (const e of endpoints) {
    const hp = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(e)
    if (!hp || Number(hp[2]) < 1 || Number(hp[2]) > 65535) {
      throw new ConfigError(`--store: ${JSON.stringify(e)} is not HOST:PORT (port 1-65535)`)
    }
  }
  const path = m[2]
  if (path === undefined || path === '/') return { endpoints }
  const prefix = path.endsWith('/') ? path : `${path}/`
  if (!/^\/([A-Za-z0-9._-]+\/)+$/.test(prefix)) throw new ConfigError(`--store: key prefix ${JSON.stringify(path)} may hold only letters, digits, '.', '_', '-' and '/'`)
  return { endpoints, prefix }
}

/** The etcd3 client for a parsed URL and TLS files (read now: a missing file is a ConfigError). */
export function etcdClient(url: EtcdStoreUrl, tls: EtcdTlsPaths = {}, o: { callTimeoutMs?: number } = {}): Etcd3 {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ConfigError('--store-cert and --store-key go together')
  }
  if (tls.cert !== undefined && tls.ca === undefined) throw new ConfigError('--store-cert needs --store-ca (the etcd CA)')
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path)
    } catch (err) {
      throw new ConfigError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  const scheme = tls.ca === undefined ? 'http' : 'https'
  const callTimeoutMs = o.callTimeoutMs ?? 5000
  const options: IOptions = {
    hosts: url.endpoints.map((e) => `${scheme}://${e}`),
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: { global: noRetry as unknown as NonNullable<IOptions['faultHandling']>['global'] },
  }
  if (tls.ca !== undefined) {
    options.credentials = {
      rootCertificate: read('--store-ca', tls.ca),
      ...(tls.cert !== undefined ? { certChain: read('--store-cert', tls.cert), privateKey: read('--store-key', tls.key as string) } : {}),
    }
  }
  return new Etcd3(options)
}

/** A policy that runs a call once (the client's own default retries three times). */
const noRetry = {
  execute: <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => Promise<T> | T): Promise<T> =>
    Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 0 })),
}
