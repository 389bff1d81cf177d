/**
 * src/catalog — each agent's view of services → endpoints, the one view the data plane reads.
 *
 * What it does: the manager builds a snapshot from its store (`buildCatalog`, pure) and pushes it to every agent;
 * the agent's `Catalog` keeps the newest one (a lower revision never replaces a higher one of the same store epoch;
 * a snapshot of another epoch, after a restore or a move to etcd, is taken whatever its revision: order.ts), takes a dead node's
 * endpoints out of rotation as soon as gossip says so (`nodeDown`, without waiting for the manager), and caches the
 * snapshot in `<dataDir>/catalog.json` (FileCatalogStore) so a restarted agent serves while the manager is away.
 *
 * Who calls it: the manager (buildCatalog), agent/ (apply, nodeDown/nodeUp, restore); readers (ingress, DNS, VIP
 * rules, status) only see `CatalogView`: `current()` and `onChange()`.
 * Invariants: `current()` is frozen and the same object until the next change; revisions never go backwards within
 * an epoch.
 * Never: open sockets or timers (the core is pure); hand out a snapshot a reader could mutate.
 */
export { Catalog, type CatalogLog, type CatalogOptions, type CatalogStore } from './catalog.ts'
export { succession, type Succession } from './order.ts'
export { FileCatalogStore, CATALOG_FILE } from './file-store.ts'
export type {
  CatalogNode, CatalogService, CatalogSnapshot, CatalogView, Endpoint, EndpointHealth, EndpointState,
} from '../api/catalog.ts'
export {
  addressOn, defaultNetworkIds, endpointAddresses, hasNetworks, localSlices, servicePlaces, type LocalSlice, type ServicePlace,
} from './networks.ts'
