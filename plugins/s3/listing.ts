/**
 * ListObjects (v1) and ListObjectsV2 over the catalog's sorted view: keys in UTF-8 byte order,
 * those under `prefix`, rolled up at the first `delimiter` after it into CommonPrefixes. A common
 * prefix counts as one entry against max-keys, as S3 counts it; its keys are skipped by scanning
 * on a little, then by seeking past the whole prefix, so a listing page costs about the same
 * however many keys a prefix holds.
 *
 * A continuation token (and v1's NextMarker) names the last entry returned: a key, or a common
 * prefix — continuing after a common prefix skips every key under it, since a key under it rolls
 * up into that same prefix, which is not after the marker.
 */
import type { ActionContext, ActionHandler, ActionSpec } from '../../core/index.js'
import type { S3Deps } from './actions.js'
import { requireBucket } from './buckets.js'
import { Catalog, type BucketRecord, type ObjectRecord } from './catalog.js'
import { S3Errors } from './errors.js'

const MAX_KEYS = 1000
/** Keys under a common prefix skipped one by one before the scan seeks past the prefix instead. */
const SKIP_BEFORE_SEEK = 64
const TOKEN_MAGIC = 'hive1:'

export function compareUtf8 (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/**
 * encoding-type=url as S3 writes it: UTF-8 percent-encoding with `/` kept and a space as `+`
 * (clients decode with form decoding, which reads `+` as a space).
 */
export function urlEncode (s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/').replace(/%20/g, '+')
    .replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

export function checkEncodingType (v: string | undefined): ((s: string) => string) {
  if (v === undefined) return s => s
  if (v !== 'url') throw S3Errors.invalidEncodingType(v)
  return urlEncode
}

export function checkMax (name: string, v: number | undefined, max: number): number {
  if (v === undefined) return max
  if (v < 0) throw S3Errors.invalidMaxArgument(name, v)
  return Math.min(v, max)
}

export type Entry = { key: string, record: ObjectRecord } | { prefix: string }

/** The bucket's entries after `after`: keys under `prefix`, rolled up at `delimiter`. */
export async function * walk (catalog: Catalog, bucket: string, prefix: string, delimiter: string, after: string | undefined): AsyncGenerator<Entry> {
  let from = after
  await catalog.catchUp()
  for (;;) {
    let rolling: string | undefined
    let skipped = 0
    let seek: string | undefined
    for await (const { key, record } of catalog.scan(bucket, { prefix, caughtUp: true, ...(from === undefined ? {} : { after: from }) })) {
      if (rolling !== undefined) {
        if (key.startsWith(rolling)) {
          if (++skipped < SKIP_BEFORE_SEEK) continue
          seek = Catalog.afterPrefixOf(rolling)
          break
        }
        rolling = undefined
      }
      const at = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length)
      if (at === -1) {
        yield { key, record }
        continue
      }
      const cp = key.slice(0, at + delimiter.length)
      if (after === undefined || compareUtf8(cp, after) > 0) yield { prefix: cp }
      rolling = cp
      skipped = 0
    }
    if (seek === undefined) return
    from = seek
  }
}

/** Up to `max` entries, and whether more follow. */
export async function page (entries: AsyncGenerator<Entry>, max: number): Promise<{ items: Entry[], truncated: boolean }> {
  const items: Entry[] = []
  if (max === 0) return { items, truncated: false }
  for await (const e of entries) {
    if (items.length === max) return { items, truncated: true }
    items.push(e)
  }
  return { items, truncated: false }
}

function entryName (e: Entry): string {
  return 'key' in e ? e.key : e.prefix
}

function encodeToken (last: string): string {
  return Buffer.from(TOKEN_MAGIC + last, 'utf8').toString('base64url')
}

function decodeToken (token: string): string {
  const text = /^[A-Za-z0-9_-]+={0,2}$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : ''
  if (!text.startsWith(TOKEN_MAGIC)) throw S3Errors.invalidContinuationToken()
  return text.slice(TOKEN_MAGIC.length)
}

function content (e: { key: string, record: ObjectRecord }, encode: (s: string) => string, owner: string | undefined): Record<string, unknown> {
  const r = e.record
  return {
    Key: encode(e.key),
    LastModified: new Date(r.lastModified),
    ETag: r.etag,
    ...(r.checksum === undefined ? {} : { ChecksumAlgorithm: [r.checksum.algorithm] }),
    Size: r.size,
    StorageClass: r.storageClass,
    ...(owner === undefined ? {} : { Owner: { ID: owner } })
  }
}

function split (items: Entry[], encode: (s: string) => string, owner: string | undefined): { Contents?: unknown[], CommonPrefixes?: unknown[] } {
  const contents = items.flatMap(e => 'key' in e ? [content(e, encode, owner)] : [])
  const prefixes = items.flatMap(e => 'prefix' in e ? [{ Prefix: encode(e.prefix) }] : [])
  return { ...(contents.length > 0 ? { Contents: contents } : {}), ...(prefixes.length > 0 ? { CommonPrefixes: prefixes } : {}) }
}

interface ListInput {
  Bucket: string
  Prefix?: string
  Delimiter?: string
  MaxKeys?: number
  EncodingType?: string
  ExpectedBucketOwner?: string
  Marker?: string
  ContinuationToken?: string
  StartAfter?: string
  FetchOwner?: boolean
}

export const LISTING_ACTIONS: Record<string, ActionSpec> = {
  ListObjects: { unsupported: ['RequestPayer'] },
  ListObjectsV2: { unsupported: ['RequestPayer'] }
}

export function listingHandlers ({ catalog }: S3Deps): Record<string, ActionHandler> {
  /** What ListObjects and ListObjectsV2 read alike from their input. */
  async function listing (input: ListInput, ctx: ActionContext): Promise<{ bucket: BucketRecord, encode: (s: string) => string, max: number, prefix: string, delimiter: string }> {
    return {
      bucket: await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner),
      encode: checkEncodingType(input.EncodingType),
      max: checkMax('maxKeys', input.MaxKeys, MAX_KEYS),
      prefix: input.Prefix ?? '',
      delimiter: input.Delimiter ?? ''
    }
  }

  return {
    ListObjects: async (raw, ctx) => {
      const input = raw as unknown as ListInput
      const { bucket, encode, max, prefix, delimiter } = await listing(input, ctx)
      const marker = input.Marker === '' ? undefined : input.Marker
      const { items, truncated } = await page(walk(catalog, input.Bucket, prefix, delimiter, marker), max)
      const last = items.at(-1)
      return {
        IsTruncated: truncated,
        Marker: encode(input.Marker ?? ''),
        // S3 gives NextMarker only with a delimiter; without one, the last key is the marker.
        ...(truncated && delimiter !== '' && last !== undefined ? { NextMarker: encode(entryName(last)) } : {}),
        ...split(items, encode, bucket.ownerId),
        Name: input.Bucket,
        Prefix: encode(prefix),
        ...(input.Delimiter === undefined ? {} : { Delimiter: encode(input.Delimiter) }),
        MaxKeys: max,
        ...(input.EncodingType === undefined ? {} : { EncodingType: input.EncodingType })
      }
    },

    ListObjectsV2: async (raw, ctx) => {
      const input = raw as unknown as ListInput
      const { bucket, encode, max, prefix, delimiter } = await listing(input, ctx)
      const after = input.ContinuationToken !== undefined
        ? decodeToken(input.ContinuationToken)
        : input.StartAfter === '' ? undefined : input.StartAfter
      const { items, truncated } = await page(walk(catalog, input.Bucket, prefix, delimiter, after), max)
      const last = items.at(-1)
      return {
        IsTruncated: truncated,
        ...split(items, encode, input.FetchOwner === true ? bucket.ownerId : undefined),
        Name: input.Bucket,
        Prefix: encode(prefix),
        ...(input.Delimiter === undefined ? {} : { Delimiter: encode(input.Delimiter) }),
        MaxKeys: max,
        ...(input.EncodingType === undefined ? {} : { EncodingType: input.EncodingType }),
        KeyCount: items.length,
        ...(input.ContinuationToken === undefined ? {} : { ContinuationToken: input.ContinuationToken }),
        ...(truncated && last !== undefined ? { NextContinuationToken: encodeToken(entryName(last)) } : {}),
        ...(input.StartAfter === undefined ? {} : { StartAfter: encode(input.StartAfter) })
      }
    }
  }
}
