import * as Flags from '@oclif/core/flags'
import {BerthCommand} from '../_command.js'
import {UserError} from '../../src/core/index.js'

export default class RegistryCreate extends BerthCommand<typeof RegistryCreate> {
  static override summary = 'Run a Docker registry on a swarm member, trusted by every member (TLS from the store CA)'
  static override description = 'The distribution registry (Debian\'s docker-registry, installed when absent) runs on the member as a service with storage on its disk. Every member, and every machine that joins later, trusts it through /etc/docker/certs.d, so docker push and pull need no insecure-registry. With --mirror it is a pull-through cache that members use as their registry mirror. With --auth the password is read from BERTH_REGISTRY_PASSWORD, stdin or a prompt, never from the command line.'
  static override examples = [
    '<%= config.bin %> registry create --swarm lab3',
    '<%= config.bin %> registry create --swarm lab3 --on w1 --port 5001 --mirror https://registry-1.docker.io',
    'BERTH_REGISTRY_PASSWORD=... <%= config.bin %> registry create --swarm lab3 --auth alice',
  ]
  static override flags = {
    swarm: Flags.string({summary: 'Swarm whose members trust it', required: true}),
    on: Flags.string({summary: 'Member to run it on (default: the first manager)'}),
    port: Flags.integer({summary: 'TCP port', default: 5000, min: 1, max: 65_535}),
    auth: Flags.string({summary: 'htpasswd user (password from BERTH_REGISTRY_PASSWORD, stdin or a prompt)'}),
    mirror: Flags.string({summary: 'Upstream registry URL: run as its pull-through cache and make it the members\' registry mirror'}),
    json: Flags.boolean({summary: 'Print the registry as JSON'}),
  }

  async run(): Promise<void> {
    const {createRegistry} = await import('../../src/registry/index.js')
    const auth = this.flags.auth ? {user: this.flags.auth, password: await readPassword()} : undefined
    const r = await createRegistry(this.berth().ctx, {swarm: this.flags.swarm, on: this.flags.on, port: this.flags.port, mirror: this.flags.mirror, auth})
    if (this.flags.json) return this.json(r)
    this.log(r.address)
  }
}

async function readPassword(): Promise<string> {
  const env = process.env.BERTH_REGISTRY_PASSWORD
  if (env) return env
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(c as Buffer)
    return Buffer.concat(chunks).toString().replace(/\r?\n$/, '')
  }
  process.stderr.write('registry password: ')
  process.stdin.setRawMode(true)
  let pw = ''
  try {
    for await (const c of process.stdin) {
      const s = String(c)
      if (s === '\u0003') throw new UserError('interrupted', 130)
      if (s === '\r' || s === '\n') break
      pw = s === '\u007f' ? pw.slice(0, -1) : pw + s
    }
  } finally {
    process.stdin.setRawMode(false)
    process.stdin.pause()
    process.stderr.write('\n')
  }
  return pw
}
