import tls from 'node:tls'

/**
 * A mutual-TLS server that answers "hi" to a client its CA signed, and `talk`, which connects with
 * the given client options and resolves with what the server sent (the certificate tests' probe).
 */
export async function tlsEcho(server: {certPem: string | Buffer; keyPem: string | Buffer}, caPem: string | Buffer): Promise<{talk: (opts: tls.ConnectionOptions) => Promise<string>; close: () => void}> {
  const srv = tls.createServer({cert: server.certPem, key: server.keyPem, ca: caPem, requestCert: true, rejectUnauthorized: true}, s => s.end('hi'))
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as {port: number}).port
  const talk = (opts: tls.ConnectionOptions) => new Promise<string>((resolve, reject) => {
    const s = tls.connect({host: '127.0.0.1', port, ca: caPem, ...opts}, () => {})
    let data = ''
    s.on('data', d => (data += d))
    s.on('end', () => resolve(data))
    s.on('error', reject)
  })
  return {talk, close: () => srv.close()}
}
