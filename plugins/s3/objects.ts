/**
 * Objects: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects and CopyObject.
 *
 * A PUT stores the body as one blob and then commits the ObjectRecord naming it (the commit
 * point); the record it replaced gives back its blobs, freed best effort. Buckets are not
 * versioned: `versionId` may only be `null`, S3's id for an unversioned object.
 *
 * Conditional requests follow RFC 7232 §6, as S3 does: If-Match (else If-Unmodified-Since) fails
 * with 412; then If-None-Match (else If-Modified-Since) answers 304 to GET/HEAD — and 412 to the
 * x-amz-copy-source-if-* conditions of a copy. Dates compare at the second, HTTP dates' precision.
 */
import { Readable } from 'node:stream'
import type { ActionContext, ActionHandler, ActionSpec } from '../../core/index.js'
import type { S3Deps } from './actions.js'
import type { BlobRef } from './blobs.js'
import { requireBucket } from './buckets.js'
import type { ContentHeaders, ObjectRecord, Tag } from './catalog.js'
import {
  ChecksumHasher, checksumMembers, isChecksumAlgorithm, md5Hex, UploadDigest,
  type Checksum, type ChecksumAlgorithm, type ChecksumMembers
} from './checksums.js'
import { S3Errors } from './errors.js'
import { keyBytes, MAX_KEY_BYTES } from './names.js'
import { parseTaggingHeader } from './tagging.js'

export const STORAGE_CLASSES = new Set(['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING',
  'GLACIER', 'DEEP_ARCHIVE', 'OUTPOSTS', 'GLACIER_IR', 'SNOW', 'EXPRESS_ONEZONE'])
const MAX_METADATA_BYTES = 2048
const MAX_COPY_BYTES = 5 * 1024 * 1024 * 1024
/** What S3 records when a PUT names no Content-Type. */
const DEFAULT_CONTENT_TYPE = 'binary/octet-stream'

/** The content-header members of PutObject, CopyObject and CreateMultipartUpload. */
export interface ContentHeaderInput {
  ContentType?: string
  ContentEncoding?: string
  ContentDisposition?: string
  ContentLanguage?: string
  CacheControl?: string
  Expires?: Date
}

interface ConditionInput {
  IfMatch?: string
  IfNoneMatch?: string
  IfModifiedSince?: Date
  IfUnmodifiedSince?: Date
}

interface PutObjectInput extends ContentHeaderInput, ChecksumMembers {
  Bucket: string
  Key: string
  /** A stream when the edge streams a large body (core streamed-body.ts). */
  Body?: Buffer | Readable
  ContentMD5?: string
  ChecksumAlgorithm?: string
  Metadata?: Record<string, string>
  StorageClass?: string
  Tagging?: string
  ExpectedBucketOwner?: string
}

interface GetObjectInput extends ConditionInput {
  Bucket: string
  Key: string
  Range?: string
  PartNumber?: number
  VersionId?: string
  ChecksumMode?: string
  ExpectedBucketOwner?: string
  ResponseCacheControl?: string
  ResponseContentDisposition?: string
  ResponseContentEncoding?: string
  ResponseContentLanguage?: string
  ResponseContentType?: string
  ResponseExpires?: Date
}

interface DeleteObjectsInput {
  Bucket: string
  ExpectedBucketOwner?: string
  Delete?: { Objects?: Array<{ Key?: string, VersionId?: string }>, Quiet?: boolean }
}

interface CopyObjectInput extends ContentHeaderInput {
  Bucket: string
  Key: string
  CopySource: string
  CopySourceIfMatch?: string
  CopySourceIfNoneMatch?: string
  CopySourceIfModifiedSince?: Date
  CopySourceIfUnmodifiedSince?: Date
  MetadataDirective?: string
  TaggingDirective?: string
  Metadata?: Record<string, string>
  StorageClass?: string
  Tagging?: string
  ChecksumAlgorithm?: string
  WebsiteRedirectLocation?: string
  ExpectedBucketOwner?: string
  ExpectedSourceBucketOwner?: string
}

export function checkKey (key: string): void {
  const bytes = keyBytes(key)
  if (bytes > MAX_KEY_BYTES) throw S3Errors.keyTooLong(bytes)
}

/** Unversioned buckets know one version id, `null`. */
export function checkVersionId (versionId: string | undefined): void {
  if (versionId !== undefined && versionId !== 'null') throw S3Errors.invalidVersionId(versionId)
}

