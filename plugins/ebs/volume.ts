/**
 * One volume on its home node: the native block store (WAL, dirty blocks, block map, cache) plus
 * the policy around it — when dirty blocks are packed into chunks and sent to the store, how far
 * writers may run ahead of that, how chunk slots are fetched on cache misses (whole windows, one
 * fetch however many reads wait for it, read-ahead for sequential readers), and freezing a
 * snapshot's map.
 *
 * Files in the volume's directory
 *   volume.json   { volumeId, size }: the size in bytes, rewritten (atomically) on growth.
 *   wal/, checkpoint   the native block store's (native/src/block_map_format.h).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { BlockStore, type BlockStoreStats, type BlockStoreTake } from '../../core/index.js'
import { extentsOf, overlay, parseBlockMap, serializeBlockMap, UNMAPPED, type Extent } from './block-map.js'
import { BLOCK, PART_SLOTS, type ChunkStore } from './chunks.js'
import type { BlockDevice } from './nbd.js'

/** Dirty bytes past which writers wait for the flusher: bounds memory and crash-replay time. */
const HIGH_WATER = 64 << 20
/**
 * Uploads in flight per volume. An upload waits mostly on the store's durable writes, and several
 * share its group commits; each holds its chunk's bytes (4 MiB) until it is stored.
 */
const UPLOADS = 4
/** A partly filled chunk is flushed once writes have paused this long. */
const IDLE_FLUSH_MS = 1000
/**
 * Checkpoints of the map at most this often: each one encodes the whole map, which a randomly
 * written volume makes long. Until the next, the WAL keeps what the map already says.
 */
const CHECKPOINT_MS = 500
/**
 * Chunk slots are fetched in aligned windows of this many (256 KiB), never less: the blocks around
 * a miss are what a sequential reader asks for next, and one ranged get costs about as much.
 */
const WINDOW_SLOTS = 64
/**
 * A sequential reader has up to this much of the volume beyond it fetched, or being fetched (at most
 * a quarter of the cache, which must still hold it when the reader gets there).
 */
const READ_AHEAD_BYTES = 8 << 20
/** Read-ahead looks at the volume in aligned steps of this many blocks: a chunk part, when chunks lie in order. */
const READ_AHEAD_STEP = PART_SLOTS
/** Readers tracked at once, to tell sequential ones (each may have READ_AHEAD_BYTES coming). */
const STREAMS = 4

export interface VolumeOptions {
  cacheBytes: number
  log: Logger
}

/** A reader: where its next read should start and how far read-ahead has reached. */
interface Stream {
  next: number
  ahead: number
  /** Reads that continued its run; 0: it is one read so far, maybe random. */
  reads: number
}

/** Slots [first, …) of a chunk being fetched; every window it covers maps to it in `fetching`. */
interface Fetch {
  first: number
  data: Promise<Buffer>
}

export class Volume implements BlockDevice {
  private uploads = 0
  private inFlightBlocks = 0
  private idle: NodeJS.Timeout | undefined
  private lastWrite = 0
  /**
   * Dirty blocks and bytes as of the last store.stats(), plus every block written since: never
   * below the truth, so the write path asks the store only when a limit may have been reached.
   */
  private dirtyBlocksAtMost = 0
  private dirtyBytesAtMost = 0
  private checkpointTimer: NodeJS.Timeout | undefined
  private lastCheckpoint = 0
  private waiters: Array<() => void> = []
  private checkpointing: Promise<void> | undefined
  private checkpointAgain = false
  private failures = 0
  private closed = false
  private closing: Promise<void> | undefined
  private drainWanted = true
  /** Chunk ids taken for uploads not yet committed to the map. */
  private readonly uploading = new Set<number>()
  /** Fetches in flight by `<chunk>/<window>`: a miss on a window already coming waits for it. */
  private readonly fetching = new Map<string, Fetch>()
  /** Most recent first. */
  private streams: Stream[] = []
  /** Where read-ahead's store.read puts the blocks that are there already (and ignores them). */
  private scratch: Buffer | undefined
  private readonly aheadBlocks: number

