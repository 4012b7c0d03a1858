/**
 * The s3 catalog: buckets, objects and multipart uploads — what exists, not the bytes (blobs.ts).
 *
 * Source of truth is JetStream KV, which NATS keeps whatever happens to a Hive node:
 *   hive_s3_buckets   <bucket> → BucketRecord
 *   hive_s3_objects   <bucket>.<base64url(key)> → ObjectRecord. Writing it is the commit point of a
 *                     PUT: it names blobs that are already durable, so a reader never sees a partial
 *                     object, and a PUT that died before it left only unreferenced shards.
 *   hive_s3_uploads   <bucket>.<uploadId> → UploadRecord (an in-progress multipart upload)
 *   hive_s3_parts     <uploadId>.<partNumber> → PartRecord (a key per part: parallel uploads of
 *                     parts never contend on one key)
 *
 * Local view: every s3 node keeps the objects in LMDB (<data-dir>/s3/catalog), sorted by bucket and
 * then key bytes — S3's listing order — and fed by a watch of hive_s3_objects resumed from the last
 * revision it applied. A listing page is then a range scan: the same cost at a thousand keys or a
 * million. Before a listing the view catches up with the bucket's last revision, so a list sees every
 * write acknowledged before it began (S3 lists are strongly consistent).
 */
import { open, type Database, type RootDatabase } from 'lmdb'
import type { Logger } from 'pino'
import { join } from 'node:path'
import { AwsError, kvBucketName, RevisionConflict, type Bucket, type KvStore } from '../../core/index.js'
import type { BlobRef } from './blobs.js'

export interface Tag { Key: string, Value: string }

export interface BucketRecord {
  name: string
  /** LocationConstraint as created ('' for us-east-1). */
  region: string
  /** ISO-8601. */
  createdAt: string
  ownerId: string
  tags?: Tag[]
}

/** Content headers stored with an object and returned on GET/HEAD. */
export interface ContentHeaders {
  contentType?: string
  contentEncoding?: string
  contentDisposition?: string
  contentLanguage?: string
  cacheControl?: string
  /** ISO-8601. */
  expires?: string
}

export interface ObjectRecord extends ContentHeaders {
  key: string
  size: number
  /** With its quotes, as S3 returns it: "md5hex" or "md5-of-md5s-N" (internal objects: "crc32c-hex", internal.ts). */
  etag: string
  /** ISO-8601, millisecond precision. */
  lastModified: string
  storageClass: string
  /** x-amz-meta-* without the prefix, names lower-cased. */
  metadata: Record<string, string>
  tags: Tag[]
  /** A checksum stored at upload (x-amz-checksum-*), base64 as S3 returns it. */
  checksum?: { algorithm: 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256', value: string, type?: 'FULL_OBJECT' | 'COMPOSITE' }
  /** Number of parts for a multipart object; absent for a single PUT. */
  partCount?: number
  /** Part sizes in order, for GetObject/HeadObject with PartNumber. */
  partSizes?: number[]
  /** The bytes: one blob for a PUT, one per part for a multipart object, in order. */
  blobs: BlobRef[]
}

export interface UploadRecord extends ContentHeaders {
  uploadId: string
  bucket: string
  key: string
  /** ISO-8601. */
  initiated: string
  storageClass: string
  metadata: Record<string, string>
  tags: Tag[]
  checksumAlgorithm?: 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256'
}

export interface PartRecord {
  partNumber: number
  size: number
  /** Quoted MD5 of the part. */
  etag: string
  /** ISO-8601. */
  lastModified: string
  checksum?: { algorithm: 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256', value: string }
  blob: BlobRef
}

export interface ListedObject { key: string, record: ObjectRecord }

const te = new TextEncoder()
const CATCH_UP_MS = 10_000
/** The view's key before any bucket's: bucket names start with [a-z0-9]. */
const REVISION_KEY = Buffer.from([0])

function objectKvKey (bucket: string, key: string): string {
  return `${bucket}.${Buffer.from(key, 'utf8').toString('base64url')}`
}

function viewKey (bucket: string, key: string): Buffer {
  return Buffer.concat([Buffer.from(bucket, 'latin1'), REVISION_KEY, Buffer.from(te.encode(key))])
}

/** The smallest view key after every key that starts with `prefix` (in `bucket`). */
function afterPrefix (bucket: string, prefix: string): Buffer {
  const b = viewKey(bucket, prefix)
  // Key bytes are UTF-8, which never contains 0xff: appending it sorts after every extension.
  return Buffer.concat([b, Buffer.from([0xff])])
}

interface ViewEntry { revision: number, record: ObjectRecord }

export class Catalog {
  private applied = 0
  private readonly waiters: Array<{ revision: number, resolve: () => void }> = []
  private stopWatch: (() => void) | undefined
  /** Every bucket, kept current by a watch: an object request costs no KV read for its bucket. */
  private readonly bucketCache = new Map<string, BucketRecord>()
  private stopBucketWatch: (() => void) | undefined

