/**
 * Image references as Docker writes them (pure): `nginx`, `nginx:1.25`, `registry:5000/team/app:v2`,
 * `nginx:latest@sha256:…`. The grammar is docker/distribution's `reference` package (name components of lower-case
 * letters and digits joined by `.`, `_`, `__` or dashes; an optional registry host with port; a tag of up to 128
 * word characters; a `sha256:` or `sha512:` digest), without normalisation: a reference keeps the text the user gave,
 * so what `service inspect` shows is what was typed, plus `:latest` and the digest the manager pinned.
 */

export interface ImageRef {
  /** The registry host as written (`registry:5000`, `docker.io`), or undefined for Docker Hub's short form. */
  domain?: string
  /** The repository path without the domain: `nginx`, `team/app`. */
  path: string
  tag?: string
  /** `sha256:<64 hex>` or `sha512:<128 hex>`. */
  digest?: string
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`
const REFERENCE = new RegExp(
  `^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}))?$`,
)
/** docker/distribution's NameTotalLengthMax. */
const NAME_MAX = 255

/**
 * Parse `ref`, or null when it is not a valid reference (or its name is longer than 255 characters). A first
 * component is the registry host only when it has a `.` or `:` or is `localhost` (Docker's rule), so `team/app` is
 * a Docker Hub repository.
 */
export function parseImageRef(ref: string): ImageRef | null {
  const m = REFERENCE.exec(ref)
  if (!m) return null
  let domain = m[1]
  let path = m[2] as string
  if (domain !== undefined && !/[.:]/.test(domain) && domain !== 'localhost' && !domain.startsWith('[')) {
    if (!new RegExp(`^${COMPONENT}$`).test(domain)) return null // an upper-case first component is neither
    path = `${domain}/${path}`
    domain = undefined
  }
  if ((domain ? domain.length + 1 : 0) + path.length > NAME_MAX) return null
  const out: ImageRef = { path }
  if (domain !== undefined) out.domain = domain
  if (m[3] !== undefined) out.tag = m[3]
  if (m[4] !== undefined) out.digest = m[4]
  return out
}

/** The repository name as written: `registry:5000/team/app`, `nginx`. */
export function imageName(r: ImageRef): string {
  return r.domain === undefined ? r.path : `${r.domain}/${r.path}`
}

/** Does the reference carry a digest (`…@sha256:…`)? */
export function hasDigest(ref: string): boolean {
  return parseImageRef(ref)?.digest !== undefined
}

/** The reference without its digest (what `service ps` shows): `nginx:latest@sha256:…` → `nginx:latest`. */
export function imageWithoutDigest(ref: string): string {
  const at = ref.indexOf('@')
  return at < 0 ? ref : ref.slice(0, at)
}

/** Name and tag, `:latest` added when there is none: `nginx` → `nginx:latest` (what a digest is recorded under). */
export function taggedImage(r: ImageRef): string {
  return `${imageName(r)}:${r.tag ?? 'latest'}`
}

/** The reference pinned to `digest`, as Swarm stores it: `nginx` + `sha256:…` → `nginx:latest@sha256:…`. */
export function pinnedImage(r: ImageRef, digest: string): string {
  return `${taggedImage(r)}@${digest}`
}

/** Name and tag as a comparison key: `nginx` and `nginx:latest` are one; a digest-only reference has no tag. */
function nameAndTag(r: ImageRef): string {
  return `${imageName(r)}:${r.tag ?? (r.digest ? '' : 'latest')}`
}

/**
 * Is `current` (a stored, maybe pinned reference) the image `wanted` names, digests set aside unless `wanted` pins
 * one? `nginx:latest@sha256:…` matches `nginx`; it matches `nginx@sha256:…` only with that digest. A stack
 * redeploy uses it to tell "the file still says this tag" from "the file names another image".
 */
export function imageMatches(current: string, wanted: string): boolean {
  const c = parseImageRef(current)
  const w = parseImageRef(wanted)
  if (!c || !w) return current === wanted
  if (w.digest !== undefined && w.digest !== c.digest) return false
  return w.tag === undefined && w.digest !== undefined ? imageName(c) === imageName(w) : nameAndTag(c) === nameAndTag(w)
}
