/**
 * Heal: every s3 node rebuilds its own missing and corrupt shards. A pass walks every blob the
 * catalog references (objects and parts of open uploads); for each stripe with a shard placed on
 * this node, it checks the shard is held — and, in a deep pass, that it reads back with intact
 * CRCs — and otherwise reads any k shards of the stripe, reconstructs the lost one and stores it.
 * A node back from an outage thus catches up on the stripes written while it was down.
 *
 * Each pass ends with a compaction of this node's shard logs (shards.ts).
 * Passes run every HEAL_INTERVAL_MS (HIVE_S3_HEAL_INTERVAL_MS overrides), shallow by default and
 * deep every DEEP_EVERY-th time, and on demand. Node calls (core/subjects.ts):
 *   s3.heal.start    body: JSON { deep?: boolean } → JSON HealStatus (starts a pass unless one runs)
 *   s3.heal.status   → JSON HealStatus
 */
import type { Logger } from 'pino'
import type { Bus } from '../../core/index.js'
import { shardId, stripeSpan, type BlobRef, type BlobStore } from './blobs.js'
import type { Catalog } from './catalog.js'
import { parseTarget } from './ring.js'
import type { ShardStore } from './shards.js'

export interface HealStatus {
  nodeId: string
  running: boolean
  deep: boolean
  /** Stripes with a shard on this node: seen so far in this pass, and in total (known at the end). */
  checked: number
  total: number
  repaired: number
  /** Shards that could not be rebuilt (too few shards reachable); the next pass tries again. */
  failed: number
  passes: number
  startedAt?: string
  finishedAt?: string
}

/** 0: no passes but those asked for (tests that need a quiet store). */
const HEAL_INTERVAL_MS = Number(process.env.HIVE_S3_HEAL_INTERVAL_MS ?? 60_000)
const DEEP_EVERY = 10

export class Healer {
  private status: HealStatus
  private timer: NodeJS.Timeout | undefined
  private pass: Promise<void> | undefined
  private closed = false

  constructor (
    private readonly nodeId: string,
    private readonly catalog: Catalog,
    private readonly blobs: BlobStore,
    private readonly shards: ShardStore,
    private readonly log: Logger
  ) {
    this.status = { nodeId, running: false, deep: false, checked: 0, total: 0, repaired: 0, failed: 0, passes: 0 }
  }

  start (bus: Bus): void {
    bus.serveNode('s3.heal.start', ({ data }) => {
      const { deep } = data.length > 0 ? JSON.parse(Buffer.from(data).toString('utf8')) as { deep?: boolean } : {}
      this.run(deep === true)
      return { data: Buffer.from(JSON.stringify(this.status)) }
    })
    bus.serveNode('s3.heal.status', () => ({ data: Buffer.from(JSON.stringify(this.status)) }))
    // Soon after start: a node back from an outage catches up on what was written without it.
    this.schedule(Math.min(5_000, HEAL_INTERVAL_MS))
  }

  async close (): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    await this.pass
  }

  /** Starts a pass unless one is running. */
  run (deep: boolean): void {
    if (this.pass !== undefined || this.closed) return
    this.status = { ...this.status, running: true, deep }
    this.pass = this.heal(deep)
      .catch(err => { this.log.warn({ err }, 's3 heal pass failed') })
      .finally(() => { this.pass = undefined; this.schedule() })
  }

  private schedule (delayMs = HEAL_INTERVAL_MS): void {
    clearTimeout(this.timer)
    if (this.closed || HEAL_INTERVAL_MS === 0) return
    this.timer = setTimeout(() => { this.run((this.status.passes + 1) % DEEP_EVERY === 0) }, delayMs)
    this.timer.unref()
  }

  private async heal (deep: boolean): Promise<void> {
    this.status = { ...this.status, running: true, deep, checked: 0, total: 0, repaired: 0, failed: 0, startedAt: new Date().toISOString() }
    delete this.status.finishedAt
    const mine: Array<{ ref: BlobRef, stripe: number, shard: number }> = []
    for await (const ref of this.catalog.blobs()) {
      ref.stripes.forEach((targets, s) => targets.forEach((t, i) => {
        if (parseTarget(t).nodeId === this.nodeId) mine.push({ ref, stripe: s, shard: i })
      }))
    }
    this.status.total = mine.length
    for (const { ref, stripe, shard } of mine) {
      if (this.closed) break
      const id = shardId(ref.id, stripe, shard)
      const intact = deep ? Buffer.isBuffer(await this.shards.get(id)) : this.shards.has(id)
      if (!intact) {
        try {
          await this.shards.put(parseTarget(ref.stripes[stripe][shard]).dir, id, await this.blobs.rebuildShard(ref, stripe, shard))
          this.status.repaired++
        } catch (err) {
          this.log.warn({ err, shard: id, length: stripeSpan(ref, stripe).shardLength }, 's3 heal could not rebuild a shard')
          this.status.failed++
        }
      }
      this.status.checked++
    }
    // Maintenance goes on with compaction: what this pass found forgotten is reclaimed now.
    const compacted = await this.shards.compact()
    if (compacted.segments > 0) this.log.info(compacted, 's3 shard segments compacted')
    this.status = { ...this.status, running: false, passes: this.status.passes + 1, finishedAt: new Date().toISOString() }
  }
}