export function checkStorageClass (storageClass: string | undefined): string {
  if (storageClass === undefined) return 'STANDARD'
  if (!STORAGE_CLASSES.has(storageClass)) throw S3Errors.invalidStorageClass()
  return storageClass
}

/** User metadata as stored: names lower-cased (HTTP headers are case-insensitive), at most 2 KB. */
export function checkMetadata (metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  let size = 0
  for (const [k, v] of Object.entries(metadata ?? {})) {
    out[k.toLowerCase()] = v
    size += Buffer.byteLength(k) + Buffer.byteLength(v)
  }
  if (size > MAX_METADATA_BYTES) throw S3Errors.metadataTooLarge(size)
  return out
}

/** The algorithm of x-amz-sdk-checksum-algorithm / x-amz-checksum-algorithm, when it names one. */
export function algorithmOf (v: string | undefined): ChecksumAlgorithm | undefined {
  const upper = v?.toUpperCase()
  if (upper === undefined) return undefined
  if (!isChecksumAlgorithm(upper)) throw S3Errors.invalidArgument('Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, SHA1, SHA256]', 'x-amz-checksum-algorithm', v)
  return upper
}

export function contentHeadersOf (input: ContentHeaderInput): ContentHeaders {
  // aws-chunked names the transfer framing, which S3 strips from the stored Content-Encoding.
  const encoding = input.ContentEncoding?.split(',').map(s => s.trim()).filter(s => s !== '' && s !== 'aws-chunked').join(', ')
  const h: ContentHeaders = { contentType: input.ContentType ?? DEFAULT_CONTENT_TYPE }
  if (encoding !== undefined && encoding !== '') h.contentEncoding = encoding
  if (input.ContentDisposition !== undefined) h.contentDisposition = input.ContentDisposition
  if (input.ContentLanguage !== undefined) h.contentLanguage = input.ContentLanguage
  if (input.CacheControl !== undefined) h.cacheControl = input.CacheControl
  if (input.Expires !== undefined && !Number.isNaN(input.Expires.getTime())) h.expires = input.Expires.toISOString()
  return h
}

function contentHeadersOfRecord (r: ContentHeaders): ContentHeaders {
  const { contentType, contentEncoding, contentDisposition, contentLanguage, cacheControl, expires } = r
  return Object.fromEntries(Object.entries({ contentType, contentEncoding, contentDisposition, contentLanguage, cacheControl, expires })
    .filter(([, v]) => v !== undefined)) as ContentHeaders
}

/** Frees blobs nobody references any more; a failure is logged, never the request's. */
export function freeBlobs ({ blobs, log }: S3Deps, refs: BlobRef[] | undefined): void {
  if (refs === undefined || refs.length === 0) return
  blobs.free(refs).catch((err: unknown) => { log.warn({ err, blobs: refs.map(b => b.id) }, 's3: freeing blobs failed; heal will collect them') })
}

/** An upload's body stored as one blob (none when empty), with its digests verified. */
export interface StoredUpload { refs: BlobRef[], size: number, md5: string, checksum: Checksum | undefined }

/**
 * Stores the body of a PutObject or UploadPart and digests it (checksums.ts UploadDigest). A body
 * in memory is hashed while the WAL threads write its shards; a streamed one (core
 * streamed-body.ts: large uploads to this node) is hashed stripe by stripe as they are written,
 * its MD5 on the worker thread of md5-worker.ts. Blobs of a body whose digest fails are freed and
 * never committed.
 */
export async function storeUpload (deps: S3Deps, input: ChecksumMembers & { ContentMD5?: string }, body: Uint8Array | Readable | undefined, algorithm: ChecksumAlgorithm | undefined): Promise<StoredUpload> {
  const streamed = body instanceof Readable
  const digest = new UploadDigest(input, algorithm, streamed ? deps.md5.stream() : undefined)
  let stored: Promise<BlobRef> | undefined
  if (body instanceof Readable) {
    stored = deps.blobs.putStream(body, async stripe => { await digest.update(stripe) })
    await stored.catch(e => { digest.discard(); throw e })
  } else if (body !== undefined && body.length > 0) {
    stored = deps.blobs.put(body)
    await digest.update(body)
  }
  let verified: Awaited<ReturnType<UploadDigest['finish']>>
  try {
    verified = await digest.finish()
  } catch (e) {
    stored?.then(ref => { freeBlobs(deps, [ref]) }, () => {})
    throw e
  }
  const ref = stored === undefined ? undefined : await stored
  return { refs: ref === undefined || ref.size === 0 ? [] : [ref], size: digest.size, ...verified }
}

