/**
 * Volumes: CreateVolume, DeleteVolume, DescribeVolumes, ModifyVolume and its
 * DescribeVolumesModifications, DescribeVolumeStatus and the volume attributes. The volume's blocks
 * are the data plane's; these handlers keep the record (records.ts) and ask the data plane to
 * create, grow and drop the store.
 *
 * Volume types and their limits are AWS's (EC2 API reference, CreateVolume and ModifyVolume).
 */
import {
  matchFilters, paginate, tagsForResource, type ActionHandler, type ActionSpec, type Filter, type FilterFields, type Tag, type TagSpecification
} from '../../core/index.js'
import { encryptionFor } from './encryption.js'
import { EbsErrors } from './errors.js'
import {
  attachmentOutput, checkSnapshotId, checkVolumeId, clientTokenKey, fingerprint, GIB, newVolumeId, pageSize, regionZones,
  type EbsDeps, type ModificationRecord, type Performance, type VolumeRecord, type VolumeType
} from './records.js'
import { visibleTo } from './snapshots.js'

interface TypeLimits {
  minSize: number
  maxSize: number
  /** Provisioned IOPS: its range, the default (absent: Iops is required) and the IOPS:GiB ceiling. */
  iops?: { min: number, max: number, default?: number, perGiB: number }
  /** gp3's throughput: its range, default and the MiB/s-per-IOPS ceiling. */
  throughput?: { min: number, max: number, default: number, perIops: number }
  multiAttach: boolean
}

/**
 * AWS's limits per type. io2 is io2 Block Express (every io2 volume since April 2025): up to
 * 64 TiB and 256,000 IOPS at 1,000 IOPS per GiB. The IOPS and throughput floors (3,000 and
 * 125 MiB/s on gp3) hold at any size; the ratios bind only above them.
 */
const VOLUME_TYPES: Record<VolumeType, TypeLimits> = {
  gp2: { minSize: 1, maxSize: 16384, multiAttach: false },
  gp3: {
    minSize: 1,
    maxSize: 16384,
    iops: { min: 3000, max: 16000, default: 3000, perGiB: 500 },
    throughput: { min: 125, max: 1000, default: 125, perIops: 0.25 },
    multiAttach: false
  },
  io1: { minSize: 4, maxSize: 16384, iops: { min: 100, max: 64000, perGiB: 50 }, multiAttach: true },
  io2: { minSize: 4, maxSize: 65536, iops: { min: 100, max: 256000, perGiB: 1000 }, multiAttach: true },
  st1: { minSize: 125, maxSize: 16384, multiAttach: false },
  sc1: { minSize: 125, maxSize: 16384, multiAttach: false },
  standard: { minSize: 1, maxSize: 1024, multiAttach: false }
}

function volumeTypeOf (name: string): VolumeType {
  if (!Object.hasOwn(VOLUME_TYPES, name)) throw EbsErrors.unknownVolumeType(name)
  return name as VolumeType
}

/** Checks a volume's performance settings against its type's limits. */
function checkPerformance (p: Performance): void {
  const limits = VOLUME_TYPES[p.volumeType]
  if (p.size < limits.minSize) throw EbsErrors.volumeTooSmall(p.size, limits.minSize)
  if (p.size > limits.maxSize) throw EbsErrors.volumeTooLarge(p.size, limits.maxSize)
  if (limits.iops === undefined) {
    if (p.iops !== undefined) throw EbsErrors.iopsNotSupported(p.volumeType)
  } else {
    if (p.iops === undefined) throw EbsErrors.iopsRequired(p.volumeType)
    if (p.iops < limits.iops.min) throw EbsErrors.iopsTooLow(p.iops, limits.iops.min)
    if (p.iops > limits.iops.max) throw EbsErrors.iopsTooHigh(p.iops, limits.iops.max)
    const floor = limits.iops.default ?? 0
    if (p.iops > floor && p.iops / p.size > limits.iops.perGiB) throw EbsErrors.iopsRatio(p.iops / p.size, limits.iops.perGiB)
  }
  if (limits.throughput === undefined) {
    if (p.throughput !== undefined) throw EbsErrors.throughputNotSupported(p.volumeType)
  } else if (p.throughput !== undefined) {
    const t = limits.throughput
    if (p.throughput < t.min) throw EbsErrors.throughputTooLow(p.throughput, t.min)
    if (p.throughput > t.max) throw EbsErrors.throughputTooHigh(p.throughput, t.max)
    const iops = p.iops ?? 0
    if (p.throughput > t.default && p.throughput / iops > t.perIops) throw EbsErrors.throughputRatio(p.throughput / iops, t.perIops)
  }
  if (p.multiAttachEnabled && !limits.multiAttach) throw EbsErrors.multiAttachNotSupported(p.volumeType)
}

