/**
 * What a tag may hold, checked where tags cross the trust boundary: our own before we publish them, and every
 * member's when its metadata is decoded. Tags reach the overlay (WireGuard keys, subnets), the catalog and `mesh
 * status`; a newline in a value once became an extra WireGuard UAPI line (security review #6). Pure.
 */

/** Longest tag key, in characters. */
export const TAG_KEY_MAX_CHARS = 128

const KEY = /^[A-Za-z0-9._:/-]+$/
/** C0 controls, DEL and C1 controls: no tag value needs them, and they break line-based formats downstream. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** Why `tags` may not be published or accepted, or null when they are fine. Size is checked by the encoder. */
export function tagsProblem(tags: Readonly<Record<string, string>>): string | null {
  for (const [k, v] of Object.entries(tags)) {
    if (k.length === 0 || k.length > TAG_KEY_MAX_CHARS || !KEY.test(k)) {
      return `tag key ${JSON.stringify(k)}: use 1-${TAG_KEY_MAX_CHARS} letters, digits, '.', '_', ':', '/' or '-'`
    }
    if (CONTROL.test(v)) return `tag "${k}": the value contains a control character`
  }
  return null
}
