/**
 * An apt proxy for tests whose hosts install packages: apt-cacher-ng (Debian's package) with a
 * config, log and PID of its own, serving only Debian's mirror (ForceManaged: any other URL is
 * refused), its cache kept across runs. Lab hosts reach it on their bridge address, VMs through
 * QEMU's guestfwd to loopback: the only traffic leaving the box goes to deb.debian.org.
 */
import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {sleep} from '../src/core/index.js'

export interface AptProxy {
  port: number
  pid: number
  /** URL on an address: http://ADDR:PORT */
  url(addr: string): string
  stop(): Promise<void>
}

export const ACNG = '/usr/sbin/apt-cacher-ng'
const CACHE = process.env.BERTH_TEST_CACHE ?? '/var/cache/berth-test'

/** apt-cacher-ng reads its port as a signed 16-bit number: only ports below 32768 work. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    const ok = await new Promise<boolean>(resolve => {
      const srv = net.createServer()
      srv.on('error', () => resolve(false))
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
    })
    if (ok) return port
  }
}

const answers = (addr: string, port: number) => new Promise<boolean>(resolve => {
  const c = net.connect({host: addr, port}, () => {
    c.destroy()
    resolve(true)
  })
  c.on('error', () => resolve(false))
})

/** Start one; `cache` names its cache folder (two proxies never share one). */
export async function startAptProxy(opts: {bind: string[]; cache: string}): Promise<AptProxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-acng-'))
  const cacheDir = path.join(CACHE, `apt-cacher-ng-${opts.cache}`)
  mkdirSync(cacheDir, {recursive: true})
  mkdirSync(path.join(dir, 'log'))
  const port = await freePort()
  writeFileSync(path.join(dir, 'acng.conf'), [
    `CacheDir: ${cacheDir}`, `LogDir: ${dir}/log`, 'SupportDir: /usr/lib/apt-cacher-ng', `Port: ${port}`,
    `BindAddress: ${opts.bind.join(' ')}`, `PidFile: ${dir}/pid`, `SocketPath: ${dir}/socket`,
    'Remap-debrep: file:deb_mirror*.gz /debian ; http://deb.debian.org/debian',
    'Remap-secdeb: security.debian.org /debian-security ; http://deb.debian.org/debian-security',
    'ForceManaged: 1', 'ExThreshold: 4', '',
  ].join('\n'))
  const child = spawn(ACNG, ['-c', dir, 'ForeGround=1'], {stdio: 'ignore', detached: true})
  child.unref()
  const pid = child.pid!
  const stop = async () => {
    try {
      process.kill(pid, 'SIGTERM')
    } catch { /* gone */ }
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(pid, 0)
      } catch {
        break
      }
      await sleep(100)
    }
    try {
      process.kill(pid, 'SIGKILL')
    } catch { /* gone */ }
    rmSync(dir, {recursive: true, force: true})
  }
  for (let i = 0; i < 100 && !await answers(opts.bind[0], port); i++) await sleep(100)
  if (!await answers(opts.bind[0], port)) {
    await stop()
    throw new Error(`apt-cacher-ng did not listen on ${opts.bind[0]}:${port}`)
  }
  return {port, pid, url: addr => `http://${addr}:${port}`, stop}
}
