/**
 * Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
 * AbortMultipartUpload, ListParts and ListMultipartUploads.
 *
 * An upload is hive_s3_uploads `<bucket>.<uploadId>`, each part hive_s3_parts
 * `<uploadId>.<partNumber>` with its own blob. Completing commits one ObjectRecord naming the
 * listed parts' blobs in order — the parts' bytes are never copied — then drops the upload and
 * frees the blobs of parts it did not list. Upload ids start with the creation time in base 36,
 * so within a key they sort in initiation order, the order ListMultipartUploads gives.
 *
 * The ETag of the object is S3's: hex(md5(md5(part 1) ‖ … ‖ md5(part N)))-N; with a checksum
 * algorithm, its checksum is composite the same way (checksums.ts).
 */
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { RevisionConflict, type ActionContext, type ActionHandler, type ActionSpec } from '../../core/index.js'
import type { S3Deps } from './actions.js'
import { requireBucket } from './buckets.js'
import type { Catalog, ObjectRecord, PartRecord, UploadRecord } from './catalog.js'
import {
  checksumMembers, checksumOf, compositeChecksum, md5Hex, memberChecksum,
  type ChecksumMembers
} from './checksums.js'
import { S3Errors } from './errors.js'
import { checkEncodingType, checkMax, compareUtf8 } from './listing.js'
import {
  algorithmOf, checkKey, checkMetadata, checkStorageClass, contentHeadersOf, copySource, freeBlobs, readObject, storeUpload,
  type ContentHeaderInput
} from './objects.js'
import { parseTaggingHeader } from './tagging.js'

const MIN_PART_BYTES = 5 * 1024 * 1024
const MAX_PARTS = 10000
const PAGE = 1000
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/

function uploadKey (bucket: string, uploadId: string): string {
  return `${bucket}.${uploadId}`
}

function partKey (uploadId: string, partNumber: number): string {
  return `${uploadId}.${partNumber}`
}

function newUploadId (): string {
  return Date.now().toString(36).padStart(10, '0') + randomBytes(30).toString('base64url')
}

function unquote (etag: string): string {
  const t = etag.trim()
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t
}

async function requireUpload (catalog: Catalog, bucket: string, key: string, uploadId: string): Promise<UploadRecord> {
  const upload = UPLOAD_ID.test(uploadId) ? (await catalog.uploads.get(uploadKey(bucket, uploadId)))?.value : undefined
  if (upload === undefined || upload.key !== key) throw S3Errors.noSuchUpload(uploadId)
  return upload
}

async function partsOf (catalog: Catalog, uploadId: string): Promise<PartRecord[]> {
  return (await catalog.parts.list(uploadId)).map(e => e.value).sort((a, b) => a.partNumber - b.partNumber)
}

function checkPartNumber (n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARTS) throw S3Errors.invalidPartNumberArgument(n)
}

/**
 * Claims an upload for its completion or abort: deletes its record by compare-and-set, so of a
 * Complete and an Abort (or two Completes) racing, exactly one goes on; the others get NoSuchUpload.
 * The parts are read only after the claim, so no UploadPart can change them unseen (see storePart).
 */
async function claimUpload (deps: S3Deps, upload: UploadRecord): Promise<void> {
  const k = uploadKey(upload.bucket, upload.uploadId)
  const current = await deps.catalog.uploads.get(k)
  if (current === undefined) throw S3Errors.noSuchUpload(upload.uploadId)
  try {
    await deps.catalog.uploads.delete(k, current.revision)
  } catch (e) {
    if (e instanceof RevisionConflict) throw S3Errors.noSuchUpload(upload.uploadId)
    throw e
  }
}

/** Forgets a claimed upload's parts, freeing the blobs of those not in `keep` (the completed object's). */
async function dropParts (deps: S3Deps, parts: PartRecord[], uploadId: string, keep: Set<number> = new Set()): Promise<void> {
  await Promise.all(parts.map(async p => { await deps.catalog.parts.delete(partKey(uploadId, p.partNumber)) }))
  freeBlobs(deps, parts.filter(p => !keep.has(p.partNumber)).map(p => p.blob))
}

