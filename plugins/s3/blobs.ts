/**
 * BlobStore: the bytes of objects and parts, cut into stripes and erasure-coded across the cluster.
 *
 * A blob is one PUT's body (or one part's). It is cut into stripes of k × shardSize data bytes (the
 * last one shorter); each stripe is Reed-Solomon encoded (core ReedSolomon) into k data and m parity
 * shards of ceil(stripeLength / k) bytes (the last data shard zero-padded), and the ring (ring.ts)
 * places the k + m shards of a stripe on distinct targets — nodes, or data directories of one node
 * when there are fewer nodes than shards. Shard `i` of stripe `s` of blob `id` is named
 * `<id>.<s>.<i>` (ShardId) and lives in its target's ShardStore (shards.ts).
 *
 * A put is durable when every stripe has a write quorum of shards acknowledged (k, or k + 1 when
 * k == m, so two halves of a split cluster cannot both accept writes); shards that could not be
 * written are rebuilt later by heal. A read needs any k intact shards of each stripe it touches:
 * data shards first, parity only when one is missing or fails its CRC.
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { AwsError, inParallel, NodeCallError, ReedSolomon, type Bus } from '../../core/index.js'
import { ShardBuffers, StripeStream, type StripeChunk } from './read-stream.js'
import { parseTarget, type Ring, type Target } from './ring.js'
import type { ShardRead } from './shards.js'

export interface BlobRef {
  /** Random, cluster-unique. */
  id: string
  /** Data bytes. */
  size: number
  k: number
  m: number
  /** Shard length of every full stripe; a stripe holds k × shardSize data bytes. */
  shardSize: number
  /** Per stripe, the k + m targets (`<nodeId>/<dir index>`) its shards were placed on, by shard index. */
  stripes: string[][]
}

const BLOB_ID_BYTES = 12
let idPool = { bytes: Buffer.alloc(0), at: 0 }

/**
 * 96 random bits as 24 hex digits, drawn from a pooled buffer: a randomBytes call per blob took
 * 1.7% of the event loop under small PUTs.
 */
function newBlobId (): string {
  if (idPool.at + BLOB_ID_BYTES > idPool.bytes.length) idPool = { bytes: randomBytes(BLOB_ID_BYTES * 256), at: 0 }
  const id = idPool.bytes.toString('hex', idPool.at, idPool.at + BLOB_ID_BYTES)
  idPool.at += BLOB_ID_BYTES
  return id
}

/** Shards per stripe are at most this long: a whole stripe of a 2+1 code is 2 MiB of data. */
const MAX_SHARD = 1024 * 1024
/**
 * Stripes of one blob in flight at once. A PUT's body is in memory already and its data shards are
 * views of it, so writes may all be under way at once (only parity is allocated): the WAL threads
 * write while the event loop hashes the body. Reads allocate every shard they fetch: fewer.
 */
const PUT_STRIPES_IN_FLIGHT = 64
const READ_STRIPES_IN_FLIGHT = 16
/** Stripes of a streamed body being written at once: what a streamed PUT holds in memory. */
const STREAM_STRIPES_IN_FLIGHT = 8
/** Stripe buffers kept for the next streamed PUTs: a few PUTs' worth in flight. */
const SPARE_STRIPES = 4 * STREAM_STRIPES_IN_FLIGHT

/** HIVE_S3_FREE_GRACE_MS: 0 frees at once (tests that measure reclaimed space). */
const FREE_GRACE_MS = Number(process.env.HIVE_S3_FREE_GRACE_MS ?? 30_000)

export interface Code { k: number, m: number }

/** This node's shards, read without the bus, into a buffer `room(bytes)` gives (shards.ts). */
export interface LocalShards {
  nodeId: string
  get: (id: string, room: (bytes: number) => Buffer) => Promise<ShardRead>
}

