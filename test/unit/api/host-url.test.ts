/**
 * Host URLs (MESH_HOST, --host, a context's host) and the ssh argv of an ssh:// host, as docker's connection helper
 * builds it: the user's MESH_SSH_COMMAND first (ssh keeps the first value of an option), then the defaults, then
 * `-l USER -p PORT -- HOST mesh dial-stdio [--control]`.
 */
import t from 'tap'
import { parseHostUrl, sshArgv } from '../../../src/api/host-url.ts'

t.test('parseHostUrl: tcp:// and ssh:// forms', async (t) => {
  const cases = [
    { name: 'tcp with port', url: 'tcp://10.0.0.1:7947', want: { scheme: 'tcp', host: '10.0.0.1', port: 7947 } },
    { name: 'tcp IPv6', url: 'tcp://[fd00::1]:7947/', want: { scheme: 'tcp', host: 'fd00::1', port: 7947 } },
    { name: 'ssh host only', url: 'ssh://node1', want: { scheme: 'ssh', host: 'node1' } },
    { name: 'ssh user and port', url: 'ssh://root@192.168.77.11:2222', want: { scheme: 'ssh', host: '192.168.77.11', user: 'root', port: 2222 } },
    { name: 'ssh IPv6 with user', url: 'ssh://ops@[fd00::2]:22', want: { scheme: 'ssh', host: 'fd00::2', user: 'ops', port: 22 } },
    { name: 'ssh trailing slash', url: 'ssh://ops@h.example.com/', want: { scheme: 'ssh', host: 'h.example.com', user: 'ops' } },
  ]
  for (const c of cases) {
    const got = parseHostUrl(c.url)
    t.match(got, { ...c.want, url: c.url }, c.name)
    if (!('user' in c.want)) t.notOk('user' in got, `${c.name}: no user`)
  }
})

t.test('parseHostUrl: bad URLs are one ConfigError line naming the forms', async (t) => {
  const cases = [
    { url: 'http://x:1', want: 'host "http://x:1": want tcp://HOST:PORT (the manager API, e.g. tcp://10.0.0.1:7947) or ssh://[USER@]HOST[:PORT]' },
    { url: 'tcp://10.0.0.1', want: /want tcp:\/\/HOST:PORT/ },
    { url: 'ssh://', want: 'host "ssh://": want ssh://[USER@]HOST[:PORT], e.g. ssh://root@10.0.0.1' },
    { url: 'ssh://root:secret@h', want: 'host "ssh://root:secret@h": a password in an ssh URL is not supported (use a key or ssh-agent)' },
    { url: 'ssh://h:0', want: 'host "ssh://h:0": port 0 is out of range (1-65535)' },
    { url: 'ssh://h:70000', want: /port 70000 is out of range/ },
    { url: 'ssh://h/var/run/x.sock', want: /want ssh:\/\/\[USER@\]HOST\[:PORT\]/ },
    { url: 'ssh://h?x=1', want: /want ssh:/ },
    { url: 'ssh://-oProxyCommand=x', want: /want ssh:/ },
    { url: 'ssh://-x', want: /want ssh:/ },
  ]
  for (const c of cases) t.throws(() => parseHostUrl(c.url), { code: 'MESH_ERR_CONFIG', message: c.want }, c.url)
  t.throws(() => parseHostUrl('nope', 'MESH_HOST'), { message: /^MESH_HOST "nope": / }, 'names where the URL came from')
})

t.test('sshArgv: the user\'s command first, docker\'s defaults, then -l/-p, --, host and the remote command', async (t) => {
  const ssh = (url: string) => parseHostUrl(url) as Extract<ReturnType<typeof parseHostUrl>, { scheme: 'ssh' }>
  const defaults = ['-o', 'ConnectTimeout=30', '-o', 'BatchMode=yes', '-T']
  const cases = [
    { name: 'plain', url: 'ssh://h', o: {}, want: ['ssh', ...defaults, '--', 'h', 'mesh', 'dial-stdio'] },
    { name: 'user and port', url: 'ssh://root@h:2222', o: {}, want: ['ssh', ...defaults, '-l', 'root', '-p', '2222', '--', 'h', 'mesh', 'dial-stdio'] },
    { name: 'control socket', url: 'ssh://h', o: { control: true }, want: ['ssh', ...defaults, '--', 'h', 'mesh', 'dial-stdio', '--control'] },
    { name: 'MESH_SSH_COMMAND with quoted words', url: 'ssh://ops@h', o: { sshCommand: 'ssh -F "/tmp/my dir/ssh_config" -i key' },
      want: ['ssh', '-F', '/tmp/my dir/ssh_config', '-i', 'key', ...defaults, '-l', 'ops', '--', 'h', 'mesh', 'dial-stdio'] },
    { name: 'blank MESH_SSH_COMMAND is ssh', url: 'ssh://h', o: { sshCommand: '  ' }, want: ['ssh', ...defaults, '--', 'h', 'mesh', 'dial-stdio'] },
  ]
  for (const c of cases) t.same(sshArgv(ssh(c.url), c.o), c.want, c.name)
})
