/**
 * src/manager/networks — user networks on the manager: the objects (create, remove while unused), the address pool
 * and per-node slices (ipam.ts, pure), the VIPs of services on them and the networks of tasks at assignment
 * (attach.ts), the addresses nodes report on them (report.ts). Called by manager.ts and the HTTP API; everything that
 * writes runs inside a store transaction, reads the tx only and has no side effects (it may run twice).
 */
export { Networks, type NetworksOptions } from './networks.ts'
export {
  AddressPoolExhaustedError, DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH, FIRST_VNI, createAddressPool, slicePrefixOf,
  type AddressPool,
} from './ipam.ts'
export { ensureAttachableSlices, releaseNodeSlices, networkUser } from './objects.ts'
export { attachAssignedTasks, serviceVirtualIps } from './attach.ts'
