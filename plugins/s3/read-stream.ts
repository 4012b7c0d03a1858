/**
 * The body of a large GET: its stripes read ahead and sent as views of their data shards.
 *
 * Read or iterated (an internal caller collecting an object), it yields views of shards read the usual
 * way, each a fresh buffer. Piped, as fastify sends a reply, it writes to the response itself and
 * reads this node's shards into pooled buffers (ShardBuffers), each given back by the callback of the
 * socket write that sent its last byte. Readable's own pipe cannot say when a chunk has left, and
 * without reuse a 64 MiB GET leaves 64 MiB of shard buffers for the garbage collector, which then
 * runs a full collection per GET.
 */
import { ServerResponse } from 'node:http'
import { Readable, type Writable } from 'node:stream'

/** One stripe's part of the body: its views, and the pooled buffers they lie in (none if not pooled). */
export interface StripeChunk {
  views: Buffer[]
  pooled: Buffer[]
}

/** Reads stripe `i` of the body; `pooled`: into buffers of the pool where it can. */
export type ReadStripe = (i: number, pooled: boolean) => Promise<StripeChunk>

/** Stripes read ahead of the one being sent. */
const STRIPES_AHEAD = 16
/** Shard buffers kept for the next GETs: the read-ahead of two GETs at one shard per stripe. */
const SPARE_BUFFERS = 2 * STRIPES_AHEAD

/** Buffers large GETs read local shards into, reused from one GET to the next. */
export class ShardBuffers {
  private readonly spare: Buffer[] = []

  constructor (private readonly bytes: number) {}

  take (bytes: number): Buffer {
    const b = this.spare.pop()
    if (b !== undefined && b.length >= bytes) return b
    return Buffer.allocUnsafeSlow(Math.max(bytes, this.bytes))
  }

  /** Only once nothing refers to `b` any more: its next GET overwrites it. */
  give (b: Buffer): void {
    if (this.spare.length < SPARE_BUFFERS && b.length >= this.bytes) this.spare.push(b)
  }
}

/** The read-ahead: stripes in order, STRIPES_AHEAD of them under way. */
class StripeReads {
  private readonly ahead: Array<Promise<StripeChunk>> = []
  private next: number

  constructor (private readonly count: number, private readonly read: ReadStripe, private first: StripeChunk | undefined) {
    this.next = first === undefined ? 0 : 1
  }

  /** The next stripe, or null past the last; reads ahead in `pooled` mode. */
  async take (pooled: boolean): Promise<StripeChunk | null> {
    const first = this.first
    this.first = undefined
    this.fill(pooled)
    if (first !== undefined) return first
    return await (this.ahead.shift() ?? null)
  }

  /** Hands the buffers of reads nobody will take to `give`, once those reads are done with them. */
  abandon (give: (b: Buffer) => void): void {
    for (const p of this.ahead.splice(0)) p.then(c => { c.pooled.forEach(give) }, () => {})
    this.next = this.count
  }

  private fill (pooled: boolean): void {
    while (this.ahead.length < STRIPES_AHEAD && this.next < this.count) {
      const p = this.read(this.next++, pooled)
      p.catch(() => {})
      this.ahead.push(p)
    }
  }
}

export class StripeStream extends Readable {
  private readonly reads: StripeReads
  private reading = false

  /** `first`: stripe 0, read already so that an object that cannot be read fails before the reply starts. */
  constructor (count: number, read: ReadStripe, first: StripeChunk | undefined, private readonly buffers: ShardBuffers) {
    super()
    this.reads = new StripeReads(count, read, first)
  }

  override _read (): void {
    if (this.reading) return
    this.reading = true
    this.reads.take(false).then(chunk => {
      this.reading = false
      if (chunk === null) {
        this.push(null)
        return
      }
      for (const v of chunk.views) this.push(v)
    }, err => { this.destroy(err) })
  }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    this.reads.abandon(b => { this.buffers.give(b) })
    callback(err)
  }

  override pipe<T extends NodeJS.WritableStream> (destination: T, options?: { end?: boolean }): T {
    // Only a response's write callback means the socket is done with the bytes: a PassThrough's, say,
    // comes while it still holds them.
    if (!(destination instanceof ServerResponse)) return super.pipe(destination, options)
    void this.send(destination, options?.end !== false)
    return destination
  }

  /** Writes every stripe to `dest`, giving each pooled buffer back once the write that sent it is done. */
  private async send (dest: Writable, end: boolean): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.reads.take(true)
        if (chunk === null) break
        if (this.destroyed || dest.destroyed) {
          chunk.pooled.forEach(b => { this.buffers.give(b) })
          return
        }
        // Writes complete in order, so the chunk's last write done means all of its buffers are free.
        // A write whose callback never comes (its socket was destroyed first) leaves them to the GC.
        const release = (): void => { chunk.pooled.forEach(b => { this.buffers.give(b) }) }
        if (chunk.views.length === 0) release()
        let room = true
        chunk.views.forEach((v, i) => { room = dest.write(v, i === chunk.views.length - 1 ? release : undefined) })
        if (!room) await drained(dest)
      }
      // Abandoned (the reply closed early): the response is not ours to end.
      if (this.destroyed) return
      if (end && !dest.destroyed) dest.end()
      // What eos (fastify's watch on the payload) takes for the end of the body.
      this.push(null)
      this.resume()
    } catch (err) {
      this.destroy(err as Error)
    }
  }
}

/** Resolves when `dest` can take more, or will never (it closed or failed). */
async function drained (dest: Writable): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => {
      dest.off('drain', done)
      dest.off('close', done)
      dest.off('error', done)
      resolve()
    }
    dest.on('drain', done)
    dest.on('close', done)
    dest.on('error', done)
  })
}
