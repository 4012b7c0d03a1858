/**
 * Object tagging: Get/Put/DeleteObjectTagging, the `x-amz-tagging` header of PutObject, CopyObject
 * and CreateMultipartUpload, and the tag rules S3 checks (shared with bucket tags).
 *
 * Limits (Amazon S3 User Guide, "Categorizing your storage using tags"): 10 tags an object, 50 a
 * bucket; keys 1–128 and values 0–256 characters, counted in UTF-16 units as S3 stores them;
 * letters, digits, white space and `_ . : / = + - @`; unique keys; no `aws:` prefix.
 * More than 10 object tags is `BadRequest`, not InvalidTag — what S3 answers.
 */
import type { ActionHandler, ActionSpec } from '../../core/index.js'
import type { S3Deps } from './actions.js'
import { requireBucket } from './buckets.js'
import type { Tag } from './catalog.js'
import { S3Errors } from './errors.js'
import { checkVersionId } from './objects.js'

const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u

export const MAX_OBJECT_TAGS = 10
export const MAX_BUCKET_TAGS = 50

/** Checks a tag set; `max` is 10 for objects and 50 for buckets. Returns it sorted by key, as S3 lists tags. */
export function validateTags (tags: Tag[], max: number): Tag[] {
  if (tags.length > max) {
    throw max === MAX_OBJECT_TAGS ? S3Errors.tooManyObjectTags() : S3Errors.invalidTag('Bucket tag count cannot be greater than 50')
  }
  const seen = new Set<string>()
  for (const { Key, Value } of tags) {
    if (Key.length < 1 || Key.length > 128 || !TAG_TEXT.test(Key)) throw S3Errors.invalidTag('The TagKey you have provided is invalid', { TagKey: Key })
    if (Value.length > 256 || !TAG_TEXT.test(Value)) throw S3Errors.invalidTag('The TagValue you have provided is invalid', { TagKey: Key, TagValue: Value })
    if (Key.startsWith('aws:')) throw S3Errors.invalidTag('Your TagKey cannot be prefixed with aws:', { TagKey: Key })
    if (seen.has(Key)) throw S3Errors.invalidTag('Cannot provide multiple Tags with the same key', { TagKey: Key })
    seen.add(Key)
  }
  return [...tags].sort((a, b) => a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0)
}

function formDecode (s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    throw S3Errors.invalidTaggingHeader()
  }
}

/**
 * The tags of an `x-amz-tagging` header: URL query form (`k1=v1&k2=v2`), a bare `k` being the
 * empty value. A pair with a second `=`, or a repeated key, is InvalidArgument as on S3.
 */
export function parseTaggingHeader (header: string | undefined): Tag[] {
  if (header === undefined || header.trim() === '') return []
  const tags: Tag[] = []
  const seen = new Set<string>()
  for (const pair of header.split('&')) {
    if (pair === '') continue
    const parts = pair.split('=')
    if (parts.length > 2) throw S3Errors.invalidTaggingHeader()
    const Key = formDecode(parts[0])
    if (seen.has(Key)) throw S3Errors.invalidTaggingHeader()
    seen.add(Key)
    tags.push({ Key, Value: formDecode(parts[1] ?? '') })
  }
  return validateTags(tags, MAX_OBJECT_TAGS)
}

/** The TagSet of a Put*Tagging body, each tag with both members (the model requires them). */
export function tagSetOf (tagging: unknown): Tag[] {
  const set = (tagging as { TagSet?: Array<Partial<Tag>> } | undefined)?.TagSet
  if (set === undefined) throw S3Errors.malformedXml()
  return set.map(t => {
    if (typeof t.Key !== 'string') throw S3Errors.malformedXml()
    return { Key: t.Key, Value: t.Value ?? '' }
  })
}

interface ObjectTaggingInput {
  Bucket: string
  Key: string
  VersionId?: string
  ExpectedBucketOwner?: string
  Tagging?: unknown
}

export const TAGGING_ACTIONS: Record<string, ActionSpec> = {
  GetObjectTagging: {},
  PutObjectTagging: {
    unsupported: ['ContentMD5', 'ChecksumAlgorithm'],
    note: 'The body\'s Content-MD5 and checksum are not verified: the core hands the handler the parsed document, not its bytes.'
  },
  DeleteObjectTagging: {}
}

export function taggingHandlers ({ catalog }: S3Deps): Record<string, ActionHandler> {
  return {
    GetObjectTagging: async (raw, ctx) => {
      const input = raw as unknown as ObjectTaggingInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      checkVersionId(input.VersionId)
      const record = await catalog.getObject(input.Bucket, input.Key)
      if (record === undefined) throw S3Errors.noSuchKey(input.Key)
      return { TagSet: record.tags }
    },

    PutObjectTagging: async (raw, ctx) => {
      const input = raw as unknown as ObjectTaggingInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      checkVersionId(input.VersionId)
      const tags = validateTags(tagSetOf(input.Tagging), MAX_OBJECT_TAGS)
      const updated = await catalog.updateObject(input.Bucket, input.Key, r => ({ ...r, tags }))
      if (updated === undefined) throw S3Errors.noSuchKey(input.Key)
      return {}
    },

    DeleteObjectTagging: async (raw, ctx) => {
      const input = raw as unknown as ObjectTaggingInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      checkVersionId(input.VersionId)
      const updated = await catalog.updateObject(input.Bucket, input.Key, r => ({ ...r, tags: [] }))
      if (updated === undefined) throw S3Errors.noSuchKey(input.Key)
      return {}
    }
  }
}
