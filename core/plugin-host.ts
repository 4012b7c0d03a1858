import type { FastifyInstance } from 'fastify'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { ActionHandler, Bus, ServeOptions } from './bus.js'
import { CapabilityError } from './capabilities.js'
import type { Capability, Hive, NodeInfo } from './capability.js'
import type { KvStore } from './kv.js'
import { ServiceModel } from './model.js'
import type { NodeRecord, NodeRegistry } from './nodes.js'

/**
 * Every check the core makes before a capability may register: each failure names the fix. Live
 * nodes count too: an action served by two different capabilities in one cluster would share a
 * queue group and alternate between their states.
 */
export function validateCapabilities (caps: Capability[], cluster: readonly NodeRecord[]): Map<string, ServiceModel> {
  const clusterCapabilities = new Set(cluster.flatMap(n => n.capabilities))
  const byCap = new Map<string, Capability>()
  const byName = new Map<string, Capability>()
  for (const c of caps) {
    if (typeof c.capability !== 'string' || !/^[a-z][a-z0-9-]*$/.test(c.capability)) {
      throw new CapabilityError(`plugin '${c.name}' declares an invalid capability name '${String(c.capability)}'`)
    }
    if (byCap.has(c.capability)) throw new CapabilityError(`capability '${c.capability}' is enabled twice (plugins '${byCap.get(c.capability)?.name}' and '${c.name}')`)
    if (byName.has(c.name)) throw new CapabilityError(`plugin name '${c.name}' is used twice`)
    byCap.set(c.capability, c)
    byName.set(c.name, c)
  }
  for (const c of caps) {
    for (const dep of c.dependsOn ?? []) {
      if (!byCap.has(dep) && !clusterCapabilities.has(dep)) {
        throw new CapabilityError(`capability '${c.capability}' depends on '${dep}', which neither this node enables nor ` +
          `any node of the cluster serves; add it with --cap ${dep} (or start a node that has it)`)
      }
    }
  }
  const models = new Map<string, ServiceModel>()
  const owner = new Map<string, string>()
  for (const c of caps) {
    for (const [service, spec] of Object.entries(c.services)) {
      const ref = spec.model ?? service
      let model: ServiceModel
      try {
        model = ServiceModel.load(ref instanceof URL ? fileURLToPath(ref) : ref)
      } catch (e) {
        throw new CapabilityError(`capability '${c.capability}': service model '${String(ref)}' for ${service} failed to load: ${(e as Error).message}`)
      }
      models.set(service, model)
      for (const action of Object.keys(spec.actions)) {
        if (model.operation(action) === undefined) {
          throw new CapabilityError(`capability '${c.capability}' declares ${service}:${action}, which the ${service} model does not have`)
        }
        const key = `${service}:${action}`
        const prev = owner.get(key) ?? cluster.find(n => n.actions[key] !== undefined && n.actions[key] !== c.capability)?.actions[key]
        if (prev !== undefined) throw new CapabilityError(`action ${key} is declared by both '${prev}' and '${c.capability}'`)
        owner.set(key, c.capability)
      }
    }
  }
  return models
}

export interface HostDeps {
  node: NodeInfo
  bus: Bus
  kv: KvStore
  log: Logger
  registry: NodeRegistry
}

/** Registers each capability in its own encapsulated fastify context and checks it served what it declared. */
export async function registerCapabilities (app: FastifyInstance, caps: Capability[], deps: HostDeps): Promise<void> {
  for (const cap of caps) {
    const served = new Set<string>()
    const hive: Hive = {
      node: deps.node,
      bus: deps.bus,
      kv: deps.kv,
      log: deps.log.child({ capability: cap.capability }),
      nodes: async () => await deps.registry.nodes(),
      serve: (service: string, action: string, handler: ActionHandler, opts?: ServeOptions) => {
        if (cap.services[service]?.actions[action] === undefined) {
          throw new CapabilityError(`capability '${cap.capability}' serves ${service}:${action} without declaring it in services`)
        }
        served.add(`${service}:${action}`)
        deps.bus.serve(service, action, handler, opts)
      }
    }
    await app.register(async child => {
      try {
        await cap.register(child, hive)
      } catch (e) {
        if (e instanceof CapabilityError) throw e
        throw new CapabilityError(`capability '${cap.capability}' failed to register: ${(e as Error).message}`)
      }
    })
    await app.after()
    const missing = Object.entries(cap.services).flatMap(([s, spec]) => Object.keys(spec.actions).map(a => `${s}:${a}`)).filter(k => !served.has(k))
    if (missing.length > 0) throw new CapabilityError(`capability '${cap.capability}' declares but does not serve ${missing.join(', ')}`)
  }
}

/** `<service>:<Action>` → capability, as this node advertises in hive_nodes. */
export function actionsOf (caps: Capability[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const c of caps) for (const [s, spec] of Object.entries(c.services)) for (const a of Object.keys(spec.actions)) out[`${s}:${a}`] = c.capability
  return out
}
