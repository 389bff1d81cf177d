import t from 'tap'
import { kernelPathUnusable, type Exec } from '../../../src/ingress/index.ts'

t.test('--ingress-mode auto: the kernel path needs root and an nft that answers', async (t) => {
  const ok: Exec = async () => ''
  const broken: Exec = async () => { throw new Error('nft list tables: Operation not permitted\nmore') }
  const cases = [
    { name: 'root, nft answers', exec: ok, uid: 0, want: null },
    { name: 'not root (nft not even asked)', exec: broken, uid: 1000, want: 'not root' },
    { name: 'root, nft fails: its first line', exec: broken, uid: 0, want: 'nft unusable: nft list tables: Operation not permitted' },
  ]
  for (const c of cases) t.equal(await kernelPathUnusable(c.exec, c.uid), c.want, c.name)
})
