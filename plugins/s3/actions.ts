/**
 * The S3 API: every operation the capability serves, gathered from its resource families —
 * buckets.ts, objects.ts, listing.ts, multipart.ts, tagging.ts — with what docs/COMPATIBILITY.md
 * says of each.
 */
import type { ActionHandler, ActionSpec, NodeInfo } from '../../core/index.js'
import type { Logger } from 'pino'
import type { BlobStore } from './blobs.js'
import { BUCKET_ACTIONS, bucketHandlers } from './buckets.js'
import type { Catalog } from './catalog.js'
import { LISTING_ACTIONS, listingHandlers } from './listing.js'
import type { Md5Worker } from './md5-worker.js'
import { MULTIPART_ACTIONS, multipartHandlers } from './multipart.js'
import { OBJECT_ACTIONS, objectHandlers } from './objects.js'
import { TAGGING_ACTIONS, taggingHandlers } from './tagging.js'

/** What every s3 action handler works with. */
export interface S3Deps {
  catalog: Catalog
  blobs: BlobStore
  md5: Md5Worker
  node: NodeInfo
  log: Logger
}

/** The S3 operations this capability serves, with what docs/COMPATIBILITY.md says of each. */
export const S3_ACTIONS: Record<string, ActionSpec> = {
  ...BUCKET_ACTIONS,
  ...OBJECT_ACTIONS,
  ...LISTING_ACTIONS,
  ...MULTIPART_ACTIONS,
  ...TAGGING_ACTIONS
}

export function s3Handlers (deps: S3Deps): Record<string, ActionHandler> {
  return {
    ...bucketHandlers(deps),
    ...objectHandlers(deps),
    ...listingHandlers(deps),
    ...multipartHandlers(deps),
    ...taggingHandlers(deps)
  }
}
