import { createHash } from 'node:crypto'
import { anyCidrContains, ipv4ToInt, parseCidr, type Cidr } from '../base/cidr.ts'
import { RegistryError } from './errors.ts'
import { imageName, parseImageRef, type ImageRef } from '../api/image-ref.ts'
import type { RegistryAuth } from '../api/types.ts'

/**
 * Which digest does an image tag point at? Asked of the image's registry directly, with the Registry HTTP API v2
 * (what `docker service create` records): `HEAD /v2/<repository>/manifests/<tag>` accepting OCI and Docker
 * manifests and manifest lists, answered in `Docker-Content-Digest`. Registries that want credentials answer 401
 * with `WWW-Authenticate`: `Bearer` (a token from the named realm, with the service's credentials as Basic auth, as
 * Docker Hub and most registries do) or `Basic` (the credentials on the request). The manager's node wires this as
 * the manager's `ResolveImage` port (agent/), so a remote CLI needs no engine.
 *
 * Plain HTTP is used only for a registry the engine treats as insecure (its `insecure-registries`, read with
 * `GET /info`: see insecureRegistryCheck), so mesh and the engine that later pulls agree. Everything is bounded by
 * one timeout; the answer never rejects (`{error}` says why), and credentials go only to the registry they name.
 */

export type RegistryFetch = (url: string, init: { method: string; headers: Record<string, string>; signal: AbortSignal }) => Promise<{
  status: number
  headers: { get(name: string): string | null }
  arrayBuffer(): Promise<ArrayBuffer>
}>

export interface ResolveOptions {
  /** Is this registry host (`host:port` as in the reference) plain HTTP? Default: none is. */
  insecure?: (host: string) => boolean
  /** Bound on the whole resolution, ms. Default 10 s. */
  timeoutMs?: number
  /** Default: Node's fetch. */
  fetch?: RegistryFetch
}

const HUB_HOST = 'registry-1.docker.io'
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ')
const DIGEST = /^sha256:[0-9a-f]{64}$/

/** Where the registry API of a reference lives: Docker Hub's short names (`nginx`) are `library/nginx` there. */
export function registryLocation(r: ImageRef): { host: string; repository: string } {
  if (r.domain === undefined || HUB_NAMES.has(r.domain)) {
    return { host: HUB_HOST, repository: r.path.includes('/') ? r.path : `library/${r.path}` }
  }
  return { host: r.domain, repository: r.path }
}

/** The credentials, when they are for `host` (serveraddress `registry:5000`, `https://registry:5000/v1/`, Hub's names). */
export function credentialsFor(host: string, auth: RegistryAuth | undefined): RegistryAuth | undefined {
  if (!auth) return undefined
  const server = auth.serveraddress.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase()
  const h = host.toLowerCase()
  return server === h || (HUB_NAMES.has(server) && h === HUB_HOST) ? auth : undefined
}

/** `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` → its scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header)
  const params: Record<string, string> = {}
  for (const p of (m?.[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) params[(p[1] as string).toLowerCase()] = p[2] as string
  return { scheme: (m?.[1] ?? '').toLowerCase(), params }
}

const basic = (a: RegistryAuth) => `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`

/** The digest `ref`'s tag points at, or why it could not be learned. Never rejects. */
export async function resolveImageDigest(ref: string, auth: RegistryAuth | undefined, o: ResolveOptions = {}): Promise<{ digest: string } | { error: string }> {
  const r = parseImageRef(ref)
  if (!r) return { error: `invalid reference format: "${ref.slice(0, 300)}"` }
  if (r.digest !== undefined) return { digest: r.digest }
  const signal = AbortSignal.timeout(o.timeoutMs ?? 10_000)
  try {
    return { digest: await askRegistry(r, auth, o, signal) }
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause
    const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : ''
    const why = signal.aborted ? `no answer in ${Math.round((o.timeoutMs ?? 10_000) / 1000)} s` : `${(err as Error).message}${detail ? ` (${detail})` : ''}`
    return { error: err instanceof RegistryError ? err.message : `${imageName(r)}:${r.tag ?? 'latest'}: ${why}` }
  }
}

