/**
 * ShardStore: one node's shards, on disk. Each data directory (--s3-dirs) holds one native log
 * (core Wal, format in native/src/wal_format.h) in `<dir>/log`; a shard is one record of it, type
 * SHARD_RECORD, whose payload is the shard's bytes. The log's fragment checksums (CRC32C) are the
 * shard's: a read checks them and reports a mismatch as corrupt, never returning bad bytes.
 *
 * Where each shard landed is kept in LMDB (<data-dir>/s3/shards):
 *   <shard id> → ShardLocation { dir, segment, offset, sequence, length }
 * A put is acknowledged once the record is durable (group-committed fdatasync) and its location is
 * committed (LMDB syncs each commit), so an acknowledged shard is found after any crash. A record
 * whose location never committed is unreferenced: its space goes with its segment.
 *
 * Node calls (hive.node.<nodeId>.<name>, core/subjects.ts), served for the other s3 nodes:
 *   s3.shard.put    headers { id, dir }; body: the shard → empty body once durable
 *   s3.shard.get    headers { id } → body: the shard; or headers { state: 'missing' | 'corrupt' }
 *   s3.shard.free   body: JSON string[] of shard ids to forget → empty
 *   s3.shard.has    body: JSON string[] of shard ids → JSON boolean[] (held, by position; not read)
 */
import { open, type Database, type RootDatabase } from 'lmdb'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { readWalRecord, Wal, type Bus, type WalLocation } from '../../core/index.js'

export const SHARD_RECORD = 1

interface ShardLocation extends WalLocation {
  dir: number
}

export type ShardRead = Buffer | 'missing' | 'corrupt'

export class ShardStore {
  private readonly wals: Wal[]

  private constructor (
    readonly dirs: string[],
    private readonly db: RootDatabase,
    private readonly map: Database<ShardLocation, string>
  ) {
    this.wals = dirs.map(d => Wal.open(join(d, 'log')))
  }

  static open (dataDir: string, dirs: string[]): ShardStore {
    for (const d of dirs) mkdirSync(d, { recursive: true })
    const db = open({ path: join(dataDir, 's3', 'shards') })
    return new ShardStore(dirs, db, db.openDB<ShardLocation, string>({ name: 'locations' }))
  }

  async close (): Promise<void> {
    await Promise.all(this.wals.map(async w => { await w.close() }))
    await this.db.close()
  }

  async put (dir: number, id: string, data: Uint8Array): Promise<void> {
    const wal = this.wals[dir]
    if (wal === undefined) throw new Error(`no shard directory ${dir}`)
    const at = await wal.appendLocated(SHARD_RECORD, data)
    await this.map.put(id, { ...at, dir })
  }

  async get (id: string): Promise<ShardRead> {
    const at = this.map.get(id)
    if (at === undefined) return 'missing'
    try {
      return await readWalRecord(join(this.dirs[at.dir], 'log'), at)
    } catch (e) {
      if ((e as { code?: string }).code === 'WAL_CORRUPT') return 'corrupt'
      if ((e as { code?: string }).code === 'WAL_MISSING') return 'missing'
      throw e
    }
  }

  has (id: string): boolean {
    return this.map.doesExist(id)
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
    bus.serveNode('s3.shard.has', ({ data }) => {
      const ids = JSON.parse(Buffer.from(data).toString('utf8')) as string[]
      return { data: Buffer.from(JSON.stringify(ids.map(id => this.has(id)))) }
    })
  }
}