  private constructor (
    readonly buckets: Bucket<BucketRecord>,
    private readonly objects: Bucket<ObjectRecord>,
    readonly uploads: Bucket<UploadRecord>,
    readonly parts: Bucket<PartRecord>,
    private readonly db: RootDatabase,
    private readonly view: Database<ViewEntry, Buffer>,
    private readonly log: Logger
  ) {}

  static async open (kv: KvStore, dataDir: string, log: Logger): Promise<Catalog> {
    const db = open({ path: join(dataDir, 's3', 'catalog'), keyEncoding: 'binary' })
    const view = db.openDB<ViewEntry, Buffer>({ name: 'objects', keyEncoding: 'binary' })
    const c = new Catalog(
      await kv.bucket<BucketRecord>(kvBucketName('s3', 'buckets')),
      await kv.bucket<ObjectRecord>(kvBucketName('s3', 'objects')),
      await kv.bucket<UploadRecord>(kvBucketName('s3', 'uploads')),
      await kv.bucket<PartRecord>(kvBucketName('s3', 'parts')),
      db, view, log
    )
    await c.startWatch()
    c.stopBucketWatch = await c.buckets.watch(1, (name, value) => {
      if (value === undefined) c.bucketCache.delete(name)
      else c.bucketCache.set(name, value)
    })
    return c
  }

  async close (): Promise<void> {
    this.stopWatch?.()
    this.stopBucketWatch?.()
    await this.db.close()
  }

  /**
   * A bucket's record: from the watched cache, or from KV when it is not there yet (created on
   * another node a moment ago) or the caller needs what was just written (`fresh`).
   */
  async getBucket (name: string, fresh = false): Promise<BucketRecord | undefined> {
    const cached = fresh ? undefined : this.bucketCache.get(name)
    if (cached !== undefined) return cached
    const rec = (await this.buckets.get(name))?.value
    if (rec === undefined) this.bucketCache.delete(name)
    else this.bucketCache.set(name, rec)
    return rec
  }

  /** Drops a deleted bucket from the cache at once, before its watch says so. */
  forgetBucket (name: string): void {
    this.bucketCache.delete(name)
  }

  async getObject (bucket: string, key: string): Promise<ObjectRecord | undefined> {
    return (await this.objects.get(objectKvKey(bucket, key)))?.value
  }

  /**
   * Commits an object; returns the one it replaced as far as this node's view knows, for the caller
   * to free its blobs. One blind KV write: the view may lag a write made a moment ago, and then the
   * replaced blobs are not freed here (heal's collection finds them), but what it returns has always
   * been superseded by this write — blobs have one owner each, so freeing them never loses data.
   */
  async putObject (bucket: string, record: ObjectRecord): Promise<ObjectRecord | undefined> {
    const before = this.view.get(viewKey(bucket, record.key))?.record
    await this.objects.put(objectKvKey(bucket, record.key), record)
    return before
  }

  /** Removes an object; returns it (undefined when there was none), for the caller to free its blobs. */
  async deleteObject (bucket: string, key: string): Promise<ObjectRecord | undefined> {
    const k = objectKvKey(bucket, key)
    for (;;) {
      const before = await this.objects.get(k)
      if (before === undefined) return undefined
      try {
        await this.objects.delete(k, before.revision)
        return before.value
      } catch (e) {
        if (!(e instanceof RevisionConflict)) throw e
      }
    }
  }

