/**
 * The versions `mesh version` and GET /v1/info report: the release of mesh (CLI, agent and manager ship together)
 * and the manager API's version (the `/v1` routes; bumped only when a route changes incompatibly).
 */
export const MESH_VERSION = '0.1.0'
export const API_VERSION = '1'