/** `2+1` → { k: 2, m: 1 }. */
export function parseCode (s: string): Code {
  const m = /^(\d+)\+(\d+)$/.exec(s.trim())
  const code = m === null ? undefined : { k: Number(m[1]), m: Number(m[2]) }
  if (code === undefined || code.k < 1 || code.m < 0 || code.k + code.m > 255) throw new Error(`--s3-code wants K+M with K ≥ 1 and K+M ≤ 255, got '${s}'`)
  return code
}

/** Shards that must be durable for a stripe's write to count (the write quorum). */
export function writeQuorum (k: number, m: number): number {
  return k + (k === m ? 1 : 0)
}

export function shardId (blob: string, stripe: number, shard: number): string {
  return `${blob}.${stripe}.${shard}`
}

/** Where a stripe's data starts in its blob and how long it is. */
export function stripeSpan (ref: BlobRef, s: number): { start: number, length: number, shardLength: number } {
  const full = ref.k * ref.shardSize
  const start = s * full
  const length = Math.min(full, ref.size - start)
  return { start, length, shardLength: Math.ceil(length / ref.k) }
}

const unavailable = (what: string): AwsError => new AwsError('ServiceUnavailable', `Not enough s3 nodes are reachable to ${what}; retry later.`, 503)

export class BlobStore {
  private readonly codecs = new Map<string, ReedSolomon>()

  private readonly readBuffers = new ShardBuffers(MAX_SHARD + 64 * 1024)

  /** `local`: this node's ShardStore, which large GETs read without the bus. */
  constructor (private readonly bus: Bus, private readonly ring: Ring, private readonly code: () => Code, private readonly local?: LocalShards) {}

  /** Stores `body` as one blob; resolves once every stripe has its write quorum durable. */
  async put (body: Uint8Array): Promise<BlobRef> {
    const { k, m } = this.code()
    const shardSize = Math.min(MAX_SHARD, Math.max(4096, this.bus.maxPayload - 64 * 1024))
    const ref: BlobRef = { id: newBlobId(), size: body.length, k, m, shardSize, stripes: [] }
    const count = Math.ceil(body.length / (k * shardSize))
    ref.stripes = new Array<string[]>(count)
    await inParallel(count, PUT_STRIPES_IN_FLIGHT, async s => {
      const { start, length } = stripeSpan(ref, s)
      ref.stripes[s] = await this.putStripe(ref, s, body.subarray(start, start + length))
    })
    return ref
  }

  /**
   * Stores a body that is still arriving as one blob: each stripe is written as soon as it is
   * filled, and at most STREAM_STRIPES_IN_FLIGHT stripes are held at once — reading waits for a
   * write to finish. `onStripe` sees each stripe's bytes, in order, on a SharedArrayBuffer (for
   * hashing on another thread: md5-worker.ts), which is reused once it resolves and the stripe is
   * durable. A failure of the source or of a write frees what was written and rethrows.
   */
  async putStream (source: AsyncIterable<Uint8Array>, onStripe: (stripe: Uint8Array) => Promise<void>): Promise<BlobRef> {
    const { k, m } = this.code()
    const shardSize = Math.min(MAX_SHARD, Math.max(4096, this.bus.maxPayload - 64 * 1024))
    const ref: BlobRef = { id: newBlobId(), size: 0, k, m, shardSize, stripes: [] }
    const stripeBytes = k * shardSize
    const writing = new Set<Promise<void>>()
    let failure: unknown
    let stripe = this.takeStripe(stripeBytes)
    let filled = 0
    const write = (buffer: Buffer, length: number): void => {
      const s = ref.stripes.length
      ref.stripes.push([])
      const data = buffer.subarray(0, length)
      // Settled, not raced: the buffer goes back to the pool only once nothing can still read it.
      const w = Promise.allSettled([onStripe(data), this.putStripe(ref, s, data)]).then(([hashed, stored]) => {
        if (hashed.status === 'rejected') failure ??= hashed.reason
        if (stored.status === 'rejected') failure ??= stored.reason
        else ref.stripes[s] = stored.value
        writing.delete(w)
        this.giveStripe(buffer)
      })
      writing.add(w)
    }
    try {
      for await (const chunk of source) {
        ref.size += chunk.length
        for (let at = 0; at < chunk.length;) {
          const n = Math.min(stripeBytes - filled, chunk.length - at)
          stripe.set(chunk.subarray(at, at + n), filled)
          filled += n
          at += n
          if (filled === stripeBytes) {
            write(stripe, filled)
            stripe = this.takeStripe(stripeBytes)
            filled = 0
          }
        }
        while (writing.size >= STREAM_STRIPES_IN_FLIGHT) await Promise.race(writing)
        if (failure !== undefined) throw failure
      }
      if (filled > 0) write(stripe, filled)
      else this.giveStripe(stripe)
      await Promise.all(writing)
      if (failure !== undefined) throw failure
      return ref
    } catch (e) {
      await Promise.all(writing)
      // Stripes not written have no targets, so nothing of theirs is freed (a half-written one's shards are heal's).
      await this.free([ref]).catch(() => {})
      throw e
    }
  }

