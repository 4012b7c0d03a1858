import type { HttpRequest } from './http.js'
import { ServiceModel } from './model.js'
import { protocolFor, type Protocol } from './protocols/index.js'

export interface ServiceEntry {
  service: string
  model: ServiceModel
  protocol: Protocol
}

const SHIPPED = new Set(ServiceModel.available())

/** Query-protocol API versions → signing name, to tell an unsigned form post's service. */
const QUERY_VERSIONS: Record<string, string> = {
  '2016-11-15': 'ec2',
  '2010-05-08': 'iam',
  '2011-06-15': 'sts'
}

/**
 * The models the edge speaks, by signing name: those the local capabilities declared, else any model
 * shipped in `models/` (a request for a capability served on another node still parses here).
 */
export class ServiceRegistry {
  private readonly entries = new Map<string, ServiceEntry>()

  constructor (local: Map<string, ServiceModel>) {
    for (const [service, model] of local) this.entries.set(service, { service, model, protocol: protocolFor(model) })
  }

  get (service: string): ServiceEntry | undefined {
    let e = this.entries.get(service)
    if (e === undefined) {
      // Names come from unauthenticated credential scopes: only the shipped models are looked up.
      if (!SHIPPED.has(service)) return undefined
      const model = ServiceModel.load(service)
      e = { service, model, protocol: protocolFor(model) }
      this.entries.set(service, e)
    }
    return e
  }

  /** For requests that carry no credential scope, so their error still comes in the right shape. */
  guess (req: HttpRequest): string {
    const target = req.headers['x-amz-target']
    if (target !== undefined) {
      const prefix = target.split('.')[0]
      for (const service of [...this.entries.keys(), ...SHIPPED]) {
        if (this.get(service)?.model.metadata.targetPrefix === prefix) return service
      }
    }
    const form = req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
      ? req.body.toString('latin1')
      : req.query
    const version = /(?:^|&)Version=([^&]*)/.exec(form)?.[1]
    if (version !== undefined) return QUERY_VERSIONS[decodeURIComponent(version)] ?? 'ec2'
    if (/(?:^|&)Action=/.test(form)) return 'ec2'
    return 's3'
  }
}