/** Bodies larger than this are streamed stripe by stripe rather than assembled in memory. */
const STREAM_ABOVE = 8 * 1024 * 1024

/** Bytes [start, end) of an object. */
export async function readObject ({ blobs }: S3Deps, record: ObjectRecord, start: number, end: number): Promise<Buffer> {
  if (end <= start) return Buffer.alloc(0)
  return await blobs.read(record.blobs, start, end)
}

function unquote (etag: string): string {
  const t = etag.trim().replace(/^W\//, '')
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t
}

function etagMatches (header: string, etag: string): boolean {
  const mine = unquote(etag)
  return header.split(',').some(t => t.trim() === '*' || unquote(t) === mine)
}

/** Last-Modified at the second, as an HTTP date carries it. */
function lastModifiedSeconds (record: ObjectRecord): number {
  return Math.floor(Date.parse(record.lastModified) / 1000) * 1000
}

/**
 * RFC 7232 §6 as S3 applies it. `copy` names the x-amz-copy-source-if-* headers, whose failures
 * are all 412.
 */
export function checkConditions (record: ObjectRecord, c: ConditionInput, copy = false): void {
  const lm = lastModifiedSeconds(record)
  const name = (header: string): string => copy ? `x-amz-copy-source-${header}` : header
  if (c.IfMatch !== undefined) {
    if (!etagMatches(c.IfMatch, record.etag)) throw S3Errors.preconditionFailed(name('If-Match'))
  } else if (c.IfUnmodifiedSince !== undefined && lm > c.IfUnmodifiedSince.getTime()) {
    throw S3Errors.preconditionFailed(name('If-Unmodified-Since'))
  }
  if (c.IfNoneMatch !== undefined) {
    if (etagMatches(c.IfNoneMatch, record.etag)) throw copy ? S3Errors.preconditionFailed(name('If-None-Match')) : S3Errors.notModified(record.etag, new Date(lm))
  } else if (c.IfModifiedSince !== undefined && lm <= c.IfModifiedSince.getTime()) {
    throw copy ? S3Errors.preconditionFailed(name('If-Modified-Since')) : S3Errors.notModified(record.etag, new Date(lm))
  }
}

type RangeResult = { start: number, end: number } | 'whole' | 'unsatisfiable'

/**
 * One `bytes=` range over `size` bytes, end exclusive. As S3: a header it cannot parse, or with
 * several ranges, is ignored (the whole object, 200); a first byte past the end, or an empty
 * suffix, is unsatisfiable (416).
 */
export function parseRange (header: string, size: number): RangeResult {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (m === null) return 'whole'
  const [, first, last] = m
  if (first === '' && last === '') return 'whole'
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size }
  }
  const start = Number(first)
  if (last !== '' && Number(last) < start) return 'whole'
  if (start >= size) return 'unsatisfiable'
  return { start, end: last === '' ? size : Math.min(Number(last) + 1, size) }
}

/** Where a part of a multipart object lies, for GET/HEAD with partNumber. */
function partBounds (record: ObjectRecord, partNumber: number): { start: number, end: number } {
  const sizes = record.partSizes ?? [record.size]
  if (partNumber > sizes.length) throw S3Errors.invalidPartNumber(partNumber, sizes.length)
  const start = sizes.slice(0, partNumber - 1).reduce((a, b) => a + b, 0)
  return { start, end: start + sizes[partNumber - 1] }
}

interface Selection { start: number, end: number, partial: boolean, part?: number }

function select (record: ObjectRecord, input: GetObjectInput): Selection {
  const whole = { start: 0, end: record.size, partial: false }
  if (input.PartNumber !== undefined) {
    if (input.Range !== undefined) throw S3Errors.invalidRequest('Cannot specify both Range header and partNumber query parameter')
    if (input.PartNumber < 1 || input.PartNumber > 10000) throw S3Errors.invalidPartNumberArgument(input.PartNumber)
    const bounds = partBounds(record, input.PartNumber)
    return record.partCount === undefined ? whole : { ...bounds, partial: true, part: input.PartNumber }
  }
  if (input.Range === undefined) return whole
  const r = parseRange(input.Range, record.size)
  if (r === 'unsatisfiable') throw S3Errors.invalidRange(input.Range, record.size)
  return r === 'whole' ? whole : { ...r, partial: true }
}

