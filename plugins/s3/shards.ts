/**
 * ShardStore: one node's shards, on disk. Each data directory (--s3-dirs) holds one native log
 * (core Wal, format in native/src/wal_format.h) in `<dir>/log`; a shard is one record of it:
 *
 *   record type SHARD_RECORD, payload := idLength:u16le id:utf8[idLength] shard:u8[*]
 *
 * The log's fragment checksums (CRC32C) are the shard's: a read checks them and reports a mismatch
 * as corrupt, never returning bad bytes; the id in the payload must be the one asked for.
 *
 * Where each shard landed is kept in LMDB (<data-dir>/s3/locations), a cache of the log:
 *   locations: <shard id> → ShardLocation { dir, segment, offset, sequence, length (payload) }
 *   applied:   <dir index> → the sequence up to which the dir's records have locations
 * A put is acknowledged once its record is durable (group-committed fdatasync) and its location
 * committed — LMDB flushes commits after the fact (overlappingSync), so after a machine crash the
 * last locations may be gone: opening replays each log from its `applied` sequence on. A record
 * whose location was freed before such a crash comes back as an orphan, never as missing data.
 *
 * Compaction reclaims the space of forgotten shards. The log deletes only whole segments from its
 * oldest on (Wal.deleteUpTo), so a directory is cleaned from its tail: while forgotten bytes are
 * more than half of its closed segments, the oldest segment's live shards are appended anew and
 * their locations moved (only if still where they were: a shard freed or rewritten meanwhile is
 * left alone), then the segment is deleted. Space stays within about twice the live data. A read
 * that finds its segment gone looks its shard up again.
 *
 * Node calls (hive.node.<nodeId>.<name>, core/subjects.ts), served for the other s3 nodes:
 *   s3.shard.put    headers { id, dir }; body: the shard → empty body once durable
 *   s3.shard.get    headers { id } → body: the shard; or headers { state: 'missing' | 'corrupt' }
 *   s3.shard.free   body: JSON string[] of shard ids to forget → empty
 *   s3.shard.has    body: JSON string[] of shard ids → JSON boolean[] (held, by position; not read)
 *   s3.compact      → JSON CompactionResult (compacts every directory now)
 */
import { open, type Database, type RootDatabase } from 'lmdb'
import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { readWal, readWalRecord, readWalRecordInto, Wal, walRecordSpan, type Bus, type WalLocation } from '../../core/index.js'

export const SHARD_RECORD = 1

interface ShardLocation extends WalLocation {
  dir: number
}

export type ShardRead = Buffer | 'missing' | 'corrupt'

export interface CompactionResult {
  /** Segments deleted, live shards moved, and bytes of disk given back. */
  segments: number
  moved: number
  reclaimedBytes: number
}

/** Segment size of the shard logs; HIVE_S3_SEGMENT_BYTES makes them small enough for tests to fill. */
const SEGMENT_BYTES = Number(process.env.HIVE_S3_SEGMENT_BYTES ?? 64 * 1024 * 1024)
/** Bytes a record takes in the log beyond its payload: one 16-byte header per 32 KiB block it spans. */
function recordBytes (length: number): number {
  return length + 16 * (Math.ceil(length / (32768 - 16)) + 1)
}

/** The payload's head, `idLength id`: the WAL puts it before the shard without a copy of the shard here. */
function shardHead (id: string): Buffer {
  const idBytes = Buffer.from(id, 'utf8')
  const head = Buffer.allocUnsafe(2 + idBytes.length)
  head.writeUInt16LE(idBytes.length, 0)
  idBytes.copy(head, 2)
  return head
}

function sameLocation (a: ShardLocation | undefined, b: ShardLocation): boolean {
  return a !== undefined && a.dir === b.dir && a.segment === b.segment && a.offset === b.offset && a.sequence === b.sequence
}

export class ShardStore {
  private readonly wals: Wal[]

  private constructor (
    readonly dirs: string[],
    private readonly db: RootDatabase,
    private readonly map: Database<ShardLocation, string>,
    private readonly applied: Database<number, number>
  ) {
    this.wals = dirs.map(d => Wal.open(join(d, 'log'), { segmentBytes: SEGMENT_BYTES }))
  }

  static async open (dataDir: string, dirs: string[]): Promise<ShardStore> {
    for (const d of dirs) mkdirSync(d, { recursive: true })
    const db = open({ path: join(dataDir, 's3', 'locations') })
    const store = new ShardStore(dirs, db, db.openDB<ShardLocation, string>({ name: 'locations' }), db.openDB<number, number>({ name: 'applied' }))
    for (let d = 0; d < dirs.length; d++) await store.replay(d)
    return store
  }

  /** Locations of the records after the dir's `applied` sequence: what a machine crash may have lost. */
  private async replay (d: number): Promise<void> {
    const after = this.applied.get(d) ?? 0
    if (this.wals[d].lastSequence <= after) return
    for (const r of await readWal(join(this.dirs[d], 'log'), after)) {
      if (r.type !== SHARD_RECORD) continue
      const id = r.data.toString('utf8', 2, 2 + r.data.readUInt16LE(0))
      const at: ShardLocation = { dir: d, segment: r.segment, offset: r.offset, sequence: r.sequence, length: r.data.length }
      const known = this.map.get(id)
      if (known === undefined || known.dir !== d || known.sequence < r.sequence) void this.map.put(id, at)
      void this.applied.put(d, r.sequence)
    }
    await this.db.committed
  }

  async close (): Promise<void> {
    await Promise.all(this.wals.map(async w => { await w.close() }))
    await this.db.close()
  }