  private constructor (
    readonly volumeId: string,
    private readonly dir: string,
    private readonly store: BlockStore,
    private bytes: number,
    private readonly chunks: ChunkStore,
    private readonly log: Logger,
    cacheBytes: number
  ) {
    this.aheadBlocks = Math.floor(Math.min(READ_AHEAD_BYTES, cacheBytes / 4) / BLOCK)
  }

  /** Opens the volume in `dir`, creating it with `size` bytes (and `map`, a snapshot's) when new. */
  static open (dir: string, volumeId: string, chunks: ChunkStore, opts: VolumeOptions & { create?: { size: number, map?: Uint8Array } }): Volume {
    const store = BlockStore.open(dir, { cacheBytes: opts.cacheBytes })
    let size: number
    if (opts.create !== undefined) {
      if (opts.create.map !== undefined) store.importMap(opts.create.map)
      size = opts.create.size
      writeMeta(dir, volumeId, size)
    } else {
      size = Volume.sizeIn(dir)
    }
    const v = new Volume(volumeId, dir, store, size, chunks, opts.log, opts.cacheBytes)
    v.measure()
    v.kick()
    return v
  }

  /** The size recorded in an existing volume's directory. */
  static sizeIn (dir: string): number {
    return (JSON.parse(readFileSync(join(dir, 'volume.json'), 'utf8')) as { size: number }).size
  }

  get size (): number {
    return this.bytes
  }

  /** Ready once the new volume's first checkpoint (its imported map, say) is on disk. */
  async persist (): Promise<void> {
    await this.store.checkpoint()
  }

  resize (size: number): void {
    if (size < this.bytes) throw new RangeError('a volume never shrinks')
    writeMeta(this.dir, this.volumeId, size)
    this.bytes = size
  }

  async read (offset: number, length: number): Promise<Uint8Array> {
    const first = offset / BLOCK
    const count = length / BLOCK
    const out = Buffer.allocUnsafe(length)
    const misses = this.store.read(first, count, out)
    const stream = this.follow(first, count)
    if (misses.length > 0) this.startFetches(misses, stream !== undefined)
    if (stream !== undefined) this.readAhead(stream)
    if (misses.length > 0) await this.copyFetched(misses, first, out)
    return out
  }

  async write (offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    if (this.dirtyBytesAtMost >= HIGH_WATER && this.measure().dirtyBytes >= HIGH_WATER) await new Promise<void>(resolve => this.waiters.push(resolve))
    const done = this.store.write(offset / BLOCK, data, fua)
    this.wrote(data.length / BLOCK, data.length)
    await done
  }

  async trim (offset: number, length: number, fua: boolean): Promise<void> {
    const done = this.store.zero(offset / BLOCK, length / BLOCK, fua)
    this.wrote(length / BLOCK, 0)
    await done
  }

  async flush (): Promise<void> {
    await this.store.flush()
  }

  /**
   * The volume's block map as it is now, with every dirty block first packed into a chunk of its
   * own: a snapshot that shares every chunk with the volume and copies only what was dirty.
   */
  async freezeMap (): Promise<Buffer> {
    const taken = this.store.take(1, true)
    const base = parseBlockMap(this.store.exportMap())
    if (taken === null) return serializeBlockMap(base)
    let patch: Extent[] = zeroExtents(taken.zeros)
    try {
      const chunk = await this.storeChunk(taken)
      if (chunk !== undefined) patch = patch.concat(extentsOf(taken.blocks, chunk))
    } catch (e) {
      if (!this.closed) this.store.abandon(taken.id)
      throw e
    }
    this.requestCheckpoint()
    return serializeBlockMap(overlay(base, patch))
  }

  /** The chunks this volume's map references now, and those it is uploading (reclaim must keep both). */
  referencedChunks (into: Set<number>): void {
    for (const e of parseBlockMap(this.store.exportMap())) into.add(e.chunk)
    for (const chunk of this.uploading) into.add(chunk)
  }

