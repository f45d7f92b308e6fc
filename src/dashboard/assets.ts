/**
 * The page's static files, all inside the package (no CDN, nothing fetched): the HTML and CSS
 * here, the scripts as tsc compiles client/*.ts next to this module (dist/ ships in the package).
 */
import {readFileSync} from 'node:fs'
import type {Asset} from './server.js'

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>berth dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="style.css">
<script type="module" src="app.js"></script>
</head>
<body>
<header>
  <h1>berth <span>dashboard</span></h1>
  <span id="conn" class="conn" data-conn="connecting">connecting…</span>
  <span id="updated" class="updated"></span>
</header>
<div class="layout">
  <main id="swarms"><p class="empty">Waiting for the first read of the engines…</p></main>
  <aside>
    <h2>Activity</h2>
    <ol id="activity"></ol>
  </aside>
</div>
<noscript>This page needs JavaScript (modules) to show the cluster.</noscript>
</body>
</html>
`

const CSS = `
:root {
  --bg: #f3f4f6; --card: #fff; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb;
  --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --accent: #1d4ed8;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
header { display: flex; align-items: baseline; gap: 16px; padding: 10px 20px; background: #111827; color: #f9fafb; }
header h1 { margin: 0; font-size: 18px; }
header h1 span { font-weight: 400; color: #9ca3af; }
.conn { padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #374151; }
.conn[data-conn="live"] { background: var(--ok); }
.conn[data-conn="reconnecting"] { background: var(--bad); }
.updated { color: #9ca3af; font-size: 12px; margin-left: auto; }
.updated.stale { color: #fca5a5; }
.layout { display: flex; gap: 16px; padding: 16px 20px; align-items: flex-start; }
main { flex: 1; min-width: 0; display: flex; flex-direction: column; gap: 20px; }
aside { width: 320px; flex: none; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; max-height: calc(100vh - 90px); overflow: auto; }
aside h2 { margin: 0 0 6px; font-size: 14px; }
#activity { list-style: none; margin: 0; padding: 0; font-size: 12px; }
#activity li { padding: 3px 0; border-bottom: 1px solid var(--line); }
#activity time { color: var(--muted); margin-right: 6px; font-variant-numeric: tabular-nums; }
#activity .warn { color: var(--warn); }
#activity .ok { color: var(--ok); }
.empty { color: var(--muted); }
.swarm > h2 { margin: 0 0 4px; font-size: 17px; }
.swarm .meta { color: var(--muted); font-size: 13px; margin-bottom: 10px; display: flex; flex-wrap: wrap; gap: 4px 14px; }
.swarm .meta b { color: var(--ink); font-weight: 600; }
.swarm .error { color: var(--bad); }
.groups { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.group { border: 1px dashed #9ca3af; border-radius: 10px; padding: 8px 10px 10px; background: #e9ebef; }
.group > h3 { margin: 0 0 8px; font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: #374151; }
.nodes { display: flex; gap: 10px; align-items: flex-start; }
.node { width: 210px; background: var(--card); border: 1px solid var(--line); border-top: 4px solid var(--ok); border-radius: 8px; padding: 8px; }
.node[data-state="down"] { border-top-color: var(--bad); background: #fef2f2; }
.node[data-state="down"] .tasks { opacity: .55; }
.node[data-state="unknown"], .node[data-state="disconnected"] { border-top-color: var(--warn); }
.node h4 { margin: 0; font-size: 15px; display: flex; align-items: center; gap: 6px; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: var(--ok); flex: none; }
.node[data-state="down"] .dot { background: var(--bad); }
.node[data-state="unknown"] .dot, .node[data-state="disconnected"] .dot { background: var(--warn); }
.badge { font-size: 10px; font-weight: 600; padding: 0 5px; border-radius: 8px; background: #dbeafe; color: var(--accent); text-transform: uppercase; }
.badge.leader { background: #fef3c7; color: var(--warn); }
.badge.worker { background: #f3f4f6; color: var(--muted); }
.badge.drain { background: #fee2e2; color: var(--bad); }
.facts { font-size: 12px; color: var(--muted); margin: 4px 0 6px; }
.facts .state { font-weight: 600; color: var(--ink); }
.node[data-state="down"] .facts .state { color: var(--bad); }
.bar { height: 5px; background: var(--line); border-radius: 3px; overflow: hidden; margin: 2px 0 4px; }
.bar i { display: block; height: 100%; background: var(--accent); width: var(--used, 0%); }
.res { font-size: 11px; color: var(--muted); }
.labels { display: flex; flex-wrap: wrap; gap: 3px; margin: 4px 0; }
.labels span { font-size: 10px; background: #f3f4f6; border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; }
.tasks { display: flex; flex-direction: column; gap: 4px; margin-top: 6px; }
.task, .container { border-radius: 5px; padding: 4px 6px; font-size: 12px; color: #fff; background: hsl(var(--hue, 210) 55% 42%); }
.task .name, .container .name { font-weight: 600; }
.task .sub, .container .sub { font-size: 11px; opacity: .85; }
.task:not([data-state="running"]) { background: hsl(var(--hue, 210) 30% 62%); font-style: italic; }
.container { background: #4b5563; }
.container[data-state="exited"], .container[data-state="dead"], .container[data-state="created"] { background: #d1d5db; color: #374151; }
.services { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 6px; }
.service { font-size: 12px; background: var(--card); border: 1px solid var(--line); border-left: 6px solid hsl(var(--hue, 210) 55% 42%); border-radius: 5px; padding: 3px 8px; }
.service .count { color: var(--muted); margin-left: 6px; }
.service.short .count { color: var(--bad); font-weight: 600; }
`

const CLIENT = new Set(['app.js', 'patch.js'])
const cache = new Map<string, Asset>()

export function asset(name: string): Asset | undefined {
  if (name === 'index.html') return {type: 'text/html; charset=utf-8', body: HTML}
  if (name === 'style.css') return {type: 'text/css; charset=utf-8', body: CSS}
  if (!CLIENT.has(name)) return undefined
  let a = cache.get(name)
  if (!a) {
    const text = readFileSync(new URL(`./client/${name}`, import.meta.url), 'utf8')
    // The source maps stay out of the page: nothing to serve them from, nothing to gain.
    a = {type: 'text/javascript; charset=utf-8', body: text.replace(/^\/\/# sourceMappingURL=.*$/m, '')}
    cache.set(name, a)
  }
  return a
}
