import { MAX_SECRET_BYTES, type CreateSecretRequest } from './secrets.ts'

/**
 * The one check of a secret's or config's name, labels and value (docker's rules, swarmkit's
 * validateConfigOrSecretAnnotations): the API, the CLI and the stack loader refuse the same input with the same words.
 */

/** swarmkit's isValidConfigOrSecretName: letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit. */
const NAME = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$/
/** At most this many characters (swarmkit). */
export const MAX_OBJECT_NAME = 64

export type ValueKind = 'secret' | 'config'

/** What is wrong with a secret's or config's name, or null. */
export function objectNameProblem(kind: ValueKind, name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return `${kind}: a name must be given`
  if (name.length > MAX_OBJECT_NAME || !NAME.test(name)) {
    return `${kind} "${name}": invalid name, only ${MAX_OBJECT_NAME} [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]`
  }
  return null
}

/** What is wrong with labels (a map of strings with non-empty keys, as docker's `--label k=v`), or null. */
export function labelsProblem(what: string, labels: unknown): string | null {
  if (labels === undefined) return null
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return `${what}: labels must be a map of strings`
  for (const [k, v] of Object.entries(labels)) {
    if (k.trim() === '') return `${what}: a label key must not be empty`
    if (typeof v !== 'string') return `${what}: label "${k}" must be a string`
  }
  return null
}

/** What is wrong with a value's size (decoded bytes), or null: non-empty and at most MAX_SECRET_BYTES. */
export function valueSizeProblem(kind: ValueKind, name: string, bytes: number): string | null {
  if (bytes === 0) return `${kind} "${name}": the value is empty`
  if (bytes > MAX_SECRET_BYTES) return `${kind} "${name}": the value is ${bytes} bytes, more than the ${MAX_SECRET_BYTES} (500 KiB) allowed`
  return null
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * A `POST /v1/secrets` or `/v1/configs` body checked and decoded: `{name, labels, value}` or the first problem.
 * Unknown fields are refused (a typo must not be silently dropped).
 */
export function checkCreateRequest(kind: ValueKind, body: unknown): { name: string; labels: Record<string, string>; value: Buffer } | { problem: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { problem: 'request body must be a JSON object' }
  const b = body as Partial<CreateSecretRequest> & Record<string, unknown>
  for (const k of Object.keys(b)) if (!['name', 'labels', 'data'].includes(k)) return { problem: `${kind}: unknown field "${k}"` }
  const nameProblem = objectNameProblem(kind, b.name)
  if (nameProblem) return { problem: nameProblem }
  const name = b.name as string
  const labelProblem = labelsProblem(`${kind} "${name}"`, b.labels)
  if (labelProblem) return { problem: labelProblem }
  if (typeof b.data !== 'string' || !BASE64.test(b.data)) return { problem: `${kind} "${name}": data must be the value in base64` }
  const value = Buffer.from(b.data, 'base64')
  const sizeProblem = valueSizeProblem(kind, name, value.length)
  if (sizeProblem) return { problem: sizeProblem }
  return { name, labels: { ...(b.labels ?? {}) }, value }
}
