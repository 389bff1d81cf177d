import { hasDigest, isSealedRegistryAuth, parseImageRef, pinnedImage, taggedImage, validateServiceSpec, type RegistryAuth, type ServiceRecord, type ServiceSpec } from '../api/index.ts'
import type { Manager } from './manager.ts'

/**
 * Pinning a service's image to a digest at create and update, as Swarm does: the tag the user gave is resolved
 * (on this manager, so a remote CLI needs no engine) and the service stores `repo:tag@sha256:…`, so every task runs
 * the same image and a re-pushed tag rolls out only when a create or update resolves it again. An image that
 * already carries a digest is kept as given. When the registry cannot be asked (no access, an image that exists
 * only on the nodes), the tag is stored and the answer carries Docker's warning.
 *
 * The registry is reached through an injected `ResolveImage` port (the agent wires src/runtime's registry client);
 * no network here. The wait happens before the store transaction, never inside it.
 */

/** What a resolver answers: the manifest digest the tag points at, or why it could not say. Never rejects. */
export type ImageResolution = { digest: string } | { error: string }

/** The port: ask the image's registry which digest `ref` (a tagged reference) points at, with the service's credentials. */
export type ResolveImage = (ref: string, registryAuth?: RegistryAuth) => Promise<ImageResolution>

/** `always`: resolve an image that has no digest (the default); `never`: store it as given (`--no-resolve-image`). */
export type ResolveMode = 'always' | 'never'

/** A create or update answer: the stored service plus Docker's warnings (shown by the CLI on stderr). */
export type ServiceAnswer = ServiceRecord & { warnings?: string[] }

/** Docker's warning, word for word (daemon/cluster/services.go digestWarning). */
export function digestWarning(image: string): string {
  return `image ${image} could not be accessed on a registry to record\nits digest. Each node will access ${image} independently,\n`
    + 'possibly leading to different nodes running different\nversions of the image.\n'
}

/** The image to store and the warnings to answer with. */
export interface PinnedImage {
  image: string
  warnings: string[]
}

/**
 * The image `spec` should be stored with: unchanged when it has a digest, when `mode` is `never`, when there is no
 * resolver, or when the reference does not parse (the spec validation refuses it then); else resolved to
 * `name:tag@digest`, or kept with a warning when resolution fails. A resolver that throws counts as a failure.
 */
export async function pinImage(spec: ServiceSpec, resolve: ResolveImage | undefined, mode: ResolveMode, auth?: RegistryAuth): Promise<PinnedImage> {
  const image = spec.image
  const ref = parseImageRef(image)
  if (!resolve || mode === 'never' || !ref || ref.digest !== undefined) return { image, warnings: [] }
  if (validateServiceSpec(spec).length > 0) return { image, warnings: [] } // refused anyway: no registry round trip
  let answer: ImageResolution
  try {
    answer = await resolve(taggedImage(ref), auth)
  } catch (err) {
    answer = { error: (err as Error).message }
  }
  if ('digest' in answer && /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/.test(answer.digest)) {
    return { image: pinnedImage(ref, answer.digest), warnings: [] }
  }
  return { image, warnings: [digestWarning(taggedImage(ref))] }
}

/** `?resolveImage=` of a create/update request: `always` (default) or `never`; anything else is null (a 400). */
export function resolveModeOf(query: unknown): ResolveMode | null {
  if (query === undefined) return 'always'
  return query === 'always' || query === 'never' ? query : null
}

/** The answer with its warnings, when there are any. */
export function withWarnings(record: ServiceRecord, warnings: readonly string[]): ServiceAnswer {
  return warnings.length > 0 ? { ...record, warnings: [...warnings] } : record
}

/**
 * The spec an update computes inside its transaction, with the image pinned outside it: when the transaction's
 * spec names the very image that was resolved (nothing changed it in between), the pinned one replaces it.
 */
export function applyPinned(spec: ServiceSpec, resolvedFrom: string, pinned: PinnedImage): ServiceSpec {
  return spec.image === resolvedFrom && !hasDigest(spec.image) ? { ...spec, image: pinned.image } : spec
}

/** `POST /v1/services`: pin the image (before the transaction), then create. */
export async function createPinned(m: Manager, spec: ServiceSpec, mode: ResolveMode): Promise<ServiceAnswer> {
  const pinned = await pinImage(spec, m.resolveImage, mode, isSealedRegistryAuth(spec.registryAuth) ? undefined : spec.registryAuth)
  return withWarnings(await m.createService({ ...spec, image: pinned.image }), pinned.warnings)
}

/**
 * `POST /v1/services/:id/update`: `change` (the request over a spec) is applied once to the current spec to learn
 * the image, which is pinned before the transaction; the transaction applies `change` again to the spec it reads.
 * An update that sends the stored, pinned image keeps it; one that names a tag resolves it again.
 */
export async function updatePinned(m: Manager, idOrName: string, change: (spec: ServiceSpec) => ServiceSpec, mode: ResolveMode): Promise<ServiceAnswer> {
  const current = m.getService(idOrName)
  const wanted = current ? change(structuredClone(current.spec)) : undefined
  // the request's credentials, else the stored ones (opened by the manager's vault)
  const pinned = wanted && current ? await pinImage(wanted, m.resolveImage, mode, m.registryAuthOf(current.id, wanted.registryAuth)) : { image: '', warnings: [] }
  const record = await m.updateService(idOrName, (spec) => {
    const next = change(spec)
    return wanted ? applyPinned(next, wanted.image, pinned) : next
  })
  return withWarnings(record, pinned.warnings)
}