  stats (): BlockStoreStats {
    return this.store.stats()
  }

  /**
   * Uploads every dirty block and checkpoints, then closes the store (the WAL keeps anything left).
   * `drain: false` (the volume is being deleted) skips the uploads, and cuts short a drain under way.
   */
  async close ({ drain = true } = {}): Promise<void> {
    if (!drain) this.drainWanted = false
    this.closing ??= this.shut()
    await this.closing
  }

  private async shut (): Promise<void> {
    if (this.drainWanted) {
      while (this.drainWanted && (this.uploads > 0 || this.measure().dirtyBlocks > 0)) {
        this.kick(true)
        await new Promise(resolve => setTimeout(resolve, 20))
        if (this.failures > 3) break
      }
      // A checkpoint waiting out its interval (or asked for while one ran) is taken now.
      while (this.checkpointTimer !== undefined || this.checkpointing !== undefined) {
        if (this.checkpointTimer !== undefined) {
          clearTimeout(this.checkpointTimer)
          this.checkpointTimer = undefined
          this.checkpointNow()
        }
        await this.checkpointing
      }
    }
    this.closed = true
    // Writers held back for room are let go: what they write still reaches the WAL, closed after them.
    for (const w of this.waiters.splice(0)) w()
    clearTimeout(this.idle)
    clearTimeout(this.checkpointTimer)
    await this.checkpointing
    await this.store.close()
  }

  /**
   * Fetches every window that holds a miss (block, chunk, slot triples) and is not coming already;
   * `sequential`: a run of a window's worth of misses in one part fetches the rest of the part too.
   */
  private startFetches (misses: Float64Array, sequential: boolean): void {
    const wanted: Array<{ chunk: number, window: number }> = []
    let run = { chunk: -1, slot: -1, length: 0 }
    for (let i = 0; i < misses.length; i += 3) {
      const chunk = misses[i + 1]
      const slot = misses[i + 2]
      if (chunk === run.chunk && slot === run.slot + run.length) run.length++
      else run = { chunk, slot, length: 1 }
      const window = Math.floor(slot / WINDOW_SLOTS)
      const last = wanted[wanted.length - 1]
      if ((last === undefined || last.chunk !== chunk || last.window !== window) && !this.fetching.has(windowKey(chunk, window))) wanted.push({ chunk, window })
      if (sequential && run.length === WINDOW_SLOTS) {
        const partEnd = (Math.floor(slot / PART_SLOTS) + 1) * (PART_SLOTS / WINDOW_SLOTS)
        for (let w = window + 1; w < partEnd && !this.fetching.has(windowKey(chunk, w)); w++) wanted.push({ chunk, window: w })
      }
    }
    wanted.sort((a, b) => a.chunk - b.chunk || a.window - b.window)
    // Neighbouring windows of one part are fetched with one ranged get.
    const perPart = PART_SLOTS / WINDOW_SLOTS
    for (let i = 0; i < wanted.length;) {
      const { chunk, window } = wanted[i]
      let end = window + 1
      for (i++; i < wanted.length && wanted[i].chunk === chunk && wanted[i].window <= end; i++) {
        if (wanted[i].window === end && end % perPart !== 0) end++
        else if (wanted[i].window === end) break
      }
      this.fetchWindows(chunk, window, end)
    }
  }

  private fetchWindows (chunk: number, from: number, to: number): void {
    const first = from * WINDOW_SLOTS
    const f: Fetch = { first, data: this.chunks.readPart(chunk, first, to * WINDOW_SLOTS) }
    for (let w = from; w < to; w++) this.fetching.set(windowKey(chunk, w), f)
    f.data.then(data => { if (!this.closed) this.store.fill(chunk, first, data) }, () => {}).finally(() => {
      for (let w = from; w < to; w++) if (this.fetching.get(windowKey(chunk, w)) === f) this.fetching.delete(windowKey(chunk, w))
    }).catch(() => {})
  }