/** The headers GET and HEAD answer with, response-* overrides applied. */
function objectHeaders (record: ObjectRecord, input: GetObjectInput, sel: Selection): Record<string, unknown> {
  const out: Record<string, unknown> = {
    AcceptRanges: 'bytes',
    LastModified: new Date(record.lastModified),
    ContentLength: sel.end - sel.start,
    ETag: record.etag,
    ContentType: input.ResponseContentType ?? record.contentType,
    ContentEncoding: input.ResponseContentEncoding ?? record.contentEncoding,
    ContentDisposition: input.ResponseContentDisposition ?? record.contentDisposition,
    ContentLanguage: input.ResponseContentLanguage ?? record.contentLanguage,
    CacheControl: input.ResponseCacheControl ?? record.cacheControl,
    Expires: input.ResponseExpires ?? (record.expires === undefined ? undefined : new Date(record.expires)),
    Metadata: record.metadata
  }
  // S3 names the storage class only when it is not STANDARD.
  if (record.storageClass !== 'STANDARD') out.StorageClass = record.storageClass
  if (sel.part !== undefined) out.PartsCount = record.partCount
  if (input.ChecksumMode === 'ENABLED' && !sel.partial) Object.assign(out, checksumMembers(record.checksum))
  if (sel.partial) out.$status = 206
  return out
}

/**
 * `x-amz-copy-source`: `[/]bucket/key[?versionId=id]`, the key URL-encoded (the query is not).
 */
export function parseCopySource (header: string): { bucket: string, key: string, versionId?: string } {
  const q = header.indexOf('?')
  let path: string
  try {
    path = decodeURIComponent(q === -1 ? header : header.slice(0, q))
  } catch {
    throw S3Errors.invalidCopySource()
  }
  if (path.startsWith('/')) path = path.slice(1)
  const slash = path.indexOf('/')
  if (slash <= 0 || slash === path.length - 1) throw S3Errors.invalidCopySource()
  const out: { bucket: string, key: string, versionId?: string } = { bucket: path.slice(0, slash), key: path.slice(slash + 1) }
  if (q !== -1) {
    const versionId = new URLSearchParams(header.slice(q + 1)).get('versionId')
    if (versionId !== null) out.versionId = versionId
  }
  return out
}

/** The source object of CopyObject/UploadPartCopy, when its conditions hold. */
export async function copySource (deps: S3Deps, ctx: ActionContext, input: {
  CopySource: string
  CopySourceIfMatch?: string
  CopySourceIfNoneMatch?: string
  CopySourceIfModifiedSince?: Date
  CopySourceIfUnmodifiedSince?: Date
  ExpectedSourceBucketOwner?: string
}): Promise<{ bucket: string, key: string, record: ObjectRecord }> {
  const src = parseCopySource(input.CopySource)
  await requireBucket(deps.catalog, src.bucket, ctx, input.ExpectedSourceBucketOwner)
  checkVersionId(src.versionId)
  const record = await deps.catalog.getObject(src.bucket, src.key)
  if (record === undefined) throw S3Errors.noSuchKey(src.key)
  checkConditions(record, {
    IfMatch: input.CopySourceIfMatch,
    IfNoneMatch: input.CopySourceIfNoneMatch,
    IfModifiedSince: input.CopySourceIfModifiedSince,
    IfUnmodifiedSince: input.CopySourceIfUnmodifiedSince
  }, true)
  return { bucket: src.bucket, key: src.key, record }
}

function directive (value: string | undefined, what: 'metadata' | 'tagging'): 'COPY' | 'REPLACE' {
  if (value === undefined || value === 'COPY') return 'COPY'
  if (value === 'REPLACE') return 'REPLACE'
  throw S3Errors.invalidArgument(`Unknown ${what} directive.`, `x-amz-${what}-directive`, value)
}

const SSE_UNSUPPORTED = ['ServerSideEncryption', 'SSECustomerAlgorithm', 'SSECustomerKey', 'SSECustomerKeyMD5', 'SSEKMSKeyId',
  'SSEKMSEncryptionContext', 'BucketKeyEnabled']
const ACL_UNSUPPORTED = ['ACL', 'GrantFullControl', 'GrantRead', 'GrantReadACP', 'GrantWriteACP']
const LOCK_UNSUPPORTED = ['ObjectLockMode', 'ObjectLockRetainUntilDate', 'ObjectLockLegalHoldStatus']

