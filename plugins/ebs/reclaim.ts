/**
 * Reclaims chunks no block map references any more: overwritten volume blocks, deleted volumes and
 * deleted snapshots leave them behind. Mark and sweep, run by one node of the cluster (the live
 * ebs node with the smallest id) every HIVE_EBS_RECLAIM_INTERVAL_MS (default 10 min; 0 = only on
 * demand):
 *   mark   the chunks referenced by every snapshot map in `_ebs` (`snapshots/…`, chunks.ts), and
 *          by every volume of every node that ever served ebs (ebs.chunks.referenced, which also
 *          names the chunks each node is uploading and the ids it holds but has not handed out).
 *          A node that does not answer stops the pass: its volumes' chunks cannot be told apart.
 *   sweep  a chunk is deleted when it is older than the pass (its id is below the `next` read
 *          before marking), not in any node's unissued range, and was unreferenced in the
 *          previous pass too: the second look covers a snapshot map that was being written
 *          while the first pass marked.
 */
import type { Hive } from '../../core/index.js'
import { chunksOf, parseBlockMap } from './block-map.js'
import { ID_BUCKET, parseChunkKey, type ChunkStore } from './chunks.js'

const EMPTY = new Uint8Array(0)

export interface ReclaimResult {
  referenced: number
  deleted: number
  suspects: number
}

export class Reclaimer {
  private suspects = new Set<number>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<ReclaimResult> | undefined

  constructor (private readonly hive: Hive, private readonly chunks: ChunkStore) {}

  start (): void {
    void this.register()
    const every = Number(process.env.HIVE_EBS_RECLAIM_INTERVAL_MS ?? 600_000)
    if (every <= 0) return
    this.timer = setInterval(() => { void this.scheduled() }, every)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** One mark-and-sweep pass (a pass already running is joined). */
  async pass (): Promise<ReclaimResult> {
    this.running ??= this.run().finally(() => { this.running = undefined })
    return await this.running
  }

  private async register (): Promise<void> {
    const ids = await this.hive.kv.bucket<string>(ID_BUCKET)
    await ids.create(`node.${this.hive.node.nodeId}`, new Date().toISOString()).catch(() => undefined)
  }

  private async scheduled (): Promise<void> {
    const nodes = (await this.hive.nodes()).filter(n => n.capabilities.includes('ebs')).map(n => n.nodeId).sort()
    if (nodes[0] !== this.hive.node.nodeId) return
    await this.pass().catch(err => { this.hive.log.warn({ err }, 'reclaiming ebs chunks failed; the next pass retries') })
  }

  private async run (): Promise<ReclaimResult> {
    const ids = await this.hive.kv.bucket<number | string>(ID_BUCKET)
    const watermark = Number((await ids.get('next'))?.value ?? 1)
    const referenced = new Set<number>()
    const unissued: Array<[number, number]> = []
    const holders = (await ids.keys('node.')).map(k => k.slice('node.'.length))
    await Promise.all(holders.map(async nodeId => {
      const got = await this.hive.bus.callNode(nodeId, 'ebs.chunks.referenced', { data: EMPTY })
      const answer = JSON.parse(Buffer.from(got.data).toString()) as { chunks: number[], unissued: [number, number] }
      for (const c of answer.chunks) referenced.add(c)
      unissued.push(answer.unissued)
    }))
    for await (const key of this.chunks.keys('snapshots/')) {
      const map = await this.chunks.getObject(key)
      if (map !== undefined) chunksOf(parseBlockMap(map), referenced)
    }
    const unreferenced = new Set<number>()
    for await (const key of this.chunks.keys('chunks/')) {
      const parsed = parseChunkKey(key)
      if (parsed === undefined || referenced.has(parsed.chunk) || parsed.chunk >= watermark) continue
      if (unissued.some(([from, to]) => parsed.chunk >= from && parsed.chunk < to)) continue
      unreferenced.add(parsed.chunk)
      if (this.suspects.has(parsed.chunk)) await this.chunks.deleteObject(key)
    }
    const deleted = [...unreferenced].filter(c => this.suspects.has(c)).length
    this.suspects = new Set([...unreferenced].filter(c => !this.suspects.has(c)))
    return { referenced: referenced.size, deleted, suspects: this.suspects.size }
  }
}
