/**
 * docker-machine's --tls-ca-cert/--tls-ca-key/--tls-client-cert/--tls-client-key (MACHINE_TLS_*):
 * an existing CA and client certificate for the store. A store without certificates takes them
 * as its own; a store that has others refuses, since every machine in it trusts the store's CA.
 */
import {promises as fs} from 'node:fs'
import {exists, mkdirPrivate, UserError, writeFileAtomic} from '../core/index.js'

const VARS = {caPath: 'BERTH_TLS_CA_CERT', caKeyPath: 'BERTH_TLS_CA_KEY', certPath: 'BERTH_TLS_CLIENT_CERT', keyPath: 'BERTH_TLS_CLIENT_KEY'} as const

/** Returns a note when the files were taken, undefined when none were given or the store has them already. */
export async function adoptStoreTls(certsDir: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const given = Object.entries(VARS).filter(([, v]) => env[v])
  if (!given.length) return undefined
  if (given.length < 4) throw new UserError('the TLS files go together: give all of --tls-ca-cert, --tls-ca-key, --tls-client-cert, --tls-client-key (MACHINE_TLS_CA_CERT, _CA_KEY, _CLIENT_CERT, _CLIENT_KEY)', 'usage')
  const {storeCertPaths, loadCA} = await import('../certs/index.js')
  const p = storeCertPaths(certsDir)
  const data: Record<string, Buffer> = {}
  for (const [k, v] of given) {
    data[k] = await fs.readFile(env[v]!).catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`cannot read ${env[v]} (${err.code}): check ${v.replace('BERTH_', 'MACHINE_')} / --${v.slice(6).toLowerCase().replace(/_/g, '-')}`, 'usage')
    })
  }
  if (await exists(p.keyPath)) {
    for (const k of Object.keys(VARS) as Array<keyof typeof VARS>) {
      if (!(await fs.readFile(p[k])).equals(data[k]!)) throw new UserError(`the store already has its own CA and client certificate (${certsDir}), other than the --tls-* files: use another --storage-path for machines of that CA`, 'usage')
    }
    return undefined
  }
  await mkdirPrivate(certsDir)
  for (const k of ['caPath', 'caKeyPath', 'certPath', 'keyPath'] as const) await writeFileAtomic(p[k], data[k]!)
  try {
    await loadCA(certsDir)
  } catch (err) {
    for (const k of Object.keys(VARS) as Array<keyof typeof VARS>) await fs.rm(p[k], {force: true})
    throw new UserError(`the --tls-ca-cert/--tls-ca-key pair cannot sign for berth (${(err as Error).message.split(':')[0]}): the CA key must be RSA or ECDSA, the certificate's own key`, 'usage')
  }
  return `the store takes the CA and client certificate of ${env.BERTH_TLS_CA_CERT} and ${env.BERTH_TLS_CLIENT_CERT}`
}