/** Aborts an upload: claims it, then drops every part. */
async function abortUpload (deps: S3Deps, upload: UploadRecord): Promise<void> {
  await claimUpload(deps, upload)
  await dropParts(deps, await partsOf(deps.catalog, upload.uploadId), upload.uploadId)
}

/** Aborts every upload in progress in a bucket (the bucket is being deleted). */
export async function abortUploadsOf (deps: S3Deps, bucket: string): Promise<void> {
  const uploads = (await deps.catalog.uploads.list(bucket)).map(e => e.value).filter(u => u.bucket === bucket)
  for (const u of uploads) {
    try {
      await abortUpload(deps, u)
    } catch (e) {
      if ((e as { code?: string }).code !== 'NoSuchUpload') throw e
    }
  }
}

/**
 * Stores a part, replacing one of the same number. The replaced part's blob is freed only if the
 * upload is still open after the write: a Complete reads the parts after claiming the upload, so it
 * will see this part, not the replaced one. If the upload was completed or aborted meanwhile, this
 * part may already belong to the completed object: nothing is freed (at worst a blob is orphaned)
 * and the caller hears NoSuchUpload, as S3 answers a part that comes too late.
 */
async function storePart (deps: S3Deps, upload: UploadRecord, part: PartRecord): Promise<void> {
  const k = partKey(upload.uploadId, part.partNumber)
  const before = (await deps.catalog.parts.get(k))?.value
  await deps.catalog.parts.put(k, part)
  if (await deps.catalog.uploads.get(uploadKey(upload.bucket, upload.uploadId)) === undefined) throw S3Errors.noSuchUpload(upload.uploadId)
  freeBlobs(deps, before === undefined ? undefined : [before.blob])
}

interface UploadInput {
  Bucket: string
  Key: string
  UploadId: string
  ExpectedBucketOwner?: string
}

interface CreateInput extends ContentHeaderInput {
  Bucket: string
  Key: string
  Metadata?: Record<string, string>
  StorageClass?: string
  Tagging?: string
  ChecksumAlgorithm?: string
  ExpectedBucketOwner?: string
}

interface UploadPartInput extends UploadInput, ChecksumMembers {
  PartNumber: number
  /** A stream when the edge streams a large body (core streamed-body.ts). */
  Body?: Buffer | Readable
  ContentMD5?: string
  ChecksumAlgorithm?: string
}

interface UploadPartCopyInput extends UploadInput {
  PartNumber: number
  CopySource: string
  CopySourceRange?: string
  CopySourceIfMatch?: string
  CopySourceIfNoneMatch?: string
  CopySourceIfModifiedSince?: Date
  CopySourceIfUnmodifiedSince?: Date
  ExpectedSourceBucketOwner?: string
}

interface CompleteInput extends UploadInput {
  MultipartUpload?: { Parts?: Array<{ PartNumber?: number, ETag?: string } & ChecksumMembers> }
}

interface ListPartsInput extends UploadInput {
  MaxParts?: number
  PartNumberMarker?: number
}

interface ListUploadsInput {
  Bucket: string
  Prefix?: string
  Delimiter?: string
  KeyMarker?: string
  UploadIdMarker?: string
  MaxUploads?: number
  EncodingType?: string
  ExpectedBucketOwner?: string
}

/** `bytes=first-last` of an object of `size` bytes, end exclusive. */
function copyRange (header: string | undefined, size: number): { start: number, end: number } {
  if (header === undefined) return { start: 0, end: size }
  const m = /^bytes=(\d+)-(\d+)$/.exec(header.trim())
  if (m === null || Number(m[1]) > Number(m[2])) throw S3Errors.invalidCopySourceRange()
  if (Number(m[2]) >= size) throw S3Errors.copySourceRangeOutside(size)
  return { start: Number(m[1]), end: Number(m[2]) + 1 }
}