  /**
   * Stripe buffers of streamed PUTs, reused once their stripe is hashed and durable (its shards are
   * copied by then: into the WAL's record, or a message to another node that has answered): a
   * 64 MiB PUT would otherwise leave 64 MiB of garbage per PUT for the collector.
   */
  private readonly spareStripes: Buffer[] = []

  private takeStripe (bytes: number): Buffer {
    const spare = this.spareStripes.pop()
    return spare !== undefined && spare.length === bytes ? spare : Buffer.from(new SharedArrayBuffer(bytes))
  }

  private giveStripe (buffer: Buffer): void {
    if (this.spareStripes.length < SPARE_STRIPES) this.spareStripes.push(buffer)
  }

  /** Bytes [start, end) of the concatenation of `blobs` (a multipart object's parts, in order). */
  async read (blobs: BlobRef[], start: number, end: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(Math.max(0, end - start))
    const spans = spansOf(blobs, start, end)
    await inParallel(spans.length, READ_STRIPES_IN_FLIGHT, async i => {
      const { ref, s, from, to, shardLength, at } = spans[i]
      copyFromShards(await this.readStripe(ref, s), shardLength, from, to - from, out, at - start)
    })
    return out
  }

  /**
   * Bytes [start, end) of `blobs` as a stream of the stripes' data shards (views, never copied), read
   * ahead a few stripes: a large GET starts sending at once and holds a few stripes in memory, not the
   * object. The first stripe is read before this resolves, so an object that cannot be read fails as a
   * response, not as a cut connection. Sent as a reply, this node's shards are read into reused
   * buffers (read-stream.ts).
   */
  async stream (blobs: BlobRef[], start: number, end: number): Promise<Readable> {
    const spans = spansOf(blobs, start, end)
    const read = async (i: number, pooled: boolean): Promise<StripeChunk> => {
      const { ref, s, from, to, shardLength } = spans[i]
      const taken: Buffer[] = []
      const local = pooled ? await this.readLocalStripe(ref, s, shardLength, taken) : undefined
      return { views: shardViews(local ?? await this.readStripe(ref, s), shardLength, from, to - from), pooled: local === undefined ? [] : taken }
    }
    const first = spans.length === 0 ? undefined : await read(0, false)
    return new StripeStream(spans.length, read, first, this.readBuffers)
  }

  /**
   * The data shards of stripe `s` read from this node's ShardStore into pooled buffers (pushed onto
   * `taken`), when they are all here and intact; else undefined, the buffers given back, and the
   * stripe is for readStripe (other nodes, parity, repair).
   */
  private async readLocalStripe (ref: BlobRef, s: number, shardLength: number, taken: Buffer[]): Promise<Uint8Array[] | undefined> {
    const local = this.local
    const targets = ref.stripes[s]
    if (local === undefined || targets.slice(0, ref.k).some(t => parseTarget(t).nodeId !== local.nodeId)) return undefined
    const room = (bytes: number): Buffer => {
      const b = this.readBuffers.take(bytes)
      taken.push(b)
      return b
    }
    const shards = await Promise.all(Array.from({ length: ref.k }, async (_, i) => await local.get(shardId(ref.id, s, i), room).catch(() => 'missing' as const)))
    if (shards.every(x => typeof x !== 'string' && x.length === shardLength)) return shards as Uint8Array[]
    for (const b of taken.splice(0)) this.readBuffers.give(b)
    return undefined
  }