  /** Copies each miss of a read into `out` once its fetch (started by startFetches) has it. */
  private async copyFetched (misses: Float64Array, first: number, out: Buffer): Promise<void> {
    const copies: Array<Promise<void>> = []
    for (let i = 0; i < misses.length;) {
      const block = misses[i]
      const chunk = misses[i + 1]
      const slot = misses[i + 2]
      const f = this.fetching.get(windowKey(chunk, Math.floor(slot / WINDOW_SLOTS))) as Fetch
      // The run of misses that are neighbours both in the volume and in this fetch's chunk.
      let n = 1
      for (i += 3; i < misses.length && misses[i] === block + n && misses[i + 1] === chunk && misses[i + 2] === slot + n &&
        this.fetching.get(windowKey(chunk, Math.floor((slot + n) / WINDOW_SLOTS))) === f; i += 3) n++
      copies.push(f.data.then(data => {
        const at = (slot - f.first) * BLOCK
        if (at + n * BLOCK > data.length) throw new Error(`chunk ${chunk} slots ${slot}–${slot + n - 1} are missing or short`)
        data.copy(out, (block - first) * BLOCK, at, at + n * BLOCK)
      }))
    }
    await Promise.all(copies)
  }

  /**
   * The sequential reader whose run this read continues, if any. Tracks the others too: a read
   * that continues none may start a run.
   */
  private follow (first: number, count: number): Stream | undefined {
    let s: Stream | undefined
    for (const x of this.streams) if (first >= x.next - count && first <= x.next + count) { s = x; break }
    if (s === undefined) {
      // A random read replaces the oldest read that started no run, so runs outlive random reads between them.
      if (this.streams.length === STREAMS) {
        let drop = STREAMS - 1
        for (let i = drop; i >= 0; i--) if (this.streams[i].reads === 0) { drop = i; break }
        this.streams.splice(drop, 1)
      }
      this.streams.unshift({ next: first + count, ahead: first + count, reads: 0 })
      return undefined
    }
    s.next = Math.max(s.next, first + count)
    s.reads++
    if (this.streams[0] !== s) this.streams = [s, ...this.streams.filter(x => x !== s)]
    return s
  }

  /** Fetches the volume ahead of a sequential reader, in whole steps, up to aheadBlocks past it. */
  private readAhead (s: Stream): void {
    const limit = Math.min(this.bytes / BLOCK, Math.floor((s.next + this.aheadBlocks) / READ_AHEAD_STEP) * READ_AHEAD_STEP)
    s.ahead = Math.max(s.ahead, s.next)
    this.scratch ??= Buffer.allocUnsafe(READ_AHEAD_STEP * BLOCK)
    while (s.ahead < limit) {
      const from = s.ahead
      const n = Math.min(limit, (Math.floor(from / READ_AHEAD_STEP) + 1) * READ_AHEAD_STEP) - from
      s.ahead += n
      const misses = this.store.read(from, n, this.scratch.subarray(0, n * BLOCK))
      if (misses.length > 0) this.startFetches(misses, false)
    }
  }

  private wrote (blocks: number, bytes: number): void {
    this.dirtyBlocksAtMost += blocks
    this.dirtyBytesAtMost += bytes
    this.lastWrite = performance.now()
    this.kick()
  }

  private measure (): BlockStoreStats {
    const stats = this.store.stats()
    this.dirtyBlocksAtMost = stats.dirtyBlocks
    this.dirtyBytesAtMost = stats.dirtyBytes
    return stats
  }

  /** Starts uploads while full chunks are waiting (or, `all`, anything dirty), and arms the idle flush. */
  private kick (all = false): void {
    if (this.closed) return
    while (this.uploads < UPLOADS && this.dirtyBlocksAtMost - this.inFlightBlocks >= (all ? 1 : PART_SLOTS)) {
      const waiting = this.measure().dirtyBlocks - this.inFlightBlocks
      if (waiting <= 0 || (!all && waiting < PART_SLOTS)) break
      const taken = this.store.take(PART_SLOTS)
      if (taken === null) break
      void this.upload(taken)
    }
    if (this.idle === undefined && this.dirtyBlocksAtMost > this.inFlightBlocks) this.armIdle(IDLE_FLUSH_MS)
  }