/** gp2's IOPS: a baseline of 3 per GiB, between 100 and 16,000. */
function iopsOf (p: Performance): number | undefined {
  if (p.volumeType === 'gp2') return Math.min(16000, Math.max(100, 3 * p.size))
  return p.iops
}

export function volumeOutput (v: VolumeRecord, tags: Tag[]): Record<string, unknown> {
  const out: Record<string, unknown> = {
    VolumeId: v.volumeId,
    Size: v.size,
    SnapshotId: v.snapshotId ?? '',
    AvailabilityZone: v.availabilityZone,
    State: v.state,
    CreateTime: new Date(v.createTime),
    Attachments: v.attachments.map(a => attachmentOutput(v.volumeId, a)),
    Encrypted: v.encrypted,
    VolumeType: v.volumeType,
    MultiAttachEnabled: v.multiAttachEnabled
  }
  if (v.kmsKeyId !== undefined) out.KmsKeyId = v.kmsKeyId
  const iops = iopsOf(v)
  if (iops !== undefined) out.Iops = iops
  if (v.throughput !== undefined) out.Throughput = v.throughput
  if (tags.length > 0) out.Tags = tags
  return out
}

function modificationOutput (volumeId: string, m: ModificationRecord): Record<string, unknown> {
  const perf = (p: Performance, prefix: 'Original' | 'Target'): Record<string, unknown> => {
    const out: Record<string, unknown> = {
      [`${prefix}Size`]: p.size,
      [`${prefix}VolumeType`]: p.volumeType,
      [`${prefix}MultiAttachEnabled`]: p.multiAttachEnabled
    }
    const iops = iopsOf(p)
    if (iops !== undefined) out[`${prefix}Iops`] = iops
    if (p.throughput !== undefined) out[`${prefix}Throughput`] = p.throughput
    return out
  }
  const out: Record<string, unknown> = {
    VolumeId: volumeId,
    ModificationState: m.state,
    ...perf(m.target, 'Target'),
    ...perf(m.original, 'Original'),
    Progress: m.progress,
    StartTime: new Date(m.startTime)
  }
  if (m.endTime !== undefined) out.EndTime = new Date(m.endTime)
  if (m.statusMessage !== undefined) out.StatusMessage = m.statusMessage
  return out
}

const VOLUME_FILTERS: FilterFields<VolumeRecord> = {
  'attachment.attach-time': v => v.attachments.map(a => a.attachTime),
  'attachment.delete-on-termination': v => v.attachments.map(a => a.deleteOnTermination),
  'attachment.device': v => v.attachments.map(a => a.device),
  'attachment.instance-id': v => v.attachments.map(a => a.instanceId),
  'attachment.status': v => v.attachments.map(a => a.state),
  'availability-zone': v => v.availabilityZone,
  'create-time': v => v.createTime,
  encrypted: v => v.encrypted,
  'fast-restored': () => false,
  'kms-key-id': v => v.kmsKeyId,
  'multi-attach-enabled': v => v.multiAttachEnabled,
  size: v => v.size,
  'snapshot-id': v => v.snapshotId ?? '',
  status: v => v.state,
  'volume-id': v => v.volumeId,
  'volume-type': v => v.volumeType
}

const MODIFICATION_FILTERS: FilterFields<VolumeRecord> = {
  'modification-state': v => v.modification?.state,
  'original-iops': v => v.modification === undefined ? undefined : iopsOf(v.modification.original),
  'original-multi-attach-enabled': v => v.modification?.original.multiAttachEnabled,
  'original-size': v => v.modification?.original.size,
  'original-volume-type': v => v.modification?.original.volumeType,
  'start-time': v => v.modification?.startTime,
  'target-iops': v => v.modification === undefined ? undefined : iopsOf(v.modification.target),
  'target-multi-attach-enabled': v => v.modification?.target.multiAttachEnabled,
  'target-size': v => v.modification?.target.size,
  'target-throughput': v => v.modification?.target.throughput,
  'target-volume-type': v => v.modification?.target.volumeType,
  'volume-id': v => v.volumeId
}

