/**
 * One volume on its home node: the native block store (WAL, dirty blocks, block map, cache) plus
 * the policy around it — when dirty blocks are packed into chunks and sent to the store, how far
 * writers may run ahead of that, read-ahead on cache misses, and freezing a snapshot's map.
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
/** Uploads in flight per volume. */
const UPLOADS = 2
/** A partly filled chunk is flushed once writes have paused this long. */
const IDLE_FLUSH_MS = 1000
/** A cache miss reads at least this many slots of the chunk, for sequential readers. */
const READ_AHEAD_SLOTS = 64

export interface VolumeOptions {
  cacheBytes: number
  log: Logger
}

export class Volume implements BlockDevice {
  private uploads = 0
  private inFlightBlocks = 0
  private idle: NodeJS.Timeout | undefined
  private waiters: Array<() => void> = []
  private checkpointing: Promise<void> | undefined
  private checkpointAgain = false
  private failures = 0
  private closed = false
  /** Chunk ids taken for uploads not yet committed to the map. */
  private readonly uploading = new Set<number>()

  private constructor (
    readonly volumeId: string,
    private readonly dir: string,
    private readonly store: BlockStore,
    private bytes: number,
    private readonly chunks: ChunkStore,
    private readonly log: Logger
  ) {}

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
    const v = new Volume(volumeId, dir, store, size, chunks, opts.log)
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
    const out = Buffer.allocUnsafe(length)
    const misses = this.store.read(first, length / BLOCK, out)
    if (misses.length > 0) await this.fetch(misses, first, out)
    return out
  }

  async write (offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    if (this.store.stats().dirtyBytes >= HIGH_WATER) await new Promise<void>(resolve => this.waiters.push(resolve))
    const done = this.store.write(offset / BLOCK, data, fua)
    this.kick()
    await done
  }

  async trim (offset: number, length: number, fua: boolean): Promise<void> {
    const done = this.store.zero(offset / BLOCK, length / BLOCK, fua)
    this.kick()
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
      if (taken.blocks.length > 0) {
        const chunk = await this.chunks.newId()
        this.uploading.add(chunk)
        try {
          await this.chunks.put(chunk, taken.data)
        } finally {
          this.uploading.delete(chunk)
        }
        this.store.commit(taken.id, chunk)
        patch = patch.concat(extentsOf(taken.blocks, chunk))
      } else {
        this.store.commit(taken.id, 0)
      }
    } catch (e) {
      this.store.abandon(taken.id)
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

  /** Uploads every dirty block and checkpoints, then closes the store (the WAL keeps anything left). */
  async close ({ drain = true } = {}): Promise<void> {
    if (this.closed) return
    if (drain) {
      while (this.uploads > 0 || this.store.stats().dirtyBlocks > 0) {
        this.kick(true)
        await new Promise(resolve => setTimeout(resolve, 20))
        if (this.failures > 3) break
      }
      await this.checkpointing
    }
    this.closed = true
    clearTimeout(this.idle)
    await this.checkpointing
    await this.store.close()
  }

  private async fetch (misses: Float64Array, first: number, out: Buffer): Promise<void> {
    const runs: Array<{ block: number, chunk: number, slot: number, count: number }> = []
    for (let i = 0; i < misses.length; i += 3) {
      const block = misses[i]
      const chunk = misses[i + 1]
      const slot = misses[i + 2]
      const last = runs[runs.length - 1]
      if (last !== undefined && last.chunk === chunk && last.block + last.count === block && last.slot + last.count === slot) last.count++
      else runs.push({ block, chunk, slot, count: 1 })
    }
    await Promise.all(runs.map(async r => {
      const partEnd = (Math.floor(r.slot / PART_SLOTS) + 1) * PART_SLOTS
      const count = Math.min(partEnd - r.slot, Math.max(r.count, READ_AHEAD_SLOTS))
      let data: Buffer
      try {
        data = await this.chunks.read(r.chunk, r.slot, count)
      } catch {
        // Read-ahead past the chunk's last slot: read exactly what was asked.
        data = await this.chunks.read(r.chunk, r.slot, r.count)
      }
      this.store.fill(r.chunk, r.slot, data)
      data.copy(out, (r.block - first) * BLOCK, 0, r.count * BLOCK)
    }))
  }

  /** Starts uploads while full chunks are waiting (or, `all`, anything dirty), and arms the idle flush. */
  private kick (all = false): void {
    if (this.closed) return
    while (this.uploads < UPLOADS) {
      const waiting = this.store.stats().dirtyBlocks - this.inFlightBlocks
      if (waiting <= 0 || (!all && waiting < PART_SLOTS)) break
      const taken = this.store.take(PART_SLOTS)
      if (taken === null) break
      void this.upload(taken)
    }
    clearTimeout(this.idle)
    if (this.store.stats().dirtyBlocks > this.inFlightBlocks) this.idle = setTimeout(() => this.kick(true), IDLE_FLUSH_MS)
  }

  private async upload (taken: BlockStoreTake): Promise<void> {
    let blocks = taken.blocks.length
    for (let i = 1; i < taken.zeros.length; i += 2) blocks += taken.zeros[i]
    this.uploads++
    this.inFlightBlocks += blocks
    try {
      if (taken.blocks.length > 0) {
        const chunk = await this.chunks.newId()
        this.uploading.add(chunk)
        try {
          await this.chunks.put(chunk, taken.data)
        } finally {
          this.uploading.delete(chunk)
        }
        this.store.commit(taken.id, chunk)
      } else {
        this.store.commit(taken.id, 0)
      }
      this.failures = 0
      this.requestCheckpoint()
    } catch (err) {
      this.store.abandon(taken.id)
      this.failures++
      this.log.warn({ err, volumeId: this.volumeId }, 'uploading a chunk failed; its blocks stay in the WAL')
    } finally {
      this.uploads--
      this.inFlightBlocks -= blocks
    }
    if (this.store.stats().dirtyBytes < HIGH_WATER) for (const w of this.waiters.splice(0)) w()
    if (this.failures === 0) this.kick()
    else if (!this.closed) setTimeout(() => this.kick(), Math.min(10_000, 100 * 2 ** this.failures)).unref()
  }

  private requestCheckpoint (): void {
    if (this.checkpointing !== undefined) {
      this.checkpointAgain = true
      return
    }
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
