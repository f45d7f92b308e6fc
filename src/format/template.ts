/**
 * The part of Go's text/template that docker-machine users write in `ls --format` and
 * `inspect --format`: fields (`.Driver.IPAddress`), `$`, pipelines, the functions docker-machine
 * and the docker CLI offer (json, prettyjson, upper, lower, join, split, title, len, index, printf,
 * eq/ne/lt/gt/le/ge, not/and/or), if/else if/else, range, with, `{{-`/`-}}` trimming.
 * No npm package does Go templates well enough to be worth a dependency; this is the subset.
 */
import {UserError} from '../core/index.js'

type Node =
  | {kind: 'text'; text: string}
  | {kind: 'out'; pipe: Pipe}
  | {kind: 'if'; pipe: Pipe; then: Node[]; else: Node[]}
  | {kind: 'with'; pipe: Pipe; then: Node[]; else: Node[]}
  | {kind: 'range'; pipe: Pipe; body: Node[]; else: Node[]}
type Arg = {kind: 'field'; base: 'dot' | 'root'; path: string[]} | {kind: 'lit'; value: unknown} | {kind: 'call'; name: string} | {kind: 'sub'; pipe: Pipe}
type Pipe = Arg[][]

const bad = (m: string) => new UserError(`template: ${m}`, 'usage')

function tokenize(src: string): Array<{text?: string; action?: string}> {
  const out: Array<{text?: string; action?: string}> = []
  let i = 0
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    if (open < 0) {
      out.push({text: src.slice(i)})
      break
    }
    let text = src.slice(i, open)
    let a = open + 2
    if (src[a] === '-' && /\s/.test(src[a + 1] ?? '')) {
      text = text.replace(/\s+$/, '')
      a++
    }
    const close = src.indexOf('}}', a)
    if (close < 0) throw bad(`unclosed action at offset ${open}`)
    let action = src.slice(a, close)
    let next = close + 2
    if (/\s-$/.test(action)) {
      action = action.slice(0, -1)
      const m = /^\s*/.exec(src.slice(next))!
      next += m[0].length
    }
    if (text) out.push({text})
    out.push({action: action.trim()})
    i = next
  }
  return out
}

function words(s: string): string[] {
  const out: string[] = []
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||[^\s()|]+)/gy
  let m: RegExpExecArray | null
  let end = 0
  while ((m = re.exec(s))) {
    out.push(m[1]!)
    end = re.lastIndex
  }
  if (s.slice(end).trim()) throw bad(`cannot parse "${s}"`)
  return out
}

function parsePipe(src: string): Pipe {
  const toks = words(src)
  let i = 0
  const pipe = (): Pipe => {
    const cmds: Arg[][] = [[]]
    while (i < toks.length && toks[i] !== ')') {
      const t = toks[i++]!
      if (t === '|') cmds.push([])
      else if (t === '(') {
        cmds.at(-1)!.push({kind: 'sub', pipe: pipe()})
        if (toks[i++] !== ')') throw bad(`unclosed ( in "${src}"`)
      } else cmds.at(-1)!.push(arg(t))
    }
    if (cmds.some(c => !c.length)) throw bad(`missing command in "${src}"`)
    return cmds
  }
  const p = pipe()
  if (i < toks.length) throw bad(`unexpected ) in "${src}"`)
  return p
}

function arg(t: string): Arg {
  if (t === '.') return {kind: 'field', base: 'dot', path: []}
  if (t.startsWith('.')) return {kind: 'field', base: 'dot', path: t.slice(1).split('.')}
  if (t === '$') return {kind: 'field', base: 'root', path: []}
  if (t.startsWith('$.')) return {kind: 'field', base: 'root', path: t.slice(2).split('.')}
  if (t.startsWith('"')) return {kind: 'lit', value: JSON.parse(t)}
  if (t.startsWith('`')) return {kind: 'lit', value: t.slice(1, -1)}
  if (/^-?\d+(\.\d+)?$/.test(t)) return {kind: 'lit', value: Number(t)}
  if (t === 'true' || t === 'false') return {kind: 'lit', value: t === 'true'}
  if (t === 'nil') return {kind: 'lit', value: null}
  if (/^[A-Za-z_]\w*$/.test(t)) return {kind: 'call', name: t}
  throw bad(`unexpected "${t}"`)
}

function parse(src: string): Node[] {
  const toks = tokenize(src)
  let i = 0
  const control = (word: string, rest: string): Node => {
    const p = parsePipe(rest)
    const body = block(['else', 'end'])
    let alt: Node[] = []
    if (body.stop.startsWith('else')) {
      const more = body.stop.replace(/^else\s*/, '')
      // {{else if X}}: a nested if that ends at this block's {{end}}.
      alt = more.startsWith('if ') && word === 'if' ? [control('if', more.slice(3))] : block(['end']).nodes
    }
    if (word === 'range') return {kind: 'range', pipe: p, body: body.nodes, else: alt}
    return word === 'with' ? {kind: 'with', pipe: p, then: body.nodes, else: alt} : {kind: 'if', pipe: p, then: body.nodes, else: alt}
  }
  const block = (stops: string[]): {nodes: Node[]; stop: string} => {
    const nodes: Node[] = []
    while (i < toks.length) {
      const t = toks[i++]!
      if (t.text !== undefined) {
        nodes.push({kind: 'text', text: t.text})
        continue
      }
      const a = t.action!
      if (a.startsWith('/*')) continue
      const kw = /^(\w+)\b\s*(.*)$/.exec(a)
      const word = kw?.[1]
      if (word && stops.includes(word)) return {nodes, stop: a}
      if (word === 'if' || word === 'with' || word === 'range') nodes.push(control(word, kw![2]!))
      else if (word === 'end' || word === 'else') throw bad(`unexpected {{${a}}}`)
      else nodes.push({kind: 'out', pipe: parsePipe(a)})
    }
    if (stops.length) throw bad('missing {{end}}')
    return {nodes, stop: ''}
  }
  return block([]).nodes
}

