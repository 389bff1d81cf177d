import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { ManagerClient, type ClientOptions } from '../src/api/index.ts'

/**
 * The CLI's client for the manager API: src/api's ManagerClient, with the local manager socket under
 * MESH_DATA_DIR or src/config's default data dir (/var/lib/mesh). Remote: MESH_HOST + MESH_CERT_PATH (an admin client
 * certificate bundle from `mesh ca issue-client`).
 */
export function managerClient(o: ClientOptions = {}): ManagerClient {
  return new ManagerClient({ ...o, dataDir: o.dataDir ?? process.env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR })
}

/** The part of ManagerClient the list commands use (a fake in tests). */
export interface ApiClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
}