  /** Replaces an object's record only if it is still the one read (tags): false when it changed. */
  async updateObject (bucket: string, key: string, fn: (r: ObjectRecord) => ObjectRecord): Promise<ObjectRecord | undefined> {
    return await this.objects.modify(objectKvKey(bucket, key), cur => cur === undefined ? undefined : fn(cur))
  }

  /**
   * Objects of `bucket` in key order (UTF-8 bytes), those starting with `prefix`, strictly after
   * `after` when given. The view first catches up with the KV unless the caller just did
   * (`caughtUp`: one listing request that scans several times). `skipPrefix(p)` from inside the loop is not offered: callers that roll up
   * common prefixes call `scan` again from `afterPrefixOf(p)`.
   */
  async * scan (bucket: string, opts: { prefix?: string, after?: string, caughtUp?: boolean } = {}): AsyncGenerator<ListedObject> {
    if (opts.caughtUp !== true) await this.catchUp()
    const prefix = opts.prefix ?? ''
    const from = viewKey(bucket, prefix)
    const after = opts.after === undefined ? undefined : viewKey(bucket, opts.after)
    const start = after !== undefined && Buffer.compare(after, from) > 0 ? after : from
    for (const { key, value } of this.view.getRange({ start, end: afterPrefix(bucket, prefix) })) {
      if (after !== undefined && Buffer.compare(key, after) <= 0) continue
      yield { key: value.record.key, record: value.record }
    }
  }

  /**
   * The first key after every key starting with `prefix` — where a listing that rolled `prefix` up
   * into one CommonPrefix continues. Pass it as `after` to scan.
   */
  static afterPrefixOf (prefix: string): string {
    return prefix + '\u{10FFFF}'
  }

  /** Every blob the catalog references: objects' and open uploads' parts. */
  async * blobs (): AsyncGenerator<BlobRef> {
    await this.catchUp()
    for (const { value } of this.view.getRange({ start: Buffer.from([1]) })) yield * value.record.blobs
    for (const p of await this.parts.list()) yield p.value.blob
  }

  /** True when the bucket holds no object. */
  async isEmpty (bucket: string): Promise<boolean> {
    for await (const _ of this.scan(bucket)) return false
    return true
  }

  /** Waits until the view has applied every object write acknowledged before the call. */
  async catchUp (): Promise<void> {
    const last = await this.objects.lastRevision()
    if (this.applied >= last) return
    let timer: NodeJS.Timeout | undefined
    const caughtUp = await Promise.race([
      new Promise<boolean>(resolve => this.waiters.push({ revision: last, resolve: () => resolve(true) })),
      new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), CATCH_UP_MS) })
    ])
    clearTimeout(timer)
    // A watch that stopped following (a bus outage) must not hang every listing.
    if (!caughtUp) throw new AwsError('ServiceUnavailable', 'The object index is catching up; retry.', 503)
  }

  private async startWatch (): Promise<void> {
    const stored = this.view.get(REVISION_KEY) as unknown as { revision: number } | undefined
    this.applied = stored?.revision ?? 0
    this.stopWatch = await this.objects.watch(this.applied + 1, (key, value, revision) => {
      this.apply(key, value, revision).catch(err => { this.log.error({ err, key, revision }, 's3 listing view: an update failed') })
    })
  }

  private async apply (kvKey: string, value: ObjectRecord | undefined, revision: number): Promise<void> {
    // The key part is base64url, which has no dot; the bucket name may have several.
    const dot = kvKey.lastIndexOf('.')
    const bucket = kvKey.slice(0, dot)
    const key = Buffer.from(kvKey.slice(dot + 1), 'base64url').toString('utf8')
    const vk = viewKey(bucket, key)
    // Writes are queued in order and commit in order, one transaction per batch with the revision.
    const done = value === undefined ? this.view.remove(vk) : this.view.put(vk, { revision, record: value })
    void this.view.put(REVISION_KEY, { revision } as unknown as ViewEntry)
    await done
    if (revision > this.applied) this.applied = revision
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].revision <= this.applied) {
        this.waiters[i].resolve()
        this.waiters.splice(i, 1)
      }
    }
  }
}
