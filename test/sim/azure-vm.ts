/**
 * What the Azure guest agent and cloud-init do inside a simulated VM (a lab host): make the
 * admin user, and hand the custom data to the guest.
 *
 * Lab hosts share this box's /etc and /home, and this box has no sudo. So the admin user
 * lives only inside the host's private mount namespace: passwd, group, shadow and /home are
 * bind-mounted from the host's folder, with the user as a uid-0 alias, and a `sudo` stand-in
 * on root's PATH. berth's non-root path (sudo -n wrapping, upload to the home folder then
 * install) runs for real; the privilege boundary itself is not simulated. The box is untouched.
 */
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {hostExec, type LabHost} from '../../drivers/lab/host.js'

const SUDO = `#!/bin/sh
# Azure simulator: the VM's admin user has uid 0 inside this lab host, so sudo only runs the command.
while [ $# -gt 0 ]; do
  case "$1" in
    -n|-E|-H|-S) shift ;;
    -u) shift 2 ;;
    --) shift; break ;;
    -*) echo "sudo (simulated): unsupported option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: sudo [-n] command" >&2; exit 1; }
exec "$@"
`

/** Folder of the simulated guest's files inside the host's folder (readable by tests). */
export const guestDir = (h: LabHost) => path.join(h.dir, 'azure')

/** Make `user` exist inside the running host; again after every start (mounts die with the host). */
export async function prepareAdmin(h: LabHost, user: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_.-]*$/i.test(user)) throw new Error(`bad admin user ${user}`)
  const g = guestDir(h)
  await fs.mkdir(path.join(g, 'home', user), {recursive: true, mode: 0o755})
  await fs.mkdir(path.join(g, 'sbin'), {recursive: true, mode: 0o755})
  const add = async (file: string, line: string) => {
    const base = await fs.readFile(`/etc/${file}`, 'utf8').catch(() => '')
    const lines = base.split('\n').filter(l => l && !l.startsWith(`${user}:`))
    await fs.writeFile(path.join(g, file), [...lines, line, ''].join('\n'), {mode: file === 'shadow' ? 0o640 : 0o644})
  }
  await add('passwd', `${user}:x:0:0:Azure admin (simulated):/home/${user}:/bin/bash`)
  await add('group', `${user}:x:0:`)
  await add('shadow', `${user}:*:19000:0:99999:7:::`)
  await fs.writeFile(path.join(g, 'sbin', 'sudo'), SUDO, {mode: 0o755})
  // Bind mounts inside the host's own mount namespace: invisible to this box and other hosts.
  const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`
  await hostExec(h, ['/bin/sh', '-c', [
    'set -e',
    ...['passwd', 'group', 'shadow'].map(f => `mountpoint -q /etc/${f} || mount --bind ${q(path.join(g, f))} /etc/${f}`),
    `mountpoint -q /home || mount --bind ${q(path.join(g, 'home'))} /home`,
    `mountpoint -q /usr/local/sbin || mount --bind ${q(path.join(g, 'sbin'))} /usr/local/sbin`,
  ].join('\n')])
}

/**
 * Custom data as cloud-init gets it: stored as user-data.txt; a script (#!) runs once, its
 * output in the host's /var/log/cloud-init-output.log.
 */
export async function runCustomData(h: LabHost, data: Buffer): Promise<void> {
  const g = guestDir(h)
  await fs.mkdir(g, {recursive: true})
  const file = path.join(g, 'user-data.txt')
  await fs.writeFile(file, data, {mode: 0o700})
  if (data.subarray(0, 2).toString() !== '#!') return
  await hostExec(h, ['/bin/sh', '-c', `'${file}' >>/var/log/cloud-init-output.log 2>&1 </dev/null`])
}
