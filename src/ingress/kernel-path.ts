import { execCommand, type Exec } from './nft.ts'

/**
 * Whether this node can serve published ports through the kernel (nft mode), for `--ingress-mode auto` (the
 * default): root, and an `nft` that answers. Null when it can; otherwise the reason, one line, for the log and
 * `mesh status` ("Ingress: userspace (auto: not root)").
 */
export async function kernelPathUnusable(exec: Exec = execCommand, uid: number | undefined = process.getuid?.()): Promise<string | null> {
  if (uid !== 0) return 'not root'
  try {
    await exec('nft', ['list', 'tables'])
    return null
  } catch (err) {
    return `nft unusable: ${(err as Error).message.split('\n')[0]}`
  }
}