/** A volume's health: impaired once its store failed, else ok with I/O enabled. */
function statusOf (v: VolumeRecord): { status: string, ioEnabled: string, ioPerformance: string } {
  const provisioned = v.volumeType === 'io1' || v.volumeType === 'io2'
  if (v.state === 'error') return { status: 'impaired', ioEnabled: 'failed', ioPerformance: provisioned ? 'severely-degraded' : 'not-applicable' }
  return { status: 'ok', ioEnabled: 'passed', ioPerformance: provisioned ? 'normal' : 'not-applicable' }
}

const STATUS_FILTERS: FilterFields<VolumeRecord> = {
  'availability-zone': v => v.availabilityZone,
  'volume-id': v => v.volumeId,
  'volume-status.status': v => statusOf(v).status,
  'volume-status.details-name': () => ['io-enabled', 'io-performance'],
  'volume-status.details-status': v => [statusOf(v).ioEnabled, statusOf(v).ioPerformance],
  'action.code': () => undefined,
  'action.description': () => undefined,
  'action.event-id': () => undefined,
  'event.description': () => undefined,
  'event.event-id': () => undefined,
  'event.event-type': () => undefined,
  'event.not-after': () => undefined,
  'event.not-before': () => undefined
}

interface DescribeInput {
  VolumeIds?: string[]
  Filters?: Filter[]
  MaxResults?: number
  NextToken?: string
}

const ORDER = (a: VolumeRecord, b: VolumeRecord): number => a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0

/** The account's volumes a describe names (all of them when it names none), sorted by id. */
async function selectVolumes (deps: EbsDeps, accountId: string, ids: string[] | undefined, missing: 'fail' | 'skip' = 'fail'): Promise<VolumeRecord[]> {
  for (const id of ids ?? []) checkVolumeId(id)
  const all = (await deps.store.accountVolumes(accountId)).sort(ORDER)
  if (ids === undefined || ids.length === 0) return all
  const unknown = [...new Set(ids)].filter(id => !all.some(v => v.volumeId === id))
  if (unknown.length > 0 && missing === 'fail') throw EbsErrors.volumeNotFound(unknown)
  return all.filter(v => ids.includes(v.volumeId))
}

interface CreateVolumeInput {
  AvailabilityZone: string
  Size?: number
  SnapshotId?: string
  VolumeType?: string
  Iops?: number
  Throughput?: number
  MultiAttachEnabled?: boolean
  Encrypted?: boolean
  KmsKeyId?: string
  TagSpecifications?: TagSpecification[]
  ClientToken?: string
}

interface ModifyVolumeInput {
  VolumeId: string
  Size?: number
  VolumeType?: string
  Iops?: number
  Throughput?: number
  MultiAttachEnabled?: boolean
}

const OUTPOSTS = 'Hive has no Outposts.'

export const VOLUME_ACTIONS: Record<string, ActionSpec> = {
  CreateVolume: {
    unsupported: ['OutpostArn'],
    note: 'All seven volume types with AWS\'s size, IOPS and throughput limits (IOPS and throughput are recorded, not enforced on I/O). The volume\'s blocks live on the node that handles the request. Encrypted/KmsKeyId are recorded; blocks are not encrypted. ' + OUTPOSTS
  },
  DeleteVolume: {},
  DescribeVolumes: {},
  ModifyVolume: {
    note: 'Growing a volume resizes its store; type, IOPS and throughput changes are recorded. The modification goes modifying → optimizing → completed as soon as the store has grown; one modification at a time (IncorrectModificationState), and no 6-hour wait between modifications.'
  },
  DescribeVolumesModifications: { note: 'Each volume\'s latest modification.' },
  DescribeVolumeStatus: { note: 'ok with I/O enabled, or impaired when the volume\'s store failed; no scheduled events or actions.' },
  DescribeVolumeAttribute: {},
  ModifyVolumeAttribute: { note: 'autoEnableIO is recorded: Hive never disables a volume\'s I/O.' }
}