  /** The idle flush: one timer, pushed back while writes keep coming rather than reset by each. */
  private armIdle (ms: number): void {
    this.idle = setTimeout(() => {
      this.idle = undefined
      const quiet = performance.now() - this.lastWrite
      if (quiet < IDLE_FLUSH_MS) this.armIdle(IDLE_FLUSH_MS - quiet)
      else this.kick(true)
    }, ms)
  }

  /**
   * Stores a take's data blocks as a new chunk and commits the take; the chunk's id, or undefined
   * for a take of zeroed blocks only (they need no chunk). The caller abandons the take on failure.
   */
  private async storeChunk (taken: BlockStoreTake): Promise<number | undefined> {
    if (taken.blocks.length === 0) {
      this.store.commit(taken.id, 0)
      return undefined
    }
    const chunk = await this.chunks.newId()
    this.uploading.add(chunk)
    try {
      await this.chunks.put(chunk, taken.data)
    } finally {
      this.uploading.delete(chunk)
    }
    // A volume closed meanwhile (deleted, or its node stopping) has no map left to commit to: its WAL
    // keeps the blocks, and the reclaimer frees the chunk, which no map names.
    if (this.closed) throw new Error(`volume ${this.volumeId} closed while a chunk of it was stored`)
    this.store.commit(taken.id, chunk)
    return chunk
  }

  private async upload (taken: BlockStoreTake): Promise<void> {
    let blocks = taken.blocks.length
    for (let i = 1; i < taken.zeros.length; i += 2) blocks += taken.zeros[i]
    this.uploads++
    this.inFlightBlocks += blocks
    try {
      await this.storeChunk(taken)
      this.failures = 0
      this.requestCheckpoint()
    } catch (err) {
      if (this.closed) return
      this.store.abandon(taken.id)
      this.failures++
      this.log.warn({ err, volumeId: this.volumeId }, 'uploading a chunk failed; its blocks stay in the WAL')
    } finally {
      this.uploads--
      this.inFlightBlocks -= blocks
    }
    if (this.closed) return
    if (this.measure().dirtyBytes < HIGH_WATER) for (const w of this.waiters.splice(0)) w()
    if (this.failures === 0) this.kick()
    else setTimeout(() => this.kick(), Math.min(10_000, 100 * 2 ** this.failures)).unref()
  }

  private requestCheckpoint (): void {
    if (this.checkpointing !== undefined) {
      this.checkpointAgain = true
      return
    }
    if (this.checkpointTimer !== undefined || this.closed) return
    const wait = this.lastCheckpoint + CHECKPOINT_MS - performance.now()
    if (wait <= 0) {
      this.checkpointNow()
      return
    }
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined
      this.requestCheckpoint()
    }, wait)
  }

  private checkpointNow (): void {
    this.lastCheckpoint = performance.now()
    this.checkpointing = this.store.checkpoint()
      .catch(err => { this.log.error({ err, volumeId: this.volumeId }, 'checkpointing the block map failed') })
      .finally(() => {
        this.checkpointing = undefined
        if (this.checkpointAgain && !this.closed) {
          this.checkpointAgain = false
          this.requestCheckpoint()
        }
      })
  }
}

/** A take's zeroed runs (first, count, …) as extents that unmap them. */
function zeroExtents (runs: Float64Array): Extent[] {
  const out: Extent[] = []
  for (let i = 0; i < runs.length; i += 2) out.push({ first: runs[i], count: runs[i + 1], slot: 0, chunk: UNMAPPED })
  return out
}

function windowKey (chunk: number, window: number): string {
  return `${chunk}/${window}`
}

function writeMeta (dir: string, volumeId: string, size: number): void {
  const tmp = join(dir, 'volume.json.tmp')
  const fd = openSync(tmp, 'w')
  try {
    writeSync(fd, JSON.stringify({ volumeId, size }))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, join(dir, 'volume.json'))
}
