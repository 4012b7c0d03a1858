/**
 * Chunks: the immutable objects that hold volume blocks once they leave a volume's WAL, stored
 * through the s3 capability's internal API (plugins/s3/internal.ts) in its reserved bucket `_ebs`.
 *
 * Objects in `_ebs`
 *   chunks/<id>.<part>      A chunk's slots 1024·part … 1024·part + 1023, 4 KiB each, back to back
 *                           (so a part is at most 4 MiB and fits a bus message). <id>: 13 lowercase
 *                           hex digits, <part>: decimal. A block map entry (chunk, slot) names
 *                           byte 4096·(slot mod 1024) of part ⌊slot / 1024⌋.
 *   snapshots/<snap-id>.map A snapshot's frozen block map (block-map.ts).
 *
 * KV bucket hive_ebs_chunk_ids
 *   next                    The first chunk id no node has taken yet. A node takes ids in runs of
 *                           ID_RUN by compare-and-set, so ids are unique in the cluster and grow
 *                           over time (reclaim relies on that: see reclaim.ts).
 *   node.<nodeId>           The time that node first served ebs: every node listed here may hold
 *                           volumes whose maps reference chunks, so reclaim must hear from it.
 */
import type { Bus, KvStore } from '../../core/index.js'
import { kvBucketName } from '../../core/index.js'

export const BUCKET = '_ebs'
export const ID_BUCKET = kvBucketName('ebs', 'chunk_ids')
export const BLOCK = 4096
export const PART_SLOTS = 1024
const ID_RUN = 256

const EMPTY = new Uint8Array(0)

export function chunkKey (chunk: number, part: number): string {
  return `chunks/${chunk.toString(16).padStart(13, '0')}.${part}`
}

export function parseChunkKey (key: string): { chunk: number, part: number } | undefined {
  const m = /^chunks\/([0-9a-f]{13})\.(\d+)$/.exec(key)
  return m === null ? undefined : { chunk: parseInt(m[1], 16), part: Number(m[2]) }
}

export function snapshotMapKey (snapshotId: string): string {
  return `snapshots/${snapshotId}.map`
}

export class ChunkStore {
  private ids = { next: 0, end: 0 }
  private taking: Promise<void> | undefined
  private readonly inFlight = new Map<string, Promise<Uint8Array | undefined>>()

  constructor (private readonly bus: Bus, private readonly kv: KvStore) {}

  /** A chunk id no other writer in the cluster will ever use. */
  async newId (): Promise<number> {
    while (this.ids.next === this.ids.end) {
      this.taking ??= this.takeRun().finally(() => { this.taking = undefined })
      await this.taking
    }
    return this.ids.next++
  }

  /** Ids of this node's current run not handed out yet: [from, to). */
  unissued (): [number, number] {
    return [this.ids.next, this.ids.end]
  }

  private async takeRun (): Promise<void> {
    const bucket = await this.kv.bucket<number>(ID_BUCKET)
    let first = 1
    await bucket.modify('next', current => {
      first = current ?? 1
      return first + ID_RUN
    })
    this.ids = { next: first, end: first + ID_RUN }
  }

  /** Stores a new chunk: `data` is its slots from 0 on. Resolves once every part is durable. */
  async put (chunk: number, data: Uint8Array): Promise<void> {
    const partBytes = PART_SLOTS * BLOCK
    const puts: Array<Promise<unknown>> = []
    for (let part = 0; part * partBytes < data.length; part++) {
      const body = data.subarray(part * partBytes, Math.min(data.length, (part + 1) * partBytes))
      puts.push(this.putObject(chunkKey(chunk, part), body))
    }
    await Promise.all(puts)
  }

  /** Slots [slot, slot + count) of `chunk`, read part by part. */
  async read (chunk: number, slot: number, count: number): Promise<Buffer> {
    const parts: Array<Promise<Buffer>> = []
    for (let from = slot; from < slot + count;) {
      const start = from
      const end = Math.min(slot + count, (Math.floor(start / PART_SLOTS) + 1) * PART_SLOTS)
      parts.push(this.readPart(chunk, start, end).then(data => {
        if (data.length !== (end - start) * BLOCK) throw new Error(`chunk ${chunk} slots ${start}–${end - 1} are missing or short`)
        return data
      }))
      from = end
    }
    const got = await Promise.all(parts)
    return got.length === 1 ? got[0] : Buffer.concat(got)
  }

  /**
   * Slots [slot, end) of `chunk`, all in one part, or as many of them as the chunk has: read-ahead
   * asks past a chunk's last slot, not knowing where the chunk ends. Throws when the part is missing.
   */
  async readPart (chunk: number, slot: number, end: number): Promise<Buffer> {
    const part = Math.floor(slot / PART_SLOTS)
    const data = await this.getObject(chunkKey(chunk, part), (slot - part * PART_SLOTS) * BLOCK, (end - part * PART_SLOTS) * BLOCK)
    if (data === undefined) throw new Error(`chunk ${chunk} part ${part} is missing`)
    return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length)
  }

  async putObject (key: string, data: Uint8Array): Promise<void> {
    await this.bus.callInternal('s3.object.put', { data, headers: { bucket: BUCKET, key } })
  }

  /**
   * One fetch for concurrent reads of the same range: volumes made from one snapshot (fifty
   * instances of one AMI booting) read the same windows of the same chunks at the same moment.
   */
  async getObject (key: string, start?: number, end?: number): Promise<Uint8Array | undefined> {
    const flight = `${key}:${start ?? ''}:${end ?? ''}`
    let got = this.inFlight.get(flight)
    if (got === undefined) {
      got = this.fetchObject(key, start, end).finally(() => this.inFlight.delete(flight))
      this.inFlight.set(flight, got)
    }
    return await got
  }

  private async fetchObject (key: string, start?: number, end?: number): Promise<Uint8Array | undefined> {
    const headers: Record<string, string> = { bucket: BUCKET, key }
    if (start !== undefined) headers.start = String(start)
    if (end !== undefined) headers.end = String(end)
    const got = await this.bus.callInternal('s3.object.get', { data: EMPTY, headers })
    return got.headers?.state === 'missing' ? undefined : got.data
  }

  async deleteObject (key: string): Promise<void> {
    await this.bus.callInternal('s3.object.delete', { data: EMPTY, headers: { bucket: BUCKET, key } })
  }

  /** Every key under `prefix`, in order. */
  async * keys (prefix: string): AsyncGenerator<string> {
    let after: string | undefined
    for (;;) {
      const headers: Record<string, string> = { bucket: BUCKET, prefix }
      if (after !== undefined) headers.after = after
      const got = await this.bus.callInternal('s3.object.list', { data: EMPTY, headers })
      const page = JSON.parse(Buffer.from(got.data).toString()) as Array<{ key: string }>
      for (const o of page) yield o.key
      if (page.length < 1000) return
      after = page[page.length - 1].key
    }
  }
}