export const MULTIPART_ACTIONS: Record<string, ActionSpec> = {
  CreateMultipartUpload: {
    unsupported: ['ACL', 'GrantFullControl', 'GrantRead', 'GrantReadACP', 'GrantWriteACP', 'ServerSideEncryption', 'SSECustomerAlgorithm',
      'SSECustomerKey', 'SSECustomerKeyMD5', 'SSEKMSKeyId', 'SSEKMSEncryptionContext', 'BucketKeyEnabled', 'ObjectLockMode',
      'ObjectLockRetainUntilDate', 'ObjectLockLegalHoldStatus', 'WebsiteRedirectLocation', 'RequestPayer'],
    note: 'Uploads never expire: no lifecycle rule aborts them (AbortDate is not returned).'
  },
  UploadPart: {
    unsupported: ['SSECustomerAlgorithm', 'SSECustomerKey', 'SSECustomerKeyMD5', 'RequestPayer'],
    note: 'A part uploaded without the upload\'s checksum gets one computed by Hive.'
  },
  UploadPartCopy: {
    unsupported: ['SSECustomerAlgorithm', 'SSECustomerKey', 'SSECustomerKeyMD5', 'CopySourceSSECustomerAlgorithm', 'CopySourceSSECustomerKey',
      'CopySourceSSECustomerKeyMD5', 'RequestPayer']
  },
  CompleteMultipartUpload: {
    unsupported: ['ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumSHA1', 'ChecksumSHA256', 'SSECustomerAlgorithm', 'SSECustomerKey',
      'SSECustomerKeyMD5', 'RequestPayer'],
    note: 'Location is the object\'s path, without scheme and host.'
  },
  AbortMultipartUpload: { unsupported: ['RequestPayer'] },
  ListParts: { unsupported: ['SSECustomerAlgorithm', 'SSECustomerKey', 'SSECustomerKeyMD5', 'RequestPayer'] },
  ListMultipartUploads: {}
}

