/**
 * `berth dashboard` in a real browser (Debian's chromium, headless, driven by playwright-core):
 * a 3-machine swarm of lab hosts with a service, the page lists the nodes and their tasks, a
 * stopped worker shows down within seconds and its tasks appear on the others, and requests
 * without the token are refused. The screenshot is left in test-artifacts/dashboard.png.
 */
import {after, before, describe, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import type {BrowserContext, Page} from 'playwright-core'
import {BIN, ROOT, berth, busyboxTar, docker, dockerEnv, isRoot, sleep, tmpDir, until as untilEvery} from '../helpers.js'

const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 90_000) => untilEvery(what, fn, timeoutMs, 300)
const SWARM = 'dsh'
const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = path.join(ROOT, 'test-artifacts')

/** Every private key under the store (CA, client, servers, SSH), as the base64 lines that would betray one. */
function keyMaterial(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name)
    if (statSync(p).isDirectory()) out.push(...keyMaterial(p))
    else if (statSync(p).size < 100_000) {
      const text = readFileSync(p, 'utf8')
      if (!/PRIVATE KEY/.test(text)) continue
      out.push(...text.split('\n').filter(l => l.length >= 40 && !l.startsWith('-----')))
    }
  }
  return out
}

describe('berth dashboard in a browser', {skip: !isRoot() && 'needs root', concurrency: false}, () => {
  const env = {BERTH_STORAGE_PATH: tmpDir('dshstore'), BERTH_LAB_DIR: tmpDir('dshlab'), BERTH_LAB_SUBNET: '172.30.101.0/24'}
  let denv: Record<string, string> = {}
  let dash: ChildProcess | undefined
  let url = ''
  let browser: BrowserContext | undefined
  let page: Page
  let dashErr = ''

  const nodeState = (m: string) => page.getAttribute(`[data-node="${m}"]`, 'data-state')
  const tasksOn = (m: string) => page.locator(`[data-node="${m}"] .task[data-service="web"]`).count()

  before(async () => {
    // Not a skip: CI must not pass without the browser test because the browser is missing.
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`)
    const c = await berth(['create', '--swarm', SWARM, '--swarm-strategy', 'binpack', '--swarm-label', 'tier=lab', 'm1', 'w1', 'w2'], {env})
    assert.equal(c.code, 0, c.stderr)
    denv = await dockerEnv('m1', env)
    const tar = busyboxTar()
    for (const n of ['m1', 'w1', 'w2']) assert.equal(docker(['import', '-', 'bb:v1'], await dockerEnv(n, env), tar).code, 0)
    const s = docker(['service', 'create', '--no-resolve-image', '--detach', '--name', 'web', '--replicas', '4', '--reserve-memory', '16M',
      '--stop-grace-period', '1s', 'bb:v1', 'sleep', '100000'], denv)
    assert.equal(s.code, 0, s.stderr)
    const w1 = await dockerEnv('w1', env)
    assert.equal(docker(['run', '-d', '--name', 'solo', 'bb:v1', 'sleep', '100000'], w1).code, 0)
    await until('4 running tasks on all three nodes', () => {
      const ps = docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], denv).stdout.trim().split('\n')
      const running = ps.filter(l => / Running /.test(l))
      return running.length === 4 && new Set(running.map(l => l.split(' ')[0])).size === 3
    })

    dash = spawn(process.execPath, [BIN, 'dashboard', '--swarm', SWARM], {env: {...process.env, BERTH_DEBUG: '', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    dash.stderr!.on('data', d => (dashErr += d))
    url = await new Promise<string>((resolve, reject) => {
      let out = ''
      dash!.stdout!.on('data', d => {
        out += d
        const m = /^(http:\/\/127\.0\.0\.1:\d+\/[\w-]+\/)$/m.exec(out)
        if (m) resolve(m[1])
      })
      dash!.on('exit', code => reject(new Error(`berth dashboard exited (${code}): ${dashErr}`)))
      setTimeout(() => reject(new Error(`no URL from berth dashboard within 60 s: ${out} ${dashErr}`)), 60_000)
    })

    const {chromium} = await import('playwright-core')
    browser = await chromium.launchPersistentContext(tmpDir('chromium'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: {width: 1400, height: 820},
    })
    page = await browser.newPage()
  })

  after(async () => {
    await browser?.close()
    if (dash?.pid && dash.exitCode === null) {
      const exited = new Promise(r => dash!.once('exit', r))
      process.kill(dash.pid, 'SIGTERM')
      await Promise.race([exited, sleep(10_000)])
      if (dash.exitCode === null) process.kill(dash.pid, 'SIGKILL')
    }
    const r = await berth(['rm', '-y', '-f', 'm1', 'w1', 'w2'], {env})
    assert.equal(r.code, 0, r.stderr)
  })

  test('the URL is on loopback with a token; a request without it, or with a wrong one, is refused', async () => {
    const u = new URL(url)
    assert.equal(u.hostname, '127.0.0.1')
    const token = u.pathname.split('/')[1]
    assert.ok(token.length >= 32, token)
    for (const p of ['/', '/state.json', '/events', '/app.js', `/${token.slice(0, -1)}x/`, `/${token.slice(0, -1)}x/state.json`, '/wrong/events']) {
      const r = await fetch(new URL(p, u.origin))
      assert.equal(r.status, 403, p)
    }
    const wrong = await page.goto(`${u.origin}/not-the-token/`)
    assert.equal(wrong?.status(), 403)
  })

  test('the page lists the 3 nodes, by cloud, with role, state, engine and their tasks', async () => {
    const res = await page.goto(url)
    assert.equal(res?.status(), 200)
    await until('3 nodes and 4 tasks', async () => (await page.locator('.node').count()) === 3 && (await page.locator('.task[data-service="web"]').count()) === 4)
    assert.equal(await page.getAttribute('[data-conn]', 'data-conn'), 'live')
    assert.deepEqual(await page.locator('.node').evaluateAll(els => els.map(e => (e as HTMLElement).dataset.node)), ['m1', 'w1', 'w2'])
    for (const m of ['m1', 'w1', 'w2']) {
      assert.equal(await nodeState(m), 'ready')
      assert.ok((await tasksOn(m)) >= 1, `tasks on ${m}`)
    }
    assert.equal(await page.getAttribute('[data-node="m1"]', 'data-role'), 'manager')
    assert.equal(await page.getAttribute('[data-node="w1"]', 'data-role'), 'worker')
    assert.equal(await page.locator('[data-group]').count(), 1)
    assert.match((await page.locator('[data-group] > h3').textContent())!, /^lab$/)
    assert.equal(await page.textContent('[data-strategy]'), 'binpack')
    const m1 = await page.locator('[data-node="m1"]').innerText()
    assert.match(m1, /leader/i)
    assert.match(m1, /engine \d+\.\d+/)
    assert.match(m1, /mem \d+ MiB \/ [\d.]+ GiB reserved/)
    assert.match(await page.locator('[data-node="w1"]').innerText(), /tier=lab/)
    assert.equal(await page.getAttribute('[data-node="w1"] [data-container="solo"]', 'data-state'), 'running')
  })

  test('no key, certificate key or join token reaches the page, its JSON or its event stream', async () => {
    const secrets = [
      ...keyMaterial(env.BERTH_STORAGE_PATH),
      docker(['swarm', 'join-token', '-q', 'worker'], denv).stdout.trim(),
      docker(['swarm', 'join-token', '-q', 'manager'], denv).stdout.trim(),
    ]
    assert.ok(secrets.length > 10 && secrets.every(Boolean))
    const ac = new AbortController()
    const stream = await fetch(new URL('events', url), {signal: ac.signal})
    const reader = stream.body!.getReader()
    let events = ''
    const end = Date.now() + 4000
    while (Date.now() < end && !events.includes('event: patch')) events += new TextDecoder().decode((await reader.read()).value)
    ac.abort()
    const texts = {page: await page.content(), json: await (await fetch(new URL('state.json', url))).text(), events}
    for (const [what, text] of Object.entries(texts)) {
      assert.doesNotMatch(text, /PRIVATE KEY|SWMTKN|BEGIN CERTIFICATE/, what)
      for (const s of secrets) assert.ok(!text.includes(s), `${what} contains secret material`)
    }
    assert.match(texts.json, /"machine":"w2"/)
  })

  test('a container stopped on a machine shows so live', async () => {
    assert.equal(docker(['stop', '-t', '0', 'solo'], await dockerEnv('w1', env)).code, 0)
    await until('solo exited on the page', async () => (await page.getAttribute('[data-node="w1"] [data-container="solo"]', 'data-state')) === 'exited', 10_000)
  })

  test('after berth stop w2, the node shows down within seconds and its tasks appear on the others', async t => {
    const before = await tasksOn('w2')
    assert.ok(before >= 1)
    const s = await berth(['stop', 'w2'], {env})
    assert.equal(s.code, 0, s.stderr)
    const stopped = Date.now()
    await until('w2 down on the page', async () => (await nodeState('w2')) === 'down', 15_000)
    const tookMs = Date.now() - stopped
    assert.ok(tookMs < 10_000, `w2 shown down after ${tookMs} ms`)
    t.diagnostic(`w2 shown down ${tookMs} ms after berth stop returned`)
    await until('4 web tasks on m1 and w1, none on w2', async () => (await tasksOn('w2')) === 0 && (await tasksOn('m1')) + (await tasksOn('w1')) === 4, 90_000)
    await until('all 4 running', async () => (await page.locator('.task[data-service="web"][data-state="running"]').count()) === 4, 30_000)
    t.diagnostic(`its tasks shown on m1 and w1 ${Date.now() - stopped} ms after berth stop returned`)
    assert.match(await page.locator('#activity').innerText(), /node w2: ready → down/)
    assert.match(await page.locator('#activity').innerText(), /task web\.\d moved from w2 to (m1|w1)/)
    mkdirSync(ARTIFACTS, {recursive: true})
    await page.screenshot({path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true})
  })

  test('the dashboard stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>(r => dash!.once('exit', code => r(code)))
    process.kill(dash!.pid!, 'SIGTERM')
    const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout')])
    assert.equal(code, 0, dashErr)
    assert.doesNotMatch(dashErr, /berth: /)
  })
})
