/**
 * src/stack — compose v3 files → mesh services, the way `docker stack deploy` reads them.
 *
 * What it does: `loadStack` parses one or more compose files (YAML; later files override earlier ones like
 * `-c a.yml -c b.yml`), substitutes `${VAR}` / `${VAR:-default}` from the given environment, validates each file
 * against docker/cli's compose v3 JSON schema (vendored in ./schema, checked with ajv), parses every value with
 * the shared parsers (src/api/spec.ts, constraints.ts), and converts the result into `ServiceSpec`s named
 * `<stack>_<service>` with the `com.docker.stack.namespace` label. `planStack` compares those specs with the
 * manager's services and says what to create, update (only what changed) and, with `--prune`, remove.
 * Top-level `secrets:` / `configs:` become the stack's own objects `<stack>_<key>` (values read from their files by
 * `readStackValues`, only at deploy) or external ones that must exist; `planStackObjects` decides, before anything is
 * sent, what to create and refuses a missing external one or a changed config.
 *
 * Who calls it: the `mesh stack` CLI (mesh/stack.ts), which reads the files and talks to the manager API.
 *
 * Invariants: pure — no sockets, timers or processes; the only file access is the injected `readFile` for
 * env_file. Every error is a StackFileError whose message starts with the file and the key path
 * (`stack.yml: services.web.ports[0]: invalid port "80:"`); a load either returns specs that src/api's
 * validateServiceSpec accepts, or throws, so a deploy never starts with a bad file. Keys the schema allows but mesh
 * ignores are never dropped silently: they come back in ONE warning.
 *
 * Never: contact the manager, read the process environment or the current directory by itself (the caller passes
 * `env` and `cwd`), or write anything.
 */
export { loadStack, type LoadOptions, type LoadedStack, type StackFile } from './load.ts'
export { RESOLVE_IMAGE_MODES, planStack, sameSpec, stackServices, updateBody, type PlanOptions, type ResolveImageMode, type StackPlan } from './plan.ts'
export { IMAGE_LABEL } from './convert.ts'
export { StackError, StackFileError } from './errors.ts'
export { readStackValues, type FileKind, type StackObject } from './secrets.ts'
export { planStackObjects, stackOwned, type ExistingObject, type ObjectsPlan } from './plan-objects.ts'
export type { Env } from './interpolate.ts'
