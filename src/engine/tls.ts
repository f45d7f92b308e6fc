import {readFileSync} from 'node:fs'
import type https from 'node:https'
import type tls from 'node:tls'
import {createRequire} from 'node:module'
import path from 'node:path'

/** The Docker Engine API over mutual TLS, as the stock docker CLI speaks it. */
export interface EngineTLS {
  ca: string | Buffer
  cert: string | Buffer
  key: string | Buffer
}

export function tlsFromDir(dir: string): EngineTLS {
  return {
    ca: readFileSync(path.join(dir, 'ca.pem')),
    cert: readFileSync(path.join(dir, 'cert.pem')),
    key: readFileSync(path.join(dir, 'key.pem')),
  }
}

const load = createRequire(import.meta.url)
// node:https (and TLS with it) loads on the first request: `ls` of stopped machines never pays for it.
export const lazyHttps = (): typeof https => load('node:https')

// Without a given context, every TLS connection parses the CA, certificate and key again (the
// polls of engines still starting included): one context per client identity serves them all.
const contexts = new Map<string, tls.SecureContext>()
export function secureContextFor(t: EngineTLS): tls.SecureContext {
  const id = `${t.ca}\0${t.cert}\0${t.key}`
  let c = contexts.get(id)
  if (!c) {
    c = (load('node:tls') as typeof tls).createSecureContext({ca: t.ca, cert: t.cert, key: t.key})
    contexts.set(id, c)
  }
  return c
}