  /**
   * Releases the shards of blobs no object references any more, after FREE_GRACE_MS: a GET that read
   * the old record a moment before an overwrite or delete still finds its shards. Best effort: a
   * free that never runs (the node stops first) leaves orphans, not missing data.
   */
  async free (blobs: BlobRef[]): Promise<void> {
    if (FREE_GRACE_MS > 0) {
      setTimeout(() => { this.release(blobs).catch(() => {}) }, FREE_GRACE_MS).unref()
      return
    }
    await this.release(blobs)
  }

  private async release (blobs: BlobRef[]): Promise<void> {
    const byNode = new Map<string, string[]>()
    for (const ref of blobs) {
      ref.stripes.forEach((targets, s) => targets.forEach((t, i) => {
        const { nodeId } = parseTarget(t)
        const ids = byNode.get(nodeId) ?? []
        ids.push(shardId(ref.id, s, i))
        byNode.set(nodeId, ids)
      }))
    }
    await Promise.all([...byNode].map(async ([nodeId, ids]) => {
      await this.bus.callNode(nodeId, 's3.shard.free', { data: Buffer.from(JSON.stringify(ids)) })
    }))
  }

  /** Every shard of a stripe, read from its target: data first, parity only when something is missing. */
  async readStripe (ref: BlobRef, s: number): Promise<Uint8Array[]> {
    const { shardLength } = stripeSpan(ref, s)
    const targets = ref.stripes[s]
    const shards: Array<Uint8Array | undefined> = new Array(ref.k + ref.m).fill(undefined)
    const fetch = async (i: number): Promise<void> => { shards[i] = await this.getShard(targets[i], shardId(ref.id, s, i), shardLength) }
    await Promise.all(Array.from({ length: ref.k }, async (_, i) => { await fetch(i) }))
    const lost = shards.slice(0, ref.k).filter(x => x === undefined).length
    if (lost === 0) return shards as Uint8Array[]
    await Promise.all(Array.from({ length: ref.m }, async (_, j) => { await fetch(ref.k + j) }))
    const present = shards.map(x => x !== undefined)
    if (present.filter(Boolean).length < ref.k) throw unavailable('read this object')
    const full = shards.map(x => x ?? Buffer.alloc(shardLength))
    await this.codec(ref.k, ref.m).reconstruct(full, present)
    // Read repair: a shard lost on a node that answers is rewritten now, not at the next heal pass.
    present.forEach((ok, i) => {
      if (!ok) void this.putShard(targets[i], shardId(ref.id, s, i), full[i]).catch(() => false)
    })
    return full
  }

  /** Shard `i` of stripe `s` rebuilt from the others (for heal: its own copy is missing or corrupt). */
  async rebuildShard (ref: BlobRef, s: number, i: number): Promise<Uint8Array> {
    const { shardLength } = stripeSpan(ref, s)
    const targets = ref.stripes[s]
    const shards = await Promise.all(targets.map(async (t, j) => j === i ? undefined : await this.getShard(t, shardId(ref.id, s, j), shardLength)))
    const present = shards.map(x => x !== undefined)
    if (present.filter(Boolean).length < ref.k) throw unavailable('rebuild a shard')
    const full = shards.map(x => x ?? Buffer.alloc(shardLength))
    if (ref.m > 0) await this.codec(ref.k, ref.m).reconstruct(full, present)
    return full[i]
  }

  /** One shard, or undefined when its target is unreachable, lacks it, or holds a corrupt copy. */
  async getShard (t: Target, id: string, length: number): Promise<Uint8Array | undefined> {
    const { nodeId } = parseTarget(t)
    try {
      const r = await this.bus.callNode(nodeId, 's3.shard.get', { data: new Uint8Array(0), headers: { id } })
      if (r.headers?.state !== undefined || r.data.length !== length) return undefined
      return r.data
    } catch (e) {
      if (e instanceof NodeCallError) return undefined
      throw e
    }
  }

