/**
 * `berth qemu build-image`: a Debian base image made with debootstrap from Debian's own package
 * mirror, for machines that cannot download a cloud image. The output is a sparse raw ext4 disk
 * (no partition table, no bootloader) plus the kernel, initrd and kernel command line next to
 * it (IMAGE.vmlinuz, IMAGE.initrd, IMAGE.cmdline), which the qemu driver boots directly.
 *
 * The image carries systemd, openssh-server, cloud-init (NoCloud only), apparmor and docker.io,
 * so provisioning needs no network (--without-docker: all but docker.io, and cloud-init runs every
 * stage with apt's modules, as a cloud image ships). Docker is installed but not enabled: berth's provisioner
 * enables and starts it through systemd once daemon.json and the certificates are in place.
 */
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {createWriteStream, promises as fs} from 'node:fs'
import path from 'node:path'
import {UserError, which} from '../../src/sdk/index.js'

export const ROOT_LABEL = 'berth-root'
export const DEFAULT_CMDLINE = `root=LABEL=${ROOT_LABEL} rw console=ttyS0,115200 mitigations=off`
export const DEFAULT_MIRROR = 'http://deb.debian.org/debian'

export const PACKAGES = [
  'systemd-sysv', 'dbus', 'udev', 'kmod', 'iproute2', 'e2fsprogs', 'procps', 'netbase', 'sudo',
  'openssh-server', 'cloud-init', 'apparmor', 'docker.io', 'linux-image-amd64', 'ca-certificates',
]

/** Files next to a base image that make the driver boot its kernel directly. */
export function sidecars(image: string): {kernel: string; initrd: string; cmdline: string} {
  return {kernel: `${image}.vmlinuz`, initrd: `${image}.initrd`, cmdline: `${image}.cmdline`}
}

// cloud-init config baked into the image: NoCloud only, networkd, and only the modules berth's seed
// uses (every module and every stage costs seconds of Python under TCG).
const CLOUD_CFG = `datasource_list: [NoCloud, None]
locale: false
system_info:
  network:
    renderers: [networkd]
cloud_init_modules: [seed_random, bootcmd, write-files, growpart, resizefs, set_hostname, update_hostname, update_etc_hosts, users-groups, ssh]
cloud_config_modules: [runcmd]
cloud_final_modules: [scripts-per-once, scripts-per-boot, scripts-per-instance, scripts-user, final-message]
`

/**
 * The whole recipe, run by bash as root in a private mount namespace: the /proc, /sys and /dev
 * mounts in the target vanish with the namespace even if the build dies half-way, so removing
 * the work folder can never reach into the host's /dev.
 */
export const SCRIPT = String.raw`set -euo pipefail
release=$1; mirror=$2; work=$3; size=$4
root=$work/root
step() { echo "==> $*"; }
step "debootstrap $release (minimal base)"
debootstrap --variant=minbase --include=ca-certificates "$release" "$root" "$mirror"
step "installing packages"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount -t devpts devpts "$root/dev/pts" 2>/dev/null || true
# Nothing may start services inside the build.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# A small initrd boots faster under TCG: only what a virtio disk with ext4 needs.
mkdir -p "$root/etc/initramfs-tools/conf.d"
printf 'MODULES=list\n' > "$root/etc/initramfs-tools/conf.d/berth.conf"
printf 'virtio_pci\nvirtio_blk\nvirtio_scsi\next4\ncrc32c_generic\n' > "$root/etc/initramfs-tools/modules"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -y --no-install-recommends @PACKAGES@
# Docker starts when berth has configured it (daemon.json, TLS); the rest is boot time nobody uses.
chroot "$root" systemctl disable docker.service docker.socket containerd.service e2scrub_reap.service
chroot "$root" systemctl disable cloud-config.service cloud-final.service
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer dpkg-db-backup.timer
chroot "$root" systemctl enable systemd-networkd.service
rm -f "$root/usr/sbin/policy-rc.d"
umount "$root/dev/pts" 2>/dev/null || true
umount "$root/dev" "$root/sys" "$root/proc"
step "configuring"
cat > "$root/etc/cloud/cloud.cfg.d/90-berth.cfg" <<'EOF'
@CLOUD_CFG@EOF
printf 'LABEL=@ROOT_LABEL@ / ext4 defaults,errors=remount-ro 0 1\n' > "$root/etc/fstab"
# QEMU's user-mode network answers DNS on 10.0.2.3; debootstrap copied the build host's file.
printf 'nameserver 10.0.2.3\n' > "$root/etc/resolv.conf"
# Empty machine-id: systemd makes a fresh one at each VM's first boot. No host keys: cloud-init makes them.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_* "$root/etc/hostname"
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
# Online as soon as one link is: the segment NIC is static, the NAT one may be slower.
printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=30\n' > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/10-berth.conf"
# Profiles nothing here uses: parsing them costs seconds of every boot under TCG.
for p in lsb_release nvidia_modprobe sbin.dhclient; do if [ -e "$root/etc/apparmor.d/$p" ]; then ln -sf "/etc/apparmor.d/$p" "$root/etc/apparmor.d/disable/$p"; fi; done
step "making the ext4 image"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root/debootstrap"
cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd"
printf '%s\n' '@CMDLINE@' > "$work/cmdline"
truncate -s "$size" "$work/disk.raw"
mkfs.ext4 -q -F -L @ROOT_LABEL@ -d "$root" "$work/disk.raw"
step "done"
`.replaceAll('@CLOUD_CFG@', CLOUD_CFG).replaceAll('@ROOT_LABEL@', ROOT_LABEL).replaceAll('@CMDLINE@', DEFAULT_CMDLINE).replaceAll('@PACKAGES@', PACKAGES.join(' '))