export const OBJECT_ACTIONS: Record<string, ActionSpec> = {
  PutObject: {
    unsupported: [...ACL_UNSUPPORTED, ...SSE_UNSUPPORTED, ...LOCK_UNSUPPORTED, 'WebsiteRedirectLocation', 'RequestPayer'],
    note: 'StorageClass is recorded and returned; every class is stored the same way (erasure-coded across the cluster).'
  },
  GetObject: {
    unsupported: ['SSECustomerAlgorithm', 'SSECustomerKey', 'SSECustomerKeyMD5', 'RequestPayer'],
    note: 'Buckets are unversioned: VersionId may only be "null". Objects of archive storage classes are readable without a restore.'
  },
  HeadObject: {
    unsupported: ['SSECustomerAlgorithm', 'SSECustomerKey', 'SSECustomerKeyMD5', 'RequestPayer'],
    note: 'A Range answers 206 with the range\'s Content-Length; the model has no Content-Range member for HeadObject.'
  },
  DeleteObject: {
    unsupported: ['MFA', 'BypassGovernanceRetention', 'RequestPayer'],
    note: 'Buckets are unversioned: no delete markers.'
  },
  DeleteObjects: {
    unsupported: ['MFA', 'BypassGovernanceRetention', 'RequestPayer', 'ChecksumAlgorithm'],
    note: 'The body\'s Content-MD5 is neither required nor verified: the core hands the handler the parsed document.'
  },
  CopyObject: {
    unsupported: [...ACL_UNSUPPORTED, ...SSE_UNSUPPORTED, ...LOCK_UNSUPPORTED, 'CopySourceSSECustomerAlgorithm', 'CopySourceSSECustomerKey',
      'CopySourceSSECustomerKeyMD5', 'WebsiteRedirectLocation', 'RequestPayer'],
    note: 'A copy onto itself (allowed with MetadataDirective REPLACE) rewrites the bytes, as any copy: the ETag becomes the MD5 of the content.'
  }
}

