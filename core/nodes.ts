import type { Bucket, KvStore } from './kv.js'
import { NODE_HEARTBEAT_MS, NODE_TTL_MS, NODES_BUCKET } from './subjects.js'

/** A node's entry in hive_nodes (subjects.ts), rewritten every NODE_HEARTBEAT_MS. */
export interface NodeRecord {
  nodeId: string
  /** Capabilities enabled on the node. */
  capabilities: string[]
  /** `<service>:<Action>` → capability, for every action the node serves. */
  actions: Record<string, string>
  endpoint: string
  startedAt: string
}

/** This node's heartbeat and the cluster's view of who serves what. */
export class NodeRegistry {
  private timer: NodeJS.Timeout | undefined
  private cache: { at: number, nodes: NodeRecord[] } | undefined

  private constructor (private readonly bucket: Bucket<NodeRecord>) {}

  static async open (kv: KvStore): Promise<NodeRegistry> {
    return new NodeRegistry(await kv.bucket<NodeRecord>(NODES_BUCKET, { ttlMs: NODE_TTL_MS }))
  }

  async start (self: NodeRecord): Promise<void> {
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

  /** The capability some live node declares for the action, if any. */
  async capabilityOf (service: string, action: string): Promise<string | undefined> {
    const key = `${service}:${action}`
    return (await this.nodes()).find(n => key in n.actions)?.actions[key]
  }
}
