/**
 * hive-cloud's public plugin API: everything a capability plugin — built-in or third-party — may
 * import. Plugins import this module (as 'hive-cloud' from outside the repo) and nothing else of
 * the core. See docs/PLUGINS.md.
 */
import type { Bus } from './bus.js'
import type { NodeInfo } from './capability.js'
import type { KvStore } from './kv.js'
import type { Logger } from 'pino'

export { defineCapability } from './capability.js'
export type { ActionSpec, Capability, CapabilityDefinition, Hive, NodeInfo, ServiceSpec } from './capability.js'
export type { ActionContext, ActionHandler, ActionInput, ActionOutput, Bus, NodeHandler, NodeMessage, RequestContext, ServeOptions } from './bus.js'
export { NodeCallError, requestContextOf } from './bus.js'
export { progressBar, progressReporter } from './admin.js'
export type { AdminCommand, AdminContext } from './admin.js'
export { BlockStore, crc32c, ReedSolomon, readWal, readWalRecord, readWalRecordInto, Wal, walRecordSpan } from './native.js'
export type { BlockStoreOptions, BlockStoreStats, BlockStoreTake, WalLocation, WalOptions, WalReadErrorCode, WalRecord } from './native.js'
export { AwsError, CoreErrors, isAwsError } from './errors.js'
export type { AwsErrorJSON } from './errors.js'
export { Bucket, KvStore, RevisionConflict } from './kv.js'
export type { BucketOptions, Versioned } from './kv.js'
export type { NodeRecord } from './nodes.js'
export { kvBucketName } from './subjects.js'
export { matchFilters } from './filters.js'
export type { Filter, FilterFields } from './filters.js'
export { paginate } from './pagination.js'
export { inParallel } from './parallel.js'
export type { Page, PageLimits, PageRequest } from './pagination.js'
export { checkTag, MAX_TAGS, resourcePrefix, serveTaggedResources, taggedResourceExists, TagErrors, tagsForResource, TagStore } from './tags.js'
export type { Tag, TagSpecification } from './tags.js'

declare module '@fastify/awilix' {
  /** What the core puts in every capability's container; plugins add their own services beside these. */
  interface Cradle {
    node: NodeInfo
    bus: Bus
    kv: KvStore
    log: Logger
  }
}