  async put (dir: number, id: string, data: Uint8Array): Promise<void> {
    const wal = this.wals[dir]
    if (wal === undefined) throw new Error(`no shard directory ${dir}`)
    const at = await wal.appendLocated(SHARD_RECORD, data, shardHead(id))
    await this.locate(id, { ...at, dir })
  }

  /** Records where a shard is; appends complete in sequence order, so `applied` only grows. */
  private async locate (id: string, at: ShardLocation): Promise<void> {
    const done = this.map.put(id, at)
    if ((this.applied.get(at.dir) ?? 0) < at.sequence) void this.applied.put(at.dir, at.sequence)
    await done
  }

  /** Shard `id`; with `room`, read into the buffer it gives for the bytes asked (the shard is a view of it). */
  async get (id: string, room?: (bytes: number) => Buffer, retried = false): Promise<ShardRead> {
    const at = this.map.get(id)
    if (at === undefined) return 'missing'
    try {
      const log = join(this.dirs[at.dir], 'log')
      const payload = room === undefined ? await readWalRecord(log, at) : await readWalRecordInto(log, at, room(walRecordSpan(at)))
      const n = payload.readUInt16LE(0)
      // A location that names another shard's record is as bad as a bad checksum.
      if (payload.toString('utf8', 2, 2 + n) !== id) return 'corrupt'
      return payload.subarray(2 + n)
    } catch (e) {
      const code = (e as { code?: string }).code
      if (code === 'WAL_CORRUPT') return 'corrupt'
      if (code !== 'WAL_MISSING') throw e
      // Compaction may have moved the shard and deleted its old segment since we looked it up.
      if (!retried && !sameLocation(this.map.get(id), at)) return await this.get(id, room, true)
      return 'missing'
    }
  }

  /** Compacts every directory (see the top of this file). */
  async compact (): Promise<CompactionResult> {
    const total: CompactionResult = { segments: 0, moved: 0, reclaimedBytes: 0 }
    for (let d = 0; d < this.dirs.length; d++) {
      const r = await this.compactDir(d)
      total.segments += r.segments
      total.moved += r.moved
      total.reclaimedBytes += r.reclaimedBytes
    }
    return total
  }

  private async compactDir (d: number): Promise<CompactionResult> {
    const log = join(this.dirs[d], 'log')
    // Closed segments, oldest first; the last one is being written and is never cleaned.
    const all = readdirSync(log).filter(f => /^\d{20}\.wal$/.test(f)).sort()
      .map(f => ({ first: Number(f.slice(0, 20)), bytes: statSync(join(log, f)).size }))
    const segments = all.slice(0, -1)
    if (segments.length === 0) return { segments: 0, moved: 0, reclaimedBytes: 0 }
    const live = new Map<number, Array<{ id: string, at: ShardLocation }>>(segments.map(x => [x.first, []]))
    for (const { key, value } of this.map.getRange()) {
      if (value.dir === d) live.get(value.segment)?.push({ id: key, at: value })
    }
    const liveBytes = (first: number): number => (live.get(first) ?? []).reduce((n, x) => n + recordBytes(x.at.length), 0)
    let closed = segments.reduce((n, x) => n + x.bytes, 0)
    let used = segments.reduce((n, x) => n + liveBytes(x.first), 0)
    const result: CompactionResult = { segments: 0, moved: 0, reclaimedBytes: 0 }
    for (let i = 0; i < segments.length && closed - used > closed / 2; i++) {
      const seg = segments[i]
      for (const { id, at } of live.get(seg.first) ?? []) {
        const data = await this.get(id)
        if (typeof data === 'string') continue
        const moved = { ...await this.wals[d].appendLocated(SHARD_RECORD, data, shardHead(id)), dir: d }
        const done = await this.map.transaction(() => {
          if (!sameLocation(this.map.get(id), at)) return false
          void this.map.put(id, moved)
          return true
        })
        if (done) result.moved++
      }
      // Every record of this segment has a sequence below the next segment's first.
      this.wals[d].deleteUpTo(all[i + 1].first - 1)
      result.segments++
      result.reclaimedBytes += seg.bytes - liveBytes(seg.first)
      closed -= seg.bytes
      used -= liveBytes(seg.first)
    }
    return result
  }

  has (id: string): boolean {
    return this.map.doesExist(id)
  }

  /** The ids of every shard this node holds. */
  * ids (): Generator<string> {
    for (const key of this.map.getKeys()) yield key
  }

  async free (ids: string[]): Promise<void> {
    await this.map.transaction(() => { for (const id of ids) void this.map.remove(id) })
  }

  /** Serves this store to the other s3 nodes (the node calls above). */
  serve (bus: Bus): void {
    bus.serveNode('s3.shard.put', async ({ data, headers }) => {
      await this.put(Number(headers?.dir), String(headers?.id), data)
      return { data: new Uint8Array(0) }
    })
    bus.serveNode('s3.shard.get', async ({ headers }) => {
      const got = await this.get(String(headers?.id))
      return typeof got === 'string' ? { data: new Uint8Array(0), headers: { state: got } } : { data: got }
    })
    bus.serveNode('s3.shard.free', async ({ data }) => {
      await this.free(JSON.parse(Buffer.from(data).toString('utf8')) as string[])
      return { data: new Uint8Array(0) }
    })
    bus.serveNode('s3.compact', async () => ({ data: Buffer.from(JSON.stringify(await this.compact())) }))
    bus.serveNode('s3.shard.has', ({ data }) => {
      const ids = JSON.parse(Buffer.from(data).toString('utf8')) as string[]
      return { data: Buffer.from(JSON.stringify(ids.map(id => this.has(id)))) }
    })
  }
}
