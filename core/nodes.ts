import type { Bucket, KvStore } from './kv.js'
import { CAPABILITIES_BUCKET, NODE_HEARTBEAT_MS, NODE_TTL_MS, NODES_BUCKET } from './subjects.js'

/** A node's entry in hive_nodes (subjects.ts), rewritten every NODE_HEARTBEAT_MS. */
export interface NodeRecord {
  nodeId: string
  region: string
  /** The availability zone the node sits in. */
  az: string
  /** Capabilities enabled on the node. */
  capabilities: string[]
  /** `<service>:<Action>` → capability, for every action the node serves. */
  actions: Record<string, string>
  endpoint: string
  startedAt: string
}

/** An entry of hive_capabilities (subjects.ts). */
export interface CapabilityRecord {
  capability: string
  plugin: string
  /** `<service>:<Action>` of every action it serves. */
  actions: string[]
}

/** This node's heartbeat and the cluster's view of who serves what. */
export class NodeRegistry {
  private timer: NodeJS.Timeout | undefined
  private cache: { at: number, nodes: NodeRecord[] } | undefined

  private constructor (private readonly bucket: Bucket<NodeRecord>, private readonly catalogue: Bucket<CapabilityRecord>) {}

  static async open (kv: KvStore): Promise<NodeRegistry> {
    return new NodeRegistry(
      await kv.bucket<NodeRecord>(NODES_BUCKET, { ttlMs: NODE_TTL_MS }),
      await kv.bucket<CapabilityRecord>(CAPABILITIES_BUCKET))
  }

  async start (self: NodeRecord, capabilities: CapabilityRecord[]): Promise<void> {
    for (const c of capabilities) await this.catalogue.put(c.capability, c)
    await this.bucket.put(self.nodeId, self)
    this.timer = setInterval(() => { void this.bucket.put(self.nodeId, self).catch(() => {}) }, NODE_HEARTBEAT_MS)
    this.timer.unref()
    this.cache = undefined
  }

  async stop (nodeId: string): Promise<void> {
    clearInterval(this.timer)
    await this.bucket.delete(nodeId).catch(() => {})
  }

  /** Live nodes; cached for a second since gathers ask on every describe. */
  async nodes (): Promise<NodeRecord[]> {
    if (this.cache !== undefined && Date.now() - this.cache.at < 1_000) return this.cache.nodes
    const nodes = (await this.bucket.list()).map(e => e.value)
    this.cache = { at: Date.now(), nodes }
    return nodes
  }

  async serversOf (service: string, action: string): Promise<number> {
    const key = `${service}:${action}`
    return (await this.nodes()).filter(n => key in n.actions).length
  }

  /** The capability that serves the action: as a live node declares it, else as the cluster last saw it. */
  async capabilityOf (service: string, action: string): Promise<string | undefined> {
    const key = `${service}:${action}`
    const live = (await this.nodes()).find(n => key in n.actions)?.actions[key]
    if (live !== undefined) return live
    return (await this.catalogue.list()).find(e => e.value.actions.includes(key))?.value.capability
  }
}