/**
 * The cloud-like variant (--without-docker): the same image without docker.io, as a cloud's Debian
 * image ships, so that berth's install path has something to do.
 */
const DISABLE_DOCKER = 'systemctl disable docker.service docker.socket containerd.service e2scrub_reap.service'
/*
 * And cloud-init as a cloud image runs it: the config and final stages too, with apt's modules,
 * so user data with package_update holds apt's lock at first boot while berth installs.
 */
const CLOUDLIKE_MODULES = `cloud_config_modules: [apt-configure, runcmd]
cloud_final_modules: [package-update-upgrade-install, scripts-per-once, scripts-per-boot, scripts-per-instance, scripts-user, final-message]
`
const SCRIPT_WITHOUT_DOCKER = SCRIPT.replace(/ docker\.io /, ' ').replace(DISABLE_DOCKER, 'systemctl disable e2scrub_reap.service')
  .replace('chroot "$root" systemctl disable cloud-config.service cloud-final.service\n', '')
  .replace(/cloud_config_modules: .*\ncloud_final_modules: .*\n/, CLOUDLIKE_MODULES)

const recipe = (withoutDocker?: boolean) => (withoutDocker ? SCRIPT_WITHOUT_DOCKER : SCRIPT)

/** Identifies the recipe: a cache of built images keys on it (a changed recipe means a new image). */
export function recipeHash(release: string, opts: {withoutDocker?: boolean} = {}): string {
  return createHash('sha256').update(`${release}\n${recipe(opts.withoutDocker)}`).digest('hex').slice(0, 16)
}

export interface BuildOptions {
  out: string
  release?: string
  mirror?: string
  size?: string
  /** No Docker in the image (a cloud image's contents): berth installs it at create. */
  withoutDocker?: boolean
  progress?: (step: string) => void
  signal?: AbortSignal
}

/**
 * Build a base image at `out` (never over an existing file: a base under live overlays must not
 * change, so every build gets a new name). Returns the paths written.
 */
export async function buildImage(opts: BuildOptions): Promise<{image: string; kernel: string; initrd: string; cmdline: string; seconds: number}> {
  const t0 = Date.now()
  const release = opts.release ?? 'bookworm'
  const out = path.resolve(opts.out)
  const side = sidecars(out)
  if (process.getuid?.() !== 0) throw new UserError('berth qemu build-image needs root (debootstrap, chroot)')
  for (const tool of ['debootstrap', 'mkfs.ext4', 'unshare', 'chroot']) {
    if (!(await which(tool))) throw new UserError(`${tool} is not installed: apt-get install debootstrap e2fsprogs util-linux`)
  }
  for (const f of [out, side.kernel, side.initrd, side.cmdline]) {
    if (await fs.lstat(f).then(() => true, () => false)) throw new UserError(`${f} exists: build to a new file name (machines created from an image break if it changes under them)`)
  }
  await fs.mkdir(path.dirname(out), {recursive: true})
  // The work folder sits next to the output so that the final renames stay on one filesystem.
  const work = path.join(path.dirname(out), `.${path.basename(out)}.build-${randomBytes(4).toString('hex')}`)
  await fs.mkdir(work, {mode: 0o700})
  const logFile = path.join(work, 'build.log')
  const log = createWriteStream(logFile)
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('unshare', ['-m', '--propagation', 'private', 'bash', '-c', recipe(opts.withoutDocker), 'berth-build-image', release, opts.mirror ?? DEFAULT_MIRROR, work, opts.size ?? '4G'], {
        env: {...process.env, LC_ALL: 'C', PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`},
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const onAbort = () => child.kill('SIGTERM')
      opts.signal?.addEventListener('abort', onAbort, {once: true})
      let pending = ''
      child.stdout.on('data', (d: Buffer) => {
        log.write(d)
        pending += d.toString()
        const lines = pending.split('\n')
        pending = lines.pop()!
        for (const l of lines) if (l.startsWith('==> ')) opts.progress?.(l.slice(4))
      })
      child.stderr.on('data', (d: Buffer) => log.write(d))
      child.on('error', reject)
      child.on('close', code => {
        opts.signal?.removeEventListener('abort', onAbort)
        if (code === 0) resolve()
        else reject(new Error(`exit ${code}`))
      })
    })
    await new Promise(r => log.end(r))
    // Sidecars first, the image last: an image that exists is complete.
    await fs.rename(path.join(work, 'vmlinuz'), side.kernel)
    await fs.rename(path.join(work, 'initrd'), side.initrd)
    await fs.rename(path.join(work, 'cmdline'), side.cmdline)
    await fs.rename(path.join(work, 'disk.raw'), out)
    await fs.chmod(out, 0o644)
    return {image: out, ...side, seconds: Math.round((Date.now() - t0) / 1000)}
  } catch (err) {
    await new Promise(r => log.end(r))
    const tail = (await fs.readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n')
    // The log goes to stderr here: it is debootstrap's and apt's output, no secrets in it.
    if (tail) process.stderr.write(`${tail}\n`)
    throw new UserError(`building the image failed (${err instanceof Error ? err.message : String(err)}); the last lines of the build log are above`)
  } finally {
    await fs.rm(work, {recursive: true, force: true})
  }
}
