/** OpenStack's errors as one line naming the API and the request, and what its answers say about retrying. */
import {CloudApiError} from '../../src/sdk/index.js'

export class OpenStackError extends CloudApiError {
  constructor(
    readonly api: string,
    readonly method: string,
    readonly path: string,
    override readonly status: number | undefined,
    readonly detail: string,
  ) {
    super(`${api} ${method} ${path}: ${status ? `${status} ${reason(status)}: ` : ''}${detail}`, status)
    this.name = 'OpenStackError'
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Request Entity Too Large',
  429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}
const reason = (s: number) => REASONS[s] ?? 'Error'

export function isNotFound(err: unknown): boolean {
  return err instanceof OpenStackError && err.status === 404
}

/** Retry-After is either whole seconds or an HTTP date. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** The message inside an OpenStack error body, whatever the service's style. */
export function errorDetail(text: string): string {
  const trimmed = text.trim()
  if (!trimmed) return 'no details'
  try {
    const body = JSON.parse(trimmed) as any
    // nova/cinder: {"itemNotFound": {"message": ..., "code": 404}}; neutron: {"NeutronError": {...}}; keystone: {"error": {...}}
    if (body && typeof body === 'object') {
      if (typeof body.message === 'string') return oneLine(body.message)
      for (const v of Object.values(body)) {
        if (v && typeof v === 'object' && typeof (v as any).message === 'string') return oneLine((v as any).message)
      }
    }
  } catch { /* not JSON: glance answers text or HTML */ }
  // HTML error pages (glance, proxies): the text after the heading says what went wrong.
  const html = /<\/h1>([\s\S]*?)<\/body>/i.exec(trimmed)?.[1] ?? trimmed
  return oneLine(html.replace(/<[^>]+>/g, ' ')).slice(0, 200) || 'no details'
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim()
