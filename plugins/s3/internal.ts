/**
 * The store's internal API, for other capabilities (ebs chunk objects, AMIs): the same catalog,
 * blobs and heal as user objects, in reserved buckets named `_<capability>` (`_ebs`). A name
 * starting with `_` is no valid S3 bucket name, and such buckets have no bucket record, so the
 * S3 API can neither create, list nor reach them (NoSuchBucket).
 *
 * Internal calls (hive.int.<name>, core/subjects.ts; message: raw body + string headers):
 *   s3.object.put     headers { bucket, key }; body: the object → headers { etag } (CRC32C of the
 *                     body, hex, quoted), once durable
 *   s3.object.get     headers { bucket, key, [start, end] (bytes [start, end)) } → body, headers
 *                     { size, etag }; or headers { state: 'missing' }
 *   s3.object.delete  headers { bucket, key } → headers { state: 'deleted' | 'missing' }
 *   s3.object.list    headers { bucket, [prefix], [after], [max] (default 1000) } → body: JSON
 *                     Array<{ key, size, etag }> in key order
 * Bodies travel whole: a remote call is bounded by the bus's max_payload (8 MB embedded); a node
 * with the s3 capability serves its own calls in-process, without that bound.
 */
import { crc32c, type Bus, type NodeMessage } from '../../core/index.js'
import type { BlobStore } from './blobs.js'
import type { Catalog, ObjectRecord } from './catalog.js'

export function isInternalBucket (name: string): boolean {
  return /^_[a-z0-9-]{1,62}$/.test(name)
}

function args (msg: NodeMessage): { bucket: string, key: string } {
  const bucket = msg.headers?.bucket ?? ''
  const key = msg.headers?.key ?? ''
  if (!isInternalBucket(bucket)) throw new Error(`'${bucket}' is not an internal bucket (_<capability>)`)
  if (key === '' || Buffer.byteLength(key) > 1024) throw new Error('an internal object key is 1–1024 bytes')
  return { bucket, key }
}

const EMPTY = new Uint8Array(0)

export function serveInternal (bus: Bus, catalog: Catalog, blobs: BlobStore, freed: (old: ObjectRecord) => void): void {
  bus.serveInternal('s3.object.put', async msg => {
    const { bucket, key } = args(msg)
    const blob = await blobs.put(msg.data)
    // No S3 client ever sees an internal object's ETag, so it is the native CRC32C, not an MD5:
    // MD5 ran at ~300 MB/s on the event loop and was a third of a volume's write path.
    const etag = `"${crc32c(msg.data).toString(16).padStart(8, '0')}"`
    const old = await catalog.putObject(bucket, {
      key, size: msg.data.length, etag, lastModified: new Date().toISOString(), storageClass: 'STANDARD', metadata: {}, tags: [], blobs: [blob]
    })
    if (old !== undefined) freed(old)
    return { data: EMPTY, headers: { etag } }
  })

  bus.serveInternal('s3.object.get', async (msg): Promise<NodeMessage> => {
    const { bucket, key } = args(msg)
    const rec = await catalog.getObject(bucket, key)
    if (rec === undefined) return { data: EMPTY, headers: { state: 'missing' } }
    const start = Math.min(rec.size, Math.max(0, Number(msg.headers?.start ?? 0)))
    const end = Math.min(rec.size, Math.max(start, Number(msg.headers?.end ?? rec.size)))
    return { data: await blobs.read(rec.blobs, start, end), headers: { size: String(rec.size), etag: rec.etag } }
  })

  bus.serveInternal('s3.object.delete', async msg => {
    const { bucket, key } = args(msg)
    const old = await catalog.deleteObject(bucket, key)
    if (old === undefined) return { data: EMPTY, headers: { state: 'missing' } }
    freed(old)
    return { data: EMPTY, headers: { state: 'deleted' } }
  })

  bus.serveInternal('s3.object.list', async msg => {
    const bucket = msg.headers?.bucket ?? ''
    if (!isInternalBucket(bucket)) throw new Error(`'${bucket}' is not an internal bucket (_<capability>)`)
    const max = Math.max(1, Math.min(1000, Number(msg.headers?.max ?? 1000)))
    const out: Array<{ key: string, size: number, etag: string }> = []
    const after = msg.headers?.after
    for await (const { key, record } of catalog.scan(bucket, { prefix: msg.headers?.prefix ?? '', ...(after === undefined ? {} : { after }) })) {
      out.push({ key, size: record.size, etag: record.etag })
      if (out.length === max) break
    }
    return { data: Buffer.from(JSON.stringify(out)) }
  })
}