/** Go's default formatting of a value (fmt's %v), close enough for what templates print. */
export function goString(v: unknown): string {
  if (v === undefined) return '<no value>'
  if (v === null) return '<nil>'
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`
  if (typeof v === 'object') return `map[${Object.keys(v as object).sort().map(k => `${k}:${goString((v as Record<string, unknown>)[k])}`).join(' ')}]`
  return String(v)
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0
  if (v && typeof v === 'object') return Object.keys(v).length > 0
  return Boolean(v)
}

function sprintf(fmt: string, args: unknown[]): string {
  let k = 0
  return fmt.replace(/%([-+ 0#]*\d*(?:\.\d+)?)([vsdqtfx%])/g, (_m, _w, c: string) => {
    if (c === '%') return '%'
    const a = args[k++]
    if (c === 'q') return JSON.stringify(goString(a))
    if (c === 'd') return String(Math.trunc(Number(a)))
    if (c === 'x') return Number(a).toString(16)
    return goString(a)
  })
}

const FUNCS: Record<string, (...a: unknown[]) => unknown> = {
  json: v => JSON.stringify(v ?? null),
  prettyjson: v => JSON.stringify(v ?? null, null, 4),
  upper: v => String(v).toUpperCase(),
  lower: v => String(v).toLowerCase(),
  title: v => String(v).replace(/\b\w/g, c => c.toUpperCase()),
  join: (v, sep) => (Array.isArray(v) ? v.map(goString).join(String(sep)) : goString(v)),
  split: (v, sep) => String(v).split(String(sep)),
  len: v => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => keys.reduce((o: unknown, k) => (o == null ? undefined : (o as Record<string, unknown>)[String(k)]), v),
  printf: (f, ...a) => sprintf(String(f), a),
  print: (...a) => a.map(goString).join(''),
  println: (...a) => a.map(goString).join(' ') + '\n',
  not: v => !truthy(v),
  and: (...a) => a.find(x => !truthy(x)) ?? a.at(-1),
  or: (...a) => a.find(x => truthy(x)) ?? a.at(-1),
  eq: (a, ...b) => b.some(x => x === a || goString(x) === goString(a)),
  ne: (a, b) => goString(a) !== goString(b),
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
}

function field(base: unknown, path: string[], shown: string): unknown {
  let v = base
  for (const p of path) {
    if (v === null || v === undefined) return undefined
    if (typeof v !== 'object' || !(p in (v as object))) throw bad(`can't evaluate field ${p} in .${shown}: the fields here are ${v && typeof v === 'object' ? Object.keys(v).join(', ') : 'none'}`)
    v = (v as Record<string, unknown>)[p]
  }
  return v
}

function evalPipe(pipe: Pipe, dot: unknown, root: unknown): unknown {
  let prev: unknown
  pipe.forEach((cmd, n) => {
    const vals = (args: Arg[]) => args.map(a => evalArg(a, dot, root))
    const head = cmd[0]!
    const extra = n > 0 ? [prev] : []
    if (head.kind === 'call') {
      const f = FUNCS[head.name]
      if (!f) throw bad(`function "${head.name}" not defined (known: ${Object.keys(FUNCS).join(', ')})`)
      prev = f(...vals(cmd.slice(1)), ...extra)
    } else {
      if (cmd.length > 1 || n > 0) throw bad('only a function can take arguments')
      prev = evalArg(head, dot, root)
    }
  })
  return prev
}

function evalArg(a: Arg, dot: unknown, root: unknown): unknown {
  if (a.kind === 'lit') return a.value
  if (a.kind === 'sub') return evalPipe(a.pipe, dot, root)
  if (a.kind === 'call') return evalPipe([[a]], dot, root)
  return field(a.base === 'root' ? root : dot, a.path, a.path.join('.'))
}

function run(nodes: Node[], dot: unknown, root: unknown, out: string[]): void {
  for (const n of nodes) {
    if (n.kind === 'text') out.push(n.text)
    else if (n.kind === 'out') out.push(goString(evalPipe(n.pipe, dot, root)))
    else if (n.kind === 'if') run(truthy(evalPipe(n.pipe, dot, root)) ? n.then : n.else, dot, root, out)
    else if (n.kind === 'with') {
      const v = evalPipe(n.pipe, dot, root)
      if (truthy(v)) run(n.then, v, root, out)
      else run(n.else, dot, root, out)
    } else {
      const v = evalPipe(n.pipe, dot, root)
      const items = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.keys(v).sort().map(k => (v as Record<string, unknown>)[k]) : []
      if (!items.length) run(n.else, dot, root, out)
      for (const it of items) run(n.body, it, root, out)
    }
  }
}

export interface Template {
  execute(data: unknown): string
}

/** Parse once (errors are one line, exit 1, before anything runs), execute per row. */
export function compileTemplate(src: string): Template {
  const nodes = parse(src)
  return {execute: data => {
    const out: string[] = []
    run(nodes, data, data, out)
    return out.join('')
  }}
}