export function objectHandlers (deps: S3Deps): Record<string, ActionHandler> {
  const { catalog, blobs } = deps

  async function getOrHead (raw: Record<string, unknown>, ctx: ActionContext, withBody: boolean): Promise<Record<string, unknown>> {
    const input = raw as unknown as GetObjectInput
    await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
    checkVersionId(input.VersionId)
    const record = await catalog.getObject(input.Bucket, input.Key)
    if (record === undefined) throw S3Errors.noSuchKey(input.Key)
    checkConditions(record, input)
    const sel = select(record, input)
    const out = objectHeaders(record, input, sel)
    if (!withBody) return out
    if (record.tags.length > 0) out.TagCount = record.tags.length
    if (sel.partial) out.ContentRange = `bytes ${sel.start}-${sel.end - 1}/${record.size}`
    out.Body = sel.end - sel.start > STREAM_ABOVE ? await deps.blobs.stream(record.blobs, sel.start, sel.end) : await readObject(deps, record, sel.start, sel.end)
    return out
  }

  return {
    PutObject: async (raw, ctx) => {
      const input = raw as unknown as PutObjectInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      checkKey(input.Key)
      const tags: Tag[] = parseTaggingHeader(input.Tagging)
      const metadata = checkMetadata(input.Metadata)
      const storageClass = checkStorageClass(input.StorageClass)
      const { refs, size, md5, checksum } = await storeUpload(deps, input, input.Body, algorithmOf(input.ChecksumAlgorithm))
      const record: ObjectRecord = {
        key: input.Key,
        size,
        etag: `"${md5}"`,
        lastModified: new Date().toISOString(),
        storageClass,
        metadata,
        tags,
        ...contentHeadersOf(input),
        ...(checksum === undefined ? {} : { checksum: { ...checksum, type: 'FULL_OBJECT' as const } }),
        blobs: refs
      }
      const before = await catalog.putObject(input.Bucket, record)
      freeBlobs(deps, before?.blobs)
      return { ETag: record.etag, ...checksumMembers(checksum) }
    },

    GetObject: async (raw, ctx) => await getOrHead(raw, ctx, true),

    HeadObject: async (raw, ctx) => await getOrHead(raw, ctx, false),

    DeleteObject: async (raw, ctx) => {
      const input = raw as unknown as { Bucket: string, Key: string, VersionId?: string, ExpectedBucketOwner?: string }
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      checkVersionId(input.VersionId)
      if (keyBytes(input.Key) <= MAX_KEY_BYTES) freeBlobs(deps, (await catalog.deleteObject(input.Bucket, input.Key))?.blobs)
      return {}
    },

    DeleteObjects: async (raw, ctx) => {
      const input = raw as unknown as DeleteObjectsInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      const objects = input.Delete?.Objects ?? []
      if (objects.length === 0 || objects.length > 1000) throw S3Errors.malformedXml()
      if (objects.some(o => typeof o.Key !== 'string')) throw S3Errors.malformedXml()
      const deleted: Array<Record<string, unknown>> = []
      const errors: Array<Record<string, unknown>> = []
      const one = async ({ Key, VersionId }: { Key?: string, VersionId?: string }): Promise<void> => {
        const key = Key as string
        const version = VersionId === undefined ? {} : { VersionId }
        if (VersionId !== undefined && VersionId !== 'null') {
          errors.push({ Key: key, ...version, Code: 'NoSuchVersion', Message: 'The specified version does not exist.' })
        } else if (keyBytes(key) > MAX_KEY_BYTES) {
          errors.push({ Key: key, ...version, Code: 'KeyTooLongError', Message: 'Your key is too long' })
        } else {
          try {
            freeBlobs(deps, (await catalog.deleteObject(input.Bucket, key))?.blobs)
            deleted.push({ Key: key, ...version })
          } catch (err) {
            deps.log.error({ err, bucket: input.Bucket, key }, 's3: DeleteObjects entry failed')
            errors.push({ Key: key, ...version, Code: 'InternalError', Message: 'We encountered an internal error. Please try again.' })
          }
        }
      }
      // A few deletes in flight at once: each is a KV round trip.
      for (let i = 0; i < objects.length; i += 16) await Promise.all(objects.slice(i, i + 16).map(one))
      return { ...(input.Delete?.Quiet === true ? {} : { Deleted: deleted }), ...(errors.length > 0 ? { Errors: errors } : {}) }
    },

    CopyObject: async (raw, ctx) => {
      const input = raw as unknown as CopyObjectInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      checkKey(input.Key)
      const src = await copySource(deps, ctx, input)
      const metadataDirective = directive(input.MetadataDirective, 'metadata')
      const taggingDirective = directive(input.TaggingDirective, 'tagging')
      const storageClass = checkStorageClass(input.StorageClass)
      const algorithm = algorithmOf(input.ChecksumAlgorithm)
      const self = src.bucket === input.Bucket && src.key === input.Key
      if (self && metadataDirective === 'COPY' && storageClass === src.record.storageClass && input.WebsiteRedirectLocation === undefined) {
        throw S3Errors.copyOntoItself()
      }
      if (src.record.size > MAX_COPY_BYTES) {
        throw S3Errors.invalidRequest(`The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_COPY_BYTES}`)
      }
      const replace = metadataDirective === 'REPLACE'
      const record: ObjectRecord = {
        ...src.record,
        key: input.Key,
        lastModified: new Date().toISOString(),
        storageClass,
        metadata: replace ? checkMetadata(input.Metadata) : src.record.metadata,
        tags: taggingDirective === 'REPLACE' ? parseTaggingHeader(input.Tagging) : src.record.tags
      }
      for (const k of ['contentType', 'contentEncoding', 'contentDisposition', 'contentLanguage', 'cacheControl', 'expires'] as const) delete record[k]
      Object.assign(record, replace ? contentHeadersOf(input) : contentHeadersOfRecord(src.record))
      const wantChecksum = algorithm ?? src.record.checksum?.algorithm
      const recompute = wantChecksum !== undefined && (wantChecksum !== src.record.checksum?.algorithm || src.record.checksum.type === 'COMPOSITE')
      {
        // Blobs have one owner each (freeing is not counted), so a copy, even onto itself, writes its own.
        const bytes = await readObject(deps, src.record, 0, src.record.size)
        record.etag = `"${md5Hex(bytes)}"`
        record.blobs = bytes.length === 0 ? [] : [await blobs.put(bytes)]
        delete record.partCount
        delete record.partSizes
        if (recompute) record.checksum = checksumOver(wantChecksum, bytes)
      }
      if (record.checksum === undefined) delete record.checksum
      freeBlobs(deps, (await catalog.putObject(input.Bucket, record))?.blobs)
      return {
        CopyObjectResult: { ETag: record.etag, LastModified: new Date(record.lastModified), ...checksumMembers(record.checksum?.type === 'COMPOSITE' ? undefined : record.checksum) }
      }
    }
  }
}

function checksumOver (algorithm: ChecksumAlgorithm | undefined, bytes: Buffer): ObjectRecord['checksum'] {
  if (algorithm === undefined) return undefined
  const h = new ChecksumHasher(algorithm)
  h.update(bytes)
  return { algorithm, value: h.digest().toString('base64'), type: 'FULL_OBJECT' }
}
