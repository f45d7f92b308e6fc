import {compileTemplate} from './template.js'

/** Go's text/tabwriter as docker-machine sets it up (minwidth 5, padding 3, spaces). */
export function tabwrite(text: string, minWidth = 5, padding = 3): string {
  const lines = text.split('\n')
  const cells = lines.map(l => l.split('\t'))
  const widths: number[] = []
  for (const row of cells) row.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  return cells.map(row => row.map((c, i) => (i < row.length - 1 ? c.padEnd(Math.max(minWidth, widths[i]! + padding)) : c)).join('')).join('\n')
}

/**
 * docker-machine's --format: a Go template per item; `table` before it prints a header row
 * (each field's header) and aligns the columns; `\t` and `\n` written literally are tab and newline.
 */
export function renderFormat(format: string, items: unknown[], headers: Record<string, string>): string {
  let f = format
  const table = f.startsWith('table')
  if (table) f = f.slice('table'.length)
  f = f.trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n') + '\n'
  const t = compileTemplate(f)
  const out = (table ? [t.execute(headers)] : []).concat(items.map(i => t.execute(i)))
  return table ? tabwrite(out.join('')) : out.join('')
}

/** inspect --format: the template once, on the machine's shape. */
export function renderOne(format: string, item: unknown): string {
  return compileTemplate(format.replace(/\\t/g, '\t').replace(/\\n/g, '\n') + '\n').execute(item)
}