  /** Writes one shard to its target; false when the target could not take it. */
  async putShard (t: Target, id: string, data: Uint8Array): Promise<boolean> {
    const { nodeId, dir } = parseTarget(t)
    try {
      await this.bus.callNode(nodeId, 's3.shard.put', { data, headers: { id, dir: String(dir) } })
      return true
    } catch (e) {
      if (e instanceof NodeCallError) return false
      throw e
    }
  }

  codec (k: number, m: number): ReedSolomon {
    const key = `${k}+${m}`
    let c = this.codecs.get(key)
    if (c === undefined) {
      c = new ReedSolomon(k, m)
      this.codecs.set(key, c)
    }
    return c
  }

  /** Codes and writes stripe `s`, whose data bytes are `stripe`; resolves to the targets of its shards. */
  private async putStripe (ref: BlobRef, s: number, stripe: Uint8Array): Promise<string[]> {
    const { k, m } = ref
    const shardLength = Math.ceil(stripe.length / k)
    const data: Uint8Array[] = []
    for (let i = 0; i < k; i++) {
      const a = i * shardLength
      const b = Math.min(stripe.length, a + shardLength)
      if (b - a === shardLength) {
        data.push(stripe.subarray(a, b))
      } else {
        // The stripe's tail: zero-padded to the shard length (the padding is never returned).
        const padded = Buffer.alloc(shardLength)
        if (b > a) padded.set(stripe.subarray(a, b))
        data.push(padded)
      }
    }
    const parity = Array.from({ length: m }, () => Buffer.allocUnsafe(shardLength))
    if (m > 0) await this.codec(k, m).encode(data, parity)
    const targets = this.ring.place(shardId(ref.id, s, 0), k + m)
    const shards = [...data, ...parity]
    const ok = await Promise.all(shards.map(async (shard, i) => await this.putShard(targets[i], shardId(ref.id, s, i), shard)))
    if (ok.filter(Boolean).length < writeQuorum(k, m)) throw unavailable('store this object durably')
    return targets
  }
}

/**
 * The stripes of `blobs` that hold bytes [start, end) of their concatenation: for each, the part
 * of the stripe wanted ([from, to) within it) and where that part starts in the concatenation (`at`).
 */
function spansOf (blobs: BlobRef[], start: number, end: number): Array<{ ref: BlobRef, s: number, from: number, to: number, shardLength: number, at: number }> {
  const spans = []
  let base = 0
  for (const ref of blobs) {
    for (let s = 0; s < ref.stripes.length; s++) {
      const span = stripeSpan(ref, s)
      const a = base + span.start
      const b = a + span.length
      if (b > start && a < end) spans.push({ ref, s, from: Math.max(start, a) - a, to: Math.min(end, b) - a, shardLength: span.shardLength, at: Math.max(start, a) })
    }
    base += ref.size
  }
  return spans
}

/** Views of `length` data bytes from offset `at` of a stripe whose data shards are `shardLength` long. */
function shardViews (shards: Uint8Array[], shardLength: number, at: number, length: number): Buffer[] {
  const views: Buffer[] = []
  for (let done = 0; done < length;) {
    const pos = at + done
    const i = Math.floor(pos / shardLength)
    const off = pos - i * shardLength
    const n = Math.min(shardLength - off, length - done)
    const shard = shards[i]
    views.push(Buffer.from(shard.buffer, shard.byteOffset + off, n))
    done += n
  }
  return views
}

/** Copies `length` data bytes from offset `at` of a stripe whose data shards are `shardLength` long. */
function copyFromShards (shards: Uint8Array[], shardLength: number, at: number, length: number, out: Buffer, outAt: number): void {
  let done = 0
  while (done < length) {
    const pos = at + done
    const i = Math.floor(pos / shardLength)
    const off = pos - i * shardLength
    const n = Math.min(shardLength - off, length - done)
    out.set(shards[i].subarray(off, off + n), outAt + done)
    done += n
  }
}
