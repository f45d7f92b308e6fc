/**
 * The Docker Engine API endpoint of a fake host: an HTTPS server on loopback that asks for a
 * client certificate, with the server certificate, key and CA that berth uploaded to the host.
 * Until the host "starts dockerd" it has no certificate, so TLS handshakes fail as with an engine
 * still down. It answers the few calls berth makes while creating and removing a machine.
 */
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import type {FakeSshd} from './sshd.js'

export class FakeEngine {
  readonly requests: string[] = []
  /** Answer POST /swarm/init and /swarm/join with this error (HTTP 500). */
  failSwarm?: string
  /** Answer POST /swarm/leave with this error (HTTP 500), as an engine too busy to leave in time. */
  failLeave?: string
  swarm: {state: 'inactive' | 'active'; nodeId: string} = {state: 'inactive', nodeId: ''}
  started = false
  /** Sees each call before it is answered (e.g. to look at the store at that moment). */
  onRequest?: (key: string) => void
  port = 0
  private readonly server: https.Server

  private constructor() {
    this.server = https.createServer({requestCert: true, rejectUnauthorized: true}, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', c => chunks.push(c))
      req.on('end', () => {
        const key = `${req.method} ${(req.url ?? '').split('?')[0]}`
        this.requests.push(key)
        this.onRequest?.(key)
        const [status, body] = this.route(key)
        res.writeHead(status, {'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json'})
        res.end(typeof body === 'string' ? body : JSON.stringify(body))
      })
    })
    this.server.on('tlsClientError', () => {})
  }

  static async listen(): Promise<FakeEngine> {
    const e = new FakeEngine()
    await new Promise<void>(resolve => e.server.listen(0, '127.0.0.1', () => resolve()))
    e.port = (e.server.address() as AddressInfo).port
    return e
  }

  /** dockerd starts: serve with the certificate files found on the host. */
  start(host: FakeSshd): void {
    const file = (p: string) => {
      const t = host.text(p)
      if (!t) throw new Error(`dockerd: ${p} missing`)
      return t
    }
    this.server.setSecureContext({cert: file('/etc/docker/server.pem'), key: file('/etc/docker/server-key.pem'), ca: file('/etc/docker/ca.pem')})
    this.started = true
  }

  private route(key: string): [number, unknown] {
    const nodeId = this.swarm.nodeId
    if (key === 'GET /_ping') return [200, 'OK']
    if (key === 'GET /version') return [200, {Version: '24.0.0-fake', ApiVersion: '1.43', Os: 'linux', KernelVersion: 'fake'}]
    if (key === 'GET /info') return [200, {Swarm: {NodeID: nodeId, LocalNodeState: this.swarm.state, ControlAvailable: this.swarm.state === 'active'}}]
    if (key === 'POST /swarm/init' || key === 'POST /swarm/join') {
      if (this.failSwarm) return [500, {message: this.failSwarm}]
      this.swarm = {state: 'active', nodeId: `node${this.port}`}
      return [200, this.swarm.nodeId]
    }
    if (key === 'POST /swarm/leave') {
      if (this.failLeave) return [500, {message: this.failLeave}]
      if (this.swarm.state !== 'active') return [503, {message: 'This node is not part of a swarm'}]
      this.swarm = {state: 'inactive', nodeId: ''}
      return [200, '']
    }
    if (key === `GET /nodes/${nodeId}`) return [200, {Version: {Index: 1}, Spec: {Role: 'manager', Availability: 'active', Labels: {}}}]
    if (key === `POST /nodes/${nodeId}/update` || key.startsWith('DELETE /nodes/')) return [200, '']
    return [404, {message: `fake engine: no route ${key}`}]
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }
}