async function askRegistry(r: ImageRef, auth: RegistryAuth | undefined, o: ResolveOptions, signal: AbortSignal): Promise<string> {
  const fetchFn = o.fetch ?? (fetch as unknown as RegistryFetch)
  const { host, repository } = registryLocation(r)
  const scheme = o.insecure?.(host) ? 'http' : 'https'
  const tag = r.tag ?? 'latest'
  const subject = `${imageName(r)}:${tag}`
  const url = `${scheme}://${host}/v2/${repository}/manifests/${tag}`
  const creds = credentialsFor(host, auth)
  const head = (authorization?: string) => fetchFn(url, {
    method: 'HEAD', signal, headers: { Accept: MANIFEST_TYPES, ...(authorization ? { Authorization: authorization } : {}) },
  })
  let authorization: string | undefined
  let res = await head()
  if (res.status === 401) {
    const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '')
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      authorization = `Bearer ${await bearerToken(challenge.params, repository, creds, fetchFn, signal, subject)}`
    } else if (challenge.scheme === 'basic' && creds) {
      authorization = basic(creds)
    }
    if (authorization) res = await head(authorization)
  }
  if (res.status === 401 || res.status === 403) {
    throw new RegistryError(`${subject}: the registry refused ${creds ? 'the credentials' : 'access without credentials'} (HTTP ${res.status})`)
  }
  if (res.status === 404) throw new RegistryError(`${subject}: no such manifest on ${host}`)
  if (res.status !== 200) throw new RegistryError(`${subject}: the registry answered HTTP ${res.status}`)
  const digest = res.headers.get('docker-content-digest')
  if (digest && DIGEST.test(digest)) return digest
  // A registry that leaves the header out: the digest is the manifest's own bytes.
  const got = await fetchFn(url, { method: 'GET', signal, headers: { Accept: MANIFEST_TYPES, ...(authorization ? { Authorization: authorization } : {}) } })
  if (got.status !== 200) throw new RegistryError(`${subject}: the registry answered HTTP ${got.status} for the manifest`)
  return `sha256:${createHash('sha256').update(Buffer.from(await got.arrayBuffer())).digest('hex')}`
}

async function bearerToken(p: Record<string, string>, repository: string, creds: RegistryAuth | undefined, fetchFn: RegistryFetch,
  signal: AbortSignal, subject: string): Promise<string> {
  const realm = new URL(p.realm as string)
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new RegistryError(`${subject}: the registry names a token realm that is not HTTP(S)`)
  if (p.service) realm.searchParams.set('service', p.service)
  realm.searchParams.set('scope', p.scope ?? `repository:${repository}:pull`)
  const res = await fetchFn(realm.toString(), { method: 'GET', signal, headers: creds ? { Authorization: basic(creds) } : {} })
  if (res.status === 401 || res.status === 403) throw new RegistryError(`${subject}: the registry's token service refused ${creds ? 'the credentials' : 'an anonymous token'} (HTTP ${res.status})`)
  if (res.status !== 200) throw new RegistryError(`${subject}: the registry's token service answered HTTP ${res.status}`)
  let body: { token?: unknown; access_token?: unknown }
  try {
    body = JSON.parse(Buffer.from(await res.arrayBuffer()).toString('utf8')) as typeof body
  } catch {
    throw new RegistryError(`${subject}: the registry's token service answered something that is not JSON`)
  }
  const token = typeof body.token === 'string' ? body.token : body.access_token
  if (typeof token !== 'string' || token === '') throw new RegistryError(`${subject}: the registry's token service gave no token`)
  return token
}

/** The engine's view of which registries are plain HTTP (`GET /info` → `RegistryConfig`). */
export interface EngineRegistryConfig {
  IndexConfigs?: Record<string, { Secure?: boolean } | undefined>
  InsecureRegistryCIDRs?: string[]
}

/**
 * Docker's rule (registry.isSecureIndex): a registry listed in `IndexConfigs` is what its `Secure` says; else one
 * whose address is in `InsecureRegistryCIDRs` (127.0.0.0/8 by default; `localhost` counts as 127.0.0.1) is plain
 * HTTP. Host names are not looked up in DNS here: list such a registry by name in `insecure-registries`.
 */
export function insecureRegistryCheck(cfg: EngineRegistryConfig | undefined): (host: string) => boolean {
  const cidrs: Cidr[] = []
  for (const c of cfg?.InsecureRegistryCIDRs ?? []) {
    try {
      cidrs.push(parseCidr(c, 'insecure registry CIDR', 'clear'))
    } catch {
      // an IPv6 or malformed entry: it cannot match an IPv4 address
    }
  }
  return (host) => {
    const index = cfg?.IndexConfigs?.[host]
    if (index && typeof index.Secure === 'boolean') return !index.Secure
    const name = host.replace(/:\d+$/, '')
    const ip = ipv4ToInt(name === 'localhost' ? '127.0.0.1' : name)
    return ip !== null && anyCidrContains(cidrs, ip)
  }
}

export interface RegistryResolverOptions extends Omit<ResolveOptions, 'insecure'> {
  /** The engine's registry settings, asked before each resolution (a daemon reload changes them). */
  registryConfig: () => Promise<EngineRegistryConfig | undefined>
}

/** The manager's `ResolveImage` port on this node: the registry directly, plain HTTP where the engine allows it. */
export function registryResolver(o: RegistryResolverOptions): (ref: string, auth?: RegistryAuth) => Promise<{ digest: string } | { error: string }> {
  return async (ref, auth) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const cfg = await Promise.race([
      o.registryConfig().catch(() => undefined),
      new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), 2000) }),
    ]).finally(() => clearTimeout(timer))
    const { registryConfig: _, ...rest } = o
    return resolveImageDigest(ref, auth, { ...rest, insecure: insecureRegistryCheck(cfg) })
  }
}