export function volumeHandlers (deps: EbsDeps): Record<string, ActionHandler> {
  const { store, data, hive } = deps

  /** The volume's record and tags as CreateVolume makes them, after every check the request must pass. */
  const plan = async (input: CreateVolumeInput, accountId: string): Promise<{ record: VolumeRecord, tags: Tag[] }> => {
    if (!(await regionZones(hive)).has(input.AvailabilityZone)) throw EbsErrors.zoneNotFound(input.AvailabilityZone)
    const volumeType = volumeTypeOf(input.VolumeType ?? 'gp2')
    if (input.Size === undefined && input.SnapshotId === undefined) throw EbsErrors.sizeOrSnapshotRequired()
    let source: { snapshotId: string, size: number, encrypted: boolean, kmsKeyId?: string } | undefined
    if (input.SnapshotId !== undefined) {
      checkSnapshotId(input.SnapshotId)
      const snap = (await store.snapshots.get(input.SnapshotId))?.value
      if (snap === undefined || !visibleTo(snap, accountId)) throw EbsErrors.snapshotNotFound([input.SnapshotId])
      if (snap.state !== 'completed') throw EbsErrors.snapshotNotCompleted(snap.snapshotId, snap.state)
      source = { snapshotId: snap.snapshotId, size: snap.volumeSize, encrypted: snap.encrypted, kmsKeyId: snap.kmsKeyId }
      if (input.Size !== undefined && input.Size < snap.volumeSize) throw EbsErrors.smallerThanSnapshot(input.Size, snap.snapshotId, snap.volumeSize)
    }
    const limits = VOLUME_TYPES[volumeType]
    const perf: Performance = {
      size: input.Size ?? source?.size ?? 0,
      volumeType,
      multiAttachEnabled: input.MultiAttachEnabled === true
    }
    const iops = input.Iops ?? limits.iops?.default
    if (iops !== undefined) perf.iops = iops
    const throughput = input.Throughput ?? limits.throughput?.default
    if (throughput !== undefined) perf.throughput = throughput
    checkPerformance(perf)
    const tags = tagsForResource(input.TagSpecifications, 'volume')
    const encryption = await encryptionFor(deps, accountId, input, source)
    const record: VolumeRecord = {
      ...perf,
      volumeId: newVolumeId(),
      ownerId: accountId,
      node: hive.node.nodeId,
      availabilityZone: input.AvailabilityZone,
      state: 'creating',
      createTime: new Date().toISOString(),
      encrypted: encryption.encrypted,
      attachments: [],
      autoEnableIO: false
    }
    if (encryption.kmsKeyId !== undefined) record.kmsKeyId = encryption.kmsKeyId
    if (source !== undefined) record.snapshotId = source.snapshotId
    return { record, tags }
  }

  /**
   * The state a modification moves to once the store has grown (or failed to): the volume takes
   * its new settings when optimizing starts, as on AWS. Nothing in Hive needs optimizing, so it
   * completes at once.
   */
  const finishModification = async (volumeId: string, accountId: string, failure?: string): Promise<void> => {
    // A volume deleted while its store grew has nothing left to update.
    const step = async (fn: (v: VolumeRecord, m: ModificationRecord) => VolumeRecord): Promise<void> => {
      await store.volumes.modify(volumeId, v => v?.modification === undefined || v.ownerId !== accountId ? undefined : fn(v, v.modification))
    }
    const now = (): string => new Date().toISOString()
    if (failure !== undefined) {
      await step((v, m) => ({ ...v, modification: { ...m, state: 'failed', statusMessage: failure, endTime: now() } }))
      return
    }
    await step((v, m) => ({ ...v, ...m.target, modification: { ...m, state: 'optimizing', progress: 0 } }))
    await step((v, m) => ({ ...v, modification: { ...m, state: 'completed', progress: 100, endTime: now() } }))
  }

  return {
    CreateVolume: async (raw, ctx) => {
      const input = raw as unknown as CreateVolumeInput
      const { record, tags } = await plan(input, ctx.accountId)
      const response = volumeOutput(record, tags)
      if (input.ClientToken !== undefined && input.ClientToken !== '') {
        const key = clientTokenKey(ctx.accountId, input.ClientToken)
        const print = fingerprint(raw, ['ClientToken', 'DryRun'])
        if (await store.tokens.create(key, { fingerprint: print, response }) === undefined) {
          const first = (await store.tokens.get(key))?.value
          if (first !== undefined && first.fingerprint !== print) throw EbsErrors.idempotentMismatch()
          if (first !== undefined) return first.response
        }
      }
      await store.volumes.create(record.volumeId, record)
      await store.tags.put(ctx.accountId, record.volumeId, tags)
      let state: VolumeRecord['state'] = 'available'
      try {
        await data.createVolume(record.volumeId, record.size * GIB, record.snapshotId)
      } catch (err) {
        ctx.log.error({ err, volumeId: record.volumeId }, 'creating the volume\'s store failed')
        state = 'error'
      }
      await store.modifyVolume(record.volumeId, ctx.accountId, v => ({ ...v, state }))
      // AWS answers while the volume is still being created; DescribeVolumes shows it available.
      return response
    },

    DeleteVolume: async (raw, ctx) => {
      const volumeId = String(raw.VolumeId)
      let before: VolumeRecord['state'] = 'available'
      const v = await store.modifyVolume(volumeId, ctx.accountId, cur => {
        if (cur.attachments.length > 0) throw EbsErrors.volumeInUse(volumeId, cur.attachments[0].instanceId)
        if (cur.state !== 'available' && cur.state !== 'error') throw EbsErrors.volumeState(volumeId, cur.state)
        before = cur.state
        return { ...cur, state: 'deleting' }
      })
      try {
        await data.deleteVolume(volumeId, v.node)
      } catch (err) {
        // The store is still there: the volume is too, and a later DeleteVolume tries again.
        await store.modifyVolume(volumeId, ctx.accountId, cur => ({ ...cur, state: before }))
        throw err
      }
      await store.volumes.delete(volumeId)
      await store.tags.drop(ctx.accountId, volumeId)
      return {}
    },

    DescribeVolumes: async (raw, ctx) => {
      const input = raw as DescribeInput
      if (input.MaxResults !== undefined && (input.VolumeIds?.length ?? 0) > 0) throw EbsErrors.maxResultsWithIds('volumeSet')
      const size = pageSize(input.MaxResults, 5, 500)
      const selected = await selectVolumes(deps, ctx.accountId, input.VolumeIds)
      const tags = await store.tags.getMany(ctx.accountId, selected.map(v => v.volumeId))
      const tagsOf = (v: VolumeRecord): Tag[] => tags.get(v.volumeId) ?? []
      const volumes = matchFilters(selected, input.Filters, VOLUME_FILTERS, tagsOf)
      const page = paginate(volumes, { MaxResults: size, NextToken: input.NextToken }, { pageSize: size }, v => v.volumeId)
      return { Volumes: page.items.map(v => volumeOutput(v, tagsOf(v))), ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken }) }
    },

    ModifyVolume: async (raw, ctx) => {
      const input = raw as unknown as ModifyVolumeInput
      if (input.Size === undefined && input.VolumeType === undefined && input.Iops === undefined &&
        input.Throughput === undefined && input.MultiAttachEnabled === undefined) throw EbsErrors.nothingToModify()
      const targetType = input.VolumeType === undefined ? undefined : volumeTypeOf(input.VolumeType)
      let grows = false
      const v = await store.modifyVolume(input.VolumeId, ctx.accountId, cur => {
        if (cur.state !== 'available' && cur.state !== 'in-use') throw EbsErrors.volumeState(cur.volumeId, cur.state)
        const busy = cur.modification?.state
        if (busy === 'modifying' || busy === 'optimizing') throw EbsErrors.modificationInProgress(cur.volumeId, busy)
        if (input.Size !== undefined && input.Size < cur.size) throw EbsErrors.sizeShrink()
        const original: Performance = { size: cur.size, volumeType: cur.volumeType, multiAttachEnabled: cur.multiAttachEnabled }
        if (cur.iops !== undefined) original.iops = cur.iops
        if (cur.throughput !== undefined) original.throughput = cur.throughput
        const volumeType = targetType ?? cur.volumeType
        const limits = VOLUME_TYPES[volumeType]
        const sameType = volumeType === cur.volumeType
        const target: Performance = { size: input.Size ?? cur.size, volumeType, multiAttachEnabled: input.MultiAttachEnabled ?? cur.multiAttachEnabled }
        // A kept type keeps its IOPS and throughput; a new one starts from its defaults (3,000 IOPS for io1/io2 too).
        const iops = input.Iops ?? (limits.iops === undefined ? undefined : sameType ? cur.iops : limits.iops.default ?? 3000)
        if (iops !== undefined) target.iops = iops
        const throughput = input.Throughput ?? (limits.throughput === undefined ? undefined : sameType ? cur.throughput : limits.throughput.default)
        if (throughput !== undefined) target.throughput = throughput
        checkPerformance(target)
        grows = target.size > cur.size
        return { ...cur, modification: { state: 'modifying', original, target, progress: 0, startTime: new Date().toISOString() } }
      })
      const accountId = ctx.accountId
      deps.background(async () => {
        let failure: string | undefined
        if (grows) {
          try {
            await data.resizeVolume(v.volumeId, v.node, (v.modification?.target.size ?? v.size) * GIB)
          } catch (err) {
            deps.log.error({ err, volumeId: v.volumeId }, 'growing the volume\'s store failed')
            failure = 'The volume\'s store could not be grown.'
          }
        }
        await finishModification(v.volumeId, accountId, failure)
      })
      return { VolumeModification: modificationOutput(v.volumeId, v.modification as ModificationRecord) }
    },

    DescribeVolumesModifications: async (raw, ctx) => {
      const input = raw as DescribeInput
      const size = pageSize(input.MaxResults, 5, 500)
      const selected = await selectVolumes(deps, ctx.accountId, input.VolumeIds)
      const unmodified = (input.VolumeIds ?? []).find(id => selected.some(v => v.volumeId === id && v.modification === undefined))
      if (unmodified !== undefined) throw EbsErrors.modificationNotFound(unmodified)
      const volumes = matchFilters(selected.filter(v => v.modification !== undefined), input.Filters, MODIFICATION_FILTERS)
      const page = paginate(volumes, { MaxResults: size, NextToken: input.NextToken }, { pageSize: size }, v => v.volumeId)
      return {
        VolumesModifications: page.items.map(v => modificationOutput(v.volumeId, v.modification as ModificationRecord)),
        ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken })
      }
    },

    DescribeVolumeStatus: async (raw, ctx) => {
      const input = raw as DescribeInput
      if (input.MaxResults !== undefined && (input.VolumeIds?.length ?? 0) > 0) throw EbsErrors.maxResultsWithIds('volumeSet')
      const size = pageSize(input.MaxResults, 5, 1000)
      const volumes = matchFilters(await selectVolumes(deps, ctx.accountId, input.VolumeIds), input.Filters, STATUS_FILTERS)
      const page = paginate(volumes, { MaxResults: size, NextToken: input.NextToken }, { pageSize: size }, v => v.volumeId)
      return {
        VolumeStatuses: page.items.map(v => {
          const s = statusOf(v)
          return {
            VolumeId: v.volumeId,
            AvailabilityZone: v.availabilityZone,
            VolumeStatus: { Status: s.status, Details: [{ Name: 'io-enabled', Status: s.ioEnabled }, { Name: 'io-performance', Status: s.ioPerformance }] },
            Actions: [],
            Events: [],
            AttachmentStatuses: []
          }
        }),
        ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken })
      }
    },

    DescribeVolumeAttribute: async (raw, ctx) => {
      const v = await store.volume(String(raw.VolumeId), ctx.accountId)
      if (raw.Attribute === 'autoEnableIO') return { VolumeId: v.volumeId, AutoEnableIO: { Value: v.autoEnableIO } }
      if (raw.Attribute === 'productCodes') return { VolumeId: v.volumeId, ProductCodes: [] }
      throw EbsErrors.invalidAttribute(String(raw.Attribute))
    },

    ModifyVolumeAttribute: async (raw, ctx) => {
      const value = (raw.AutoEnableIO as { Value?: boolean } | undefined)?.Value
      checkVolumeId(String(raw.VolumeId))
      if (value === undefined) throw EbsErrors.noAttribute()
      await store.modifyVolume(String(raw.VolumeId), ctx.accountId, v => ({ ...v, autoEnableIO: value }))
      return {}
    }
  }
}
