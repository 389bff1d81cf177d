/**
 * Secrets and configs (docker's shapes, trimmed): named, immutable values a service's tasks get as files.
 * A secret's value never appears in an API answer, a log, the change history or a node's data dir: the store keeps it
 * sealed with the cluster's data key (itself wrapped by the managers' key-encryption key), and a manager hands it in
 * plain only to a node that runs a task using it, on that node's mutual-TLS watch stream. A config's value may be
 * shown. Both are refused for removal while a service uses them. Values are at most MAX_SECRET_BYTES.
 */

/** docker's limit for secret and config values (500 KiB). */
export const MAX_SECRET_BYTES = 500 * 1024

export interface SecretSpec {
  name: string
  labels: Record<string, string>
}

export interface SecretRecord {
  id: string
  spec: SecretSpec
  /** The value sealed by the manager's secret vault (opaque text); never sent by the API. */
  sealed: string
  version: number
  createdAt: number
  updatedAt: number
}

export interface ConfigSpec {
  name: string
  labels: Record<string, string>
  /** The value, base64. */
  data: string
}

export interface ConfigRecord {
  id: string
  spec: ConfigSpec
  version: number
  createdAt: number
  updatedAt: number
}

/** `POST /v1/secrets` and `POST /v1/configs` body: the value as base64 (≤ MAX_SECRET_BYTES once decoded). */
export interface CreateSecretRequest {
  name: string
  labels?: Record<string, string>
  data: string
}

/** What `GET /v1/secrets[/:id]` answers for a secret: everything but the value. */
export interface SecretView {
  id: string
  spec: SecretSpec
  version: number
  createdAt: number
  updatedAt: number
}

/**
 * A service's use of a secret or config (docker's SecretReference / ConfigReference). `target`: a secret's file name
 * under /run/secrets (or an absolute path), a config's absolute path (default `/<name>`); uid/gid as strings ("0"),
 * mode as a number (0o444 by default). The manager fills `id` from `name` when the service is created or updated.
 */
export interface FileReference {
  /** The secret's or config's id (resolved by the manager). */
  id: string
  /** Its name as the user gave it. */
  name: string
  target: string
  uid: string
  gid: string
  mode: number
}

/**
 * One value a node needs for its tasks (`{secrets: DeliveredValue[]}` and `{configs: …}` on the watch stream): only
 * the ones its assigned tasks reference, as a full list each time it changes (a value absent from the list is no
 * longer needed there and is removed from the node).
 */
export interface DeliveredValue {
  id: string
  /** The value, base64. */
  data: string
}
