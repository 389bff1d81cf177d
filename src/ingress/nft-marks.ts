/**
 * What the ingress's nftables rules share with each other and with the applier: the table they live in and the
 * conntrack mark bits they set. Both are seen from outside the process (`nft list`, Docker's DOCKER-USER rule), so
 * their values do not change.
 */

/** The one table mesh-ingress writes (`ip mesh-ingress`); the overlay owns `inet mesh`. */
export const NFT_INGRESS_TABLE = 'mesh-ingress'
/** ct mark bit: a connection DNATed by mesh-ingress (forwarding of these is accepted in DOCKER-USER). */
export const MARK_DNAT = 0x00100000
/** ct mark bit: a published-port connection (always source-NATed). */
export const MARK_INGRESS = 0x00200000

/** A mark as nft writes it: `0x00100000`. */
export function markHex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`
}
