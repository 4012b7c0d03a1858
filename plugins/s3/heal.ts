/**
 * Heal: every s3 node rebuilds its own missing and corrupt shards. A pass walks every blob the
 * catalog references (objects and parts of open uploads); for each stripe with a shard placed on
 * this node, it checks the shard is held — and, in a deep pass, that it reads back with intact
 * CRCs — and otherwise reads any k shards of the stripe, reconstructs the lost one and stores it.
 * A node back from an outage thus catches up on the stripes written while it was down.
 *
 * A pass also frees this node's orphan shards (collectOrphans) and ends with a compaction of its
 * shard logs (shards.ts).
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
  /** Orphan shards freed by this pass. */
  collected: number
  passes: number
  startedAt?: string
  finishedAt?: string
}

/** 0: no passes but those asked for (tests that need a quiet store). */
const HEAL_INTERVAL_MS = Number(process.env.HIVE_S3_HEAL_INTERVAL_MS ?? 60_000)
const DEEP_EVERY = 10
/** How long a shard must stay unreferenced to be an orphan (HIVE_S3_ORPHAN_AGE_MS; tests use 0). */
const ORPHAN_AGE_MS = Number(process.env.HIVE_S3_ORPHAN_AGE_MS ?? 60 * 60_000)

export class Healer {
  private status: HealStatus
  private timer: NodeJS.Timeout | undefined
  private pass: Promise<void> | undefined
  private closed = false
  /** Shards seen unreferenced by the catalog, and since when (ms). */
  private unreferencedSince = new Map<string, number>()

  constructor (
    private readonly nodeId: string,
    private readonly catalog: Catalog,
    private readonly blobs: BlobStore,
    private readonly shards: ShardStore,
    private readonly log: Logger
  ) {
    this.status = { nodeId, running: false, deep: false, checked: 0, total: 0, repaired: 0, failed: 0, collected: 0, passes: 0 }
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

  /**
   * Frees the shards this node holds that no blob of the catalog places here, once they have stayed
   * so for ORPHAN_AGE_MS: a PUT writes its shards before it commits its record, so a shard is not
   * an orphan until it has been unreferenced for longer than any PUT takes. Orphans come from PUTs
   * that failed before their commit and frees that never ran (a node down, or stopped in the grace).
   */
  private collectOrphans (referenced: Set<string>): void {
    const now = Date.now()
    const orphans: string[] = []
    const seen = new Map<string, number>()
    for (const id of this.shards.ids()) {
      if (referenced.has(id)) continue
      const since = this.unreferencedSince.get(id) ?? now
      if (now - since >= ORPHAN_AGE_MS && this.unreferencedSince.has(id)) orphans.push(id)
      else seen.set(id, since)
    }
    this.unreferencedSince = seen
    if (orphans.length === 0) return
    this.status.collected += orphans.length
    this.shards.free(orphans).catch(err => { this.log.warn({ err }, 's3 heal could not free orphan shards') })
  }

  private async heal (deep: boolean): Promise<void> {
    this.status = { ...this.status, running: true, deep, checked: 0, total: 0, repaired: 0, failed: 0, collected: 0, startedAt: new Date().toISOString() }
    delete this.status.finishedAt
    const mine: Array<{ ref: BlobRef, stripe: number, shard: number }> = []
    for await (const ref of this.catalog.blobs()) {
      ref.stripes.forEach((targets, s) => targets.forEach((t, i) => {
        if (parseTarget(t).nodeId === this.nodeId) mine.push({ ref, stripe: s, shard: i })
      }))
    }
    this.status.total = mine.length
    this.collectOrphans(new Set(mine.map(x => shardId(x.ref.id, x.stripe, x.shard))))
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
