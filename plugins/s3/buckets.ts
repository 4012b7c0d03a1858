/**
 * Buckets: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation and bucket
 * tagging. A Hive cluster is one region, so a bucket's LocationConstraint is that region's ('' in
 * us-east-1, as S3 records it), and the rules S3 applies to CreateBucket's constraint follow from
 * the region the request was signed for:
 *   - us-east-1: no constraint; naming us-east-1 itself is InvalidLocationConstraint;
 *   - elsewhere: the region's own name; none, or another region → IllegalLocationConstraintException.
 * Re-creating a bucket you own succeeds in us-east-1 (S3's legacy behaviour) and is
 * BucketAlreadyOwnedByYou elsewhere; someone else's is BucketAlreadyExists.
 */
import type { ActionContext, ActionHandler, ActionSpec } from '../../core/index.js'
import type { S3Deps } from './actions.js'
import type { BucketRecord, Catalog } from './catalog.js'
import { S3Errors } from './errors.js'
import { isValidBucketName } from './names.js'
import { abortUploadsOf } from './multipart.js'
import { MAX_BUCKET_TAGS, tagSetOf, validateTags } from './tagging.js'

const US_EAST_1 = 'us-east-1'
/** Region names (and S3's legacy `EU`): anything else is not a location S3 knows. */
const REGION_NAME = /^([a-z]{2}(-[a-z]+)+-\d+|EU)$/
const KV_KEY = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

/**
 * The bucket a request names, when the caller may use it: NoSuchBucket when there is none,
 * AccessDenied when another account owns it or it is not the ExpectedBucketOwner's.
 */
export async function requireBucket (catalog: Catalog, name: string, ctx: ActionContext, expectedOwner?: string, fresh = false): Promise<BucketRecord> {
  // Bucket names are KV keys: a name that could not be one is a bucket that does not exist.
  const bucket = KV_KEY.test(name) ? await catalog.getBucket(name, fresh) : undefined
  if (bucket === undefined) throw S3Errors.noSuchBucket(name)
  if (bucket.ownerId !== ctx.accountId) throw S3Errors.accessDenied()
  if (expectedOwner !== undefined && expectedOwner !== bucket.ownerId) throw S3Errors.accessDenied()
  return bucket
}

function checkConstraint (constraint: string | undefined, region: string): void {
  const given = constraint === '' ? undefined : constraint
  if (given !== undefined && !REGION_NAME.test(given)) throw S3Errors.invalidLocationConstraint(given)
  if (region === US_EAST_1) {
    if (given === US_EAST_1) throw S3Errors.invalidLocationConstraint(given)
    if (given !== undefined) throw S3Errors.illegalLocationConstraint(given)
    return
  }
  if (given !== region) throw S3Errors.illegalLocationConstraint(given)
}

interface BucketInput {
  Bucket: string
  ExpectedBucketOwner?: string
  CreateBucketConfiguration?: { LocationConstraint?: string }
  Tagging?: unknown
}

export const BUCKET_ACTIONS: Record<string, ActionSpec> = {
  ListBuckets: {},
  CreateBucket: {
    unsupported: ['ACL', 'GrantFullControl', 'GrantRead', 'GrantReadACP', 'GrantWrite', 'GrantWriteACP', 'ObjectLockEnabledForBucket', 'ObjectOwnership'],
    note: 'A Hive cluster is one region: the LocationConstraint must be the region the request was signed for (none in us-east-1).'
  },
  HeadBucket: {},
  DeleteBucket: { note: 'Multipart uploads still in progress are aborted with the bucket.' },
  GetBucketLocation: {},
  GetBucketTagging: {},
  PutBucketTagging: {
    unsupported: ['ContentMD5', 'ChecksumAlgorithm'],
    note: 'The body\'s Content-MD5 and checksum are not verified: the core hands the handler the parsed document, not its bytes.'
  },
  DeleteBucketTagging: {}
}

export function bucketHandlers (deps: S3Deps): Record<string, ActionHandler> {
  const { catalog } = deps
  return {
    ListBuckets: async (_input, ctx) => {
      const buckets = (await catalog.buckets.list()).map(b => b.value).filter(b => b.ownerId === ctx.accountId)
      return { Buckets: buckets.map(b => ({ Name: b.name, CreationDate: new Date(b.createdAt) })), Owner: { ID: ctx.accountId } }
    },

    CreateBucket: async (raw, ctx) => {
      const input = raw as unknown as BucketInput
      if (!isValidBucketName(input.Bucket)) throw S3Errors.invalidBucketName(input.Bucket)
      checkConstraint(input.CreateBucketConfiguration?.LocationConstraint, ctx.region)
      const record: BucketRecord = {
        name: input.Bucket,
        region: ctx.region === US_EAST_1 ? '' : ctx.region,
        createdAt: new Date().toISOString(),
        ownerId: ctx.accountId
      }
      if (await catalog.buckets.create(input.Bucket, record) === undefined) {
        const existing = (await catalog.buckets.get(input.Bucket))?.value
        if (existing !== undefined && existing.ownerId !== ctx.accountId) throw S3Errors.bucketAlreadyExists(input.Bucket)
        if (ctx.region !== US_EAST_1) throw S3Errors.bucketAlreadyOwnedByYou(input.Bucket)
      }
      return { Location: `/${input.Bucket}` }
    },

    HeadBucket: async (raw, ctx) => {
      const input = raw as unknown as BucketInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      return {}
    },

    DeleteBucket: async (raw, ctx) => {
      const input = raw as unknown as BucketInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      if (!await catalog.isEmpty(input.Bucket)) throw S3Errors.bucketNotEmpty(input.Bucket)
      await abortUploadsOf(deps, input.Bucket)
      await catalog.buckets.delete(input.Bucket)
      catalog.forgetBucket(input.Bucket)
      return {}
    },

    GetBucketLocation: async (raw, ctx) => {
      const input = raw as unknown as BucketInput
      const bucket = await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      return { LocationConstraint: bucket.region }
    },

    GetBucketTagging: async (raw, ctx) => {
      const input = raw as unknown as BucketInput
      const bucket = await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner, true)
      if (bucket.tags === undefined || bucket.tags.length === 0) throw S3Errors.noSuchTagSet(input.Bucket)
      return { TagSet: bucket.tags }
    },

    PutBucketTagging: async (raw, ctx) => {
      const input = raw as unknown as BucketInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      const tags = validateTags(tagSetOf(input.Tagging), MAX_BUCKET_TAGS)
      const updated = await catalog.buckets.modify(input.Bucket, b => b === undefined ? undefined : { ...b, tags })
      if (updated === undefined) throw S3Errors.noSuchBucket(input.Bucket)
      return {}
    },

    DeleteBucketTagging: async (raw, ctx) => {
      const input = raw as unknown as BucketInput
      await requireBucket(catalog, input.Bucket, ctx, input.ExpectedBucketOwner)
      await catalog.buckets.modify(input.Bucket, b => {
        if (b === undefined || b.tags === undefined) return undefined
        const { tags: _, ...rest } = b
        return rest
      })
      return {}
    }
  }
}
