/**
 * The page (runs in the browser as an ES module): a full snapshot on connect, then patches from
 * the server's event stream, drawn as dockersamples/visualizer does — a column per node, a box
 * per task — with the nodes grouped by cloud (driver and region). Text goes in with
 * textContent only: names and messages from engines are never parsed as HTML.
 */
import type {Activity} from '../activity.js'
import type {ContainerView, NodeView, ServiceView, SwarmView, TaskView, View} from '../model.js'
import {apply, type Op} from './patch.js'

type Child = Node | string | null | undefined | false

function h(tag: string, attrs: Record<string, string | undefined> = {}, ...kids: Child[]): HTMLElement {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue
    if (k === 'class') el.className = v
    else el.setAttribute(k, v)
  }
  for (const k of kids) if (k !== null && k !== undefined && k !== false) el.append(k)
  return el
}

function hue(name: string): string {
  let x = 0
  for (const c of name) x = (x * 31 + c.charCodeAt(0)) >>> 0
  return String(x % 360)
}

function withHue<T extends HTMLElement>(el: T, name: string): T {
  el.style.setProperty('--hue', hue(name))
  return el
}

function bytes(n: number): string {
  if (!n) return '0'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`
}

const cpus = (n: number) => String(Math.round(n * 100) / 100)

function bar(label: string, used: number, total: number, fmt: (n: number) => string): HTMLElement {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0
  const fill = h('i')
  fill.style.setProperty('--used', `${pct.toFixed(1)}%`)
  return h('div', {class: 'res'}, `${label} ${fmt(used)} / ${total ? fmt(total) : '?'} reserved`, h('div', {class: 'bar'}, fill))
}

function taskBox(t: TaskView, node: NodeView): HTMLElement {
  const name = `${t.service}.${t.slot || node.machine}`
  return withHue(h('div', {class: 'task', 'data-task': t.id, 'data-service': t.service, 'data-state': t.state, title: t.error || `${t.state} since ${t.since}`},
    h('div', {class: 'name'}, name),
    h('div', {class: 'sub'}, `${t.image} · ${t.state}`)), t.service)
}

function containerBox(c: ContainerView): HTMLElement {
  return h('div', {class: 'container', 'data-container': c.name, 'data-state': c.state, title: c.status},
    h('div', {class: 'name'}, c.name),
    h('div', {class: 'sub'}, `${c.image} · ${c.status || c.state}`))
}

function nodeCard(n: NodeView): HTMLElement {
  const badges = [
    n.role === 'manager' ? h('span', {class: n.leader ? 'badge leader' : 'badge'}, n.leader ? 'leader' : 'manager') : null,
    n.role === 'worker' ? h('span', {class: 'badge worker'}, 'worker') : null,
    n.availability && n.availability !== 'active' ? h('span', {class: 'badge drain'}, n.availability) : null,
  ]
  const engine = n.engineUp === false ? 'engine not answering' : n.version ? `engine ${n.version}` : ''
  const facts = h('div', {class: 'facts'}, h('span', {class: 'state'}, n.state),
    n.swarmState && n.swarmState !== n.state ? ` (swarm: ${n.swarmState})` : '',
    engine ? ` · ${engine}` : '', n.addr ? ` · ${n.addr}` : '')
  if (n.engineError) facts.title = n.engineError
  const tasks = Object.values(n.tasks).sort((a, b) => a.service.localeCompare(b.service) || a.slot - b.slot)
  const containers = Object.values(n.containers).sort((a, b) => a.name.localeCompare(b.name))
  return h('section', {class: 'node', 'data-node': n.machine, 'data-state': n.state, 'data-role': n.role},
    h('h4', {}, h('span', {class: 'dot'}), n.machine, ...badges),
    facts,
    n.hostname !== n.machine ? h('div', {class: 'facts'}, `host ${n.hostname}`) : null,
    bar('CPU', n.reservedCpus, n.cpus, cpus),
    bar('mem', n.reservedMemory, n.memory, bytes),
    n.labels.length ? h('div', {class: 'labels'}, ...n.labels.map(([k, v]) => h('span', {}, `${k}=${v}`))) : null,
    h('div', {class: 'tasks'}, ...tasks.map(t => taskBox(t, n)), ...containers.map(containerBox)))
}

function serviceChip(s: ServiceView): HTMLElement {
  return withHue(h('span', {class: s.running < s.replicas ? 'service short' : 'service', 'data-service': s.name},
    s.name, h('span', {class: 'count'}, `${s.running}/${s.replicas} running · ${s.image}${s.mode === 'replicated' ? '' : ` · ${s.mode}`}`)), s.name)
}

function swarmSection(s: SwarmView): HTMLElement {
  const nodes = Object.values(s.nodes).sort((a, b) => (a.role === 'manager' ? 0 : 1) - (b.role === 'manager' ? 0 : 1) || a.machine.localeCompare(b.machine))
  const groups = new Map<string, NodeView[]>()
  for (const n of nodes) {
    const key = n.region && n.region !== n.driver ? `${n.driver} · ${n.region}` : n.driver
    groups.set(key, [...(groups.get(key) ?? []), n])
  }
  const down = nodes.filter(n => n.state === 'down').length
  const tasks = nodes.reduce((sum, n) => sum + Object.keys(n.tasks).length, 0)
  const containers = nodes.reduce((sum, n) => sum + Object.keys(n.containers).length, 0)
  const services = Object.values(s.services).sort((a, b) => a.name.localeCompare(b.name))
  return h('section', {class: 'swarm', 'data-swarm': s.name},
    h('h2', {}, `swarm ${s.name}`),
    h('div', {class: 'meta'},
      h('span', {}, 'strategy ', h('b', {'data-strategy': s.strategy}, s.strategy || '?')),
      s.via ? h('span', {}, 'via manager ', h('b', {}, s.via)) : null,
      h('span', {}, `${nodes.length} node${nodes.length === 1 ? '' : 's'}${down ? ` (${down} down)` : ''}`),
      h('span', {}, `${tasks} task${tasks === 1 ? '' : 's'}, ${containers} other container${containers === 1 ? '' : 's'}`),
      s.error ? h('span', {class: 'error'}, s.error) : null),
    h('div', {class: 'groups'}, ...[...groups].map(([key, list]) => h('div', {class: 'group', 'data-group': key},
      h('h3', {}, key), h('div', {class: 'nodes'}, ...list.map(nodeCard))))),
    services.length ? h('div', {class: 'services'}, ...services.map(serviceChip)) : null)
}

let view: View | undefined
const $ = (id: string) => document.getElementById(id)!

function render(): void {
  if (!view) return
  const swarms = Object.values(view.swarms).sort((a, b) => a.name.localeCompare(b.name))
  $('swarms').replaceChildren(...(swarms.length ? swarms.map(swarmSection) : [h('p', {class: 'empty'}, 'No swarm to show.')]))
  tickClock()
}

function tickClock(): void {
  if (!view) return
  const age = Math.max(0, Math.round((Date.now() - view.at) / 1000))
  const el = $('updated')
  el.textContent = `read ${age} s ago`
  el.classList.toggle('stale', age > 10)
}

const clock = (at: number) => new Date(at).toLocaleTimeString([], {hour12: false})

function addActivity(list: readonly Activity[], reset = false): void {
  const ol = $('activity')
  if (reset) ol.replaceChildren()
  for (const a of list) {
    ol.prepend(h('li', {class: a.level}, h('time', {}, clock(a.at)), a.swarm ? `${a.swarm}: ${a.text}` : a.text))
  }
  while (ol.children.length > 150) ol.lastElementChild!.remove()
}

function setConn(state: 'live' | 'reconnecting' | 'stopped'): void {
  const el = $('conn')
  el.dataset.conn = state
  el.textContent = state === 'live' ? 'live' : state === 'stopped' ? 'stopped: open the URL berth dashboard prints' : 'reconnecting…'
}

function connect(): void {
  const es = new EventSource(new URL('events', location.href))
  es.addEventListener('open', () => setConn('live'))
  es.addEventListener('error', () => setConn(es.readyState === EventSource.CLOSED ? 'stopped' : 'reconnecting'))
  es.addEventListener('snapshot', e => {
    const d = JSON.parse((e as MessageEvent).data) as {view: View; activity: Activity[]}
    view = d.view
    addActivity(d.activity, true)
    render()
  })
  es.addEventListener('patch', e => {
    if (!view) return
    view = apply(view, (JSON.parse((e as MessageEvent).data) as {ops: Op[]}).ops)
    render()
  })
  es.addEventListener('activity', e => addActivity(JSON.parse((e as MessageEvent).data) as Activity[]))
}

connect()
setInterval(tickClock, 1000)