export function multipartHandlers (deps: S3Deps): Record<string, ActionHandler> {
  const { catalog, blobs } = deps

  async function open (input: UploadInput, ctx: ActionContext): Promise<UploadRecord> {
    await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
    return await requireUpload(catalog, input.Bucket, input.Key, input.UploadId)
  }

  return {
    CreateMultipartUpload: async (raw, ctx) => {
      const input = raw as unknown as CreateInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      checkKey(input.Key)
      const algorithm = algorithmOf(input.ChecksumAlgorithm)
      const upload: UploadRecord = {
        uploadId: newUploadId(),
        bucket: input.Bucket,
        key: input.Key,
        initiated: new Date().toISOString(),
        storageClass: checkStorageClass(input.StorageClass),
        metadata: checkMetadata(input.Metadata),
        tags: parseTaggingHeader(input.Tagging),
        ...contentHeadersOf(input),
        ...(algorithm === undefined ? {} : { checksumAlgorithm: algorithm })
      }
      await catalog.uploads.put(uploadKey(upload.bucket, upload.uploadId), upload)
      return { Bucket: input.Bucket, Key: input.Key, UploadId: upload.uploadId, ...(algorithm === undefined ? {} : { ChecksumAlgorithm: algorithm }) }
    },

    UploadPart: async (raw, ctx) => {
      const input = raw as unknown as UploadPartInput
      checkPartNumber(input.PartNumber)
      const upload = await open(input, ctx)
      const { refs, size, md5, checksum } = await storeUpload(deps, input, input.Body, algorithmOf(input.ChecksumAlgorithm) ?? upload.checksumAlgorithm)
      const part: PartRecord = {
        partNumber: input.PartNumber,
        size,
        etag: `"${md5}"`,
        lastModified: new Date().toISOString(),
        ...(checksum === undefined ? {} : { checksum }),
        // An empty part is a blob of no stripes: every part has one.
        blob: refs[0] ?? await blobs.put(Buffer.alloc(0))
      }
      await storePart(deps, upload, part)
      return { ETag: part.etag, ...checksumMembers(checksum) }
    },

    UploadPartCopy: async (raw, ctx) => {
      const input = raw as unknown as UploadPartCopyInput
      checkPartNumber(input.PartNumber)
      const upload = await open(input, ctx)
      const src = await copySource(deps, ctx, input)
      const { start, end } = copyRange(input.CopySourceRange, src.record.size)
      const bytes = await readObject(deps, src.record, start, end)
      const algorithm = upload.checksumAlgorithm
      const part: PartRecord = {
        partNumber: input.PartNumber,
        size: bytes.length,
        etag: `"${md5Hex(bytes)}"`,
        lastModified: new Date().toISOString(),
        ...(algorithm === undefined ? {} : { checksum: { algorithm, value: checksumOf(algorithm, bytes) } }),
        blob: await blobs.put(bytes)
      }
      await storePart(deps, upload, part)
      return { CopyPartResult: { ETag: part.etag, LastModified: new Date(part.lastModified), ...checksumMembers(part.checksum) } }
    },

    CompleteMultipartUpload: async (raw, ctx) => {
      const input = raw as unknown as CompleteInput
      const upload = await open(input, ctx)
      const listed = input.MultipartUpload?.Parts ?? []
      if (listed.length === 0) throw S3Errors.malformedXml()
      let previous = 0
      for (const p of listed) {
        if (p.PartNumber === undefined || p.ETag === undefined) throw S3Errors.malformedXml()
        if (p.PartNumber <= previous) throw S3Errors.invalidPartOrder(input.UploadId)
        previous = p.PartNumber
      }
      await claimUpload(deps, upload)
      const all = await partsOf(catalog, input.UploadId)
      const stored = new Map(all.map(p => [p.partNumber, p]))
      const algorithm = upload.checksumAlgorithm
      // A request that names parts wrongly leaves the upload open, as S3 does: the claim is undone.
      const reopen = async (e: unknown): Promise<never> => {
        await catalog.uploads.create(uploadKey(upload.bucket, upload.uploadId), upload)
        throw e
      }
      const parts = listed.map(l => {
        const n = l.PartNumber as number
        const etag = l.ETag as string
        const p = stored.get(n)
        if (p === undefined || unquote(p.etag) !== unquote(etag)) return S3Errors.invalidPart(input.UploadId, n, etag)
        const sent = algorithm === undefined ? undefined : memberChecksum(l, algorithm)
        if (sent !== undefined && sent !== p.checksum?.value) return S3Errors.invalidPart(input.UploadId, n, etag)
        return p
      })
      const wrong = parts.find((p): p is Exclude<typeof p, PartRecord> => !('blob' in p))
      if (wrong !== undefined) await reopen(wrong)
      const used = parts as PartRecord[]
      const tooSmall = used.slice(0, -1).find(p => p.size < MIN_PART_BYTES)
      if (tooSmall !== undefined) await reopen(S3Errors.entityTooSmall(tooSmall.size, tooSmall.partNumber, tooSmall.etag))
      const md5s = Buffer.concat(used.map(p => Buffer.from(unquote(p.etag), 'hex')))
      const partChecksums = used.map(p => p.checksum?.algorithm === algorithm ? p.checksum?.value : undefined)
      const checksum = algorithm !== undefined && partChecksums.every(c => c !== undefined)
        ? { algorithm, value: compositeChecksum(algorithm, partChecksums as string[]), type: 'COMPOSITE' as const }
        : undefined
      const { uploadId: _id, bucket: _b, initiated: _i, checksumAlgorithm: _a, ...rest } = upload
      const record: ObjectRecord = {
        ...rest,
        key: input.Key,
        size: used.reduce((a, p) => a + p.size, 0),
        etag: `"${md5Hex(md5s)}-${used.length}"`,
        lastModified: new Date().toISOString(),
        ...(checksum === undefined ? {} : { checksum }),
        partCount: used.length,
        partSizes: used.map(p => p.size),
        blobs: used.map(p => p.blob)
      }
      const before = await catalog.putObject(input.Bucket, record)
      await dropParts(deps, all, upload.uploadId, new Set(used.map(p => p.partNumber)))
      freeBlobs(deps, before?.blobs)
      return {
        Location: `/${input.Bucket}/${input.Key.split('/').map(encodeURIComponent).join('/')}`,
        Bucket: input.Bucket,
        Key: input.Key,
        ETag: record.etag,
        ...checksumMembers(checksum)
      }
    },

    AbortMultipartUpload: async (raw, ctx) => {
      const input = raw as unknown as UploadInput
      await abortUpload(deps, await open(input, ctx))
      return {}
    },

    ListParts: async (raw, ctx) => {
      const input = raw as unknown as ListPartsInput
      const upload = await open(input, ctx)
      const max = checkMax('max-parts', input.MaxParts, PAGE)
      const marker = input.PartNumberMarker ?? 0
      const after = (await partsOf(catalog, input.UploadId)).filter(p => p.partNumber > marker)
      const shown = after.slice(0, max)
      const truncated = after.length > shown.length
      return {
        Bucket: input.Bucket,
        Key: input.Key,
        UploadId: input.UploadId,
        PartNumberMarker: marker,
        ...(shown.length > 0 ? { NextPartNumberMarker: shown[shown.length - 1].partNumber } : {}),
        MaxParts: max,
        IsTruncated: truncated,
        Parts: shown.map(p => ({ PartNumber: p.partNumber, LastModified: new Date(p.lastModified), ETag: p.etag, Size: p.size, ...checksumMembers(p.checksum) })),
        Initiator: { ID: ctx.accountId },
        Owner: { ID: ctx.accountId },
        StorageClass: upload.storageClass,
        ...(upload.checksumAlgorithm === undefined ? {} : { ChecksumAlgorithm: upload.checksumAlgorithm })
      }
    },

    ListMultipartUploads: async (raw, ctx) => {
      const input = raw as unknown as ListUploadsInput
      const bucket = await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      const encode = checkEncodingType(input.EncodingType)
      const max = checkMax('max-uploads', input.MaxUploads, PAGE)
      const prefix = input.Prefix ?? ''
      const delimiter = input.Delimiter ?? ''
      const keyMarker = input.KeyMarker ?? ''
      const idMarker = keyMarker === '' ? undefined : input.UploadIdMarker
      const uploads = (await catalog.uploads.list(input.Bucket)).map(e => e.value)
        .filter(u => u.bucket === input.Bucket && u.key.startsWith(prefix))
        .sort((a, b) => compareUtf8(a.key, b.key) || (a.uploadId < b.uploadId ? -1 : a.uploadId > b.uploadId ? 1 : 0))
      type Entry = { upload: UploadRecord } | { prefix: string }
      const entries: Entry[] = []
      let truncated = false
      let rolled: string | undefined
      for (const u of uploads) {
        const c = compareUtf8(u.key, keyMarker)
        if (keyMarker !== '' && (c < 0 || (c === 0 && (idMarker === undefined || u.uploadId <= idMarker)))) continue
        const at = delimiter === '' ? -1 : u.key.indexOf(delimiter, prefix.length)
        const cp = at === -1 ? undefined : u.key.slice(0, at + delimiter.length)
        if (cp !== undefined && (cp === rolled || (keyMarker !== '' && compareUtf8(cp, keyMarker) <= 0))) continue
        if (entries.length === max) {
          truncated = true
          break
        }
        if (cp !== undefined) {
          rolled = cp
          entries.push({ prefix: cp })
        } else {
          entries.push({ upload: u })
        }
      }
      const last = entries.at(-1)
      const owner = { ID: bucket.ownerId }
      return {
        Bucket: input.Bucket,
        KeyMarker: encode(keyMarker),
        UploadIdMarker: input.UploadIdMarker ?? '',
        ...(truncated && last !== undefined
          ? 'upload' in last
            ? { NextKeyMarker: encode(last.upload.key), NextUploadIdMarker: last.upload.uploadId }
            : { NextKeyMarker: encode(last.prefix) }
          : {}),
        Prefix: encode(prefix),
        ...(input.Delimiter === undefined ? {} : { Delimiter: encode(input.Delimiter) }),
        MaxUploads: max,
        IsTruncated: truncated,
        Uploads: entries.flatMap(e => 'upload' in e
          ? [{
              UploadId: e.upload.uploadId,
              Key: encode(e.upload.key),
              Initiated: new Date(e.upload.initiated),
              StorageClass: e.upload.storageClass,
              Owner: owner,
              Initiator: owner,
              ...(e.upload.checksumAlgorithm === undefined ? {} : { ChecksumAlgorithm: e.upload.checksumAlgorithm })
            }]
          : []),
        CommonPrefixes: entries.flatMap(e => 'prefix' in e ? [{ Prefix: encode(e.prefix) }] : []),
        ...(input.EncodingType === undefined ? {} : { EncodingType: input.EncodingType })
      }
    }
  }
}
