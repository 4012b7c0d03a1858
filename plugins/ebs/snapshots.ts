/**
 * Snapshots: CreateSnapshot(s), CopySnapshot, DeleteSnapshot, DescribeSnapshots and the snapshot
 * attributes. A snapshot is 'pending' from the moment it is asked for, as on AWS, while the data
 * plane freezes the volume's blocks in the background; then 'completed' (or 'error', with the
 * reason in StateMessage).
 */
import {
  CoreErrors, matchFilters, paginate, RevisionConflict, tagsForResource,
  type ActionContext, type ActionHandler, type ActionSpec, type Filter, type FilterFields, type Tag, type TagSpecification
} from '../../core/index.js'
import { imagesUsing, instanceVolumes } from './attachments.js'
import { encryptionFor } from './encryption.js'
import { EbsErrors } from './errors.js'
import {
  checkInstanceId, checkSnapshotId, newSnapshotId, pageSize,
  type CreateVolumePermission, type EbsDeps, type SnapshotRecord, type VolumeRecord
} from './records.js'

/** Whether `accountId` may see the snapshot and create volumes from it. */
export function visibleTo (s: SnapshotRecord, accountId: string): boolean {
  return s.ownerId === accountId || s.createVolumePermissions.some(p => p.Group === 'all' || p.UserId === accountId)
}

function snapshotOutput (s: SnapshotRecord, tags: Tag[]): Record<string, unknown> {
  const out: Record<string, unknown> = {
    SnapshotId: s.snapshotId,
    VolumeId: s.volumeId,
    // A direct-API snapshot not completed within its Timeout has failed (direct.ts).
    State: s.state === 'pending' && s.expiresAt !== undefined && Date.parse(s.expiresAt) < Date.now() ? 'error' : s.state,
    StartTime: new Date(s.startTime),
    Progress: s.progress,
    OwnerId: s.ownerId,
    Description: s.description,
    VolumeSize: s.volumeSize,
    Encrypted: s.encrypted,
    StorageTier: 'standard'
  }
  if (s.kmsKeyId !== undefined) out.KmsKeyId = s.kmsKeyId
  if (s.stateMessage !== undefined) out.StateMessage = s.stateMessage
  if (tags.length > 0) out.Tags = tags
  return out
}

const SNAPSHOT_FILTERS: FilterFields<SnapshotRecord> = {
  description: s => s.description,
  encrypted: s => s.encrypted,
  'kms-key-id': s => s.kmsKeyId,
  'owner-alias': () => undefined,
  'owner-id': s => s.ownerId,
  progress: s => s.progress,
  'snapshot-id': s => s.snapshotId,
  'start-time': s => s.startTime,
  status: s => s.state,
  'storage-tier': () => 'standard',
  'volume-id': s => s.volumeId,
  'volume-size': s => s.volumeSize
}

interface DescribeSnapshotsInput {
  SnapshotIds?: string[]
  OwnerIds?: string[]
  RestorableByUserIds?: string[]
  Filters?: Filter[]
  MaxResults?: number
  NextToken?: string
}

interface CopySnapshotInput {
  SourceSnapshotId: string
  SourceRegion: string
  DestinationRegion?: string
  Description?: string
  Encrypted?: boolean
  KmsKeyId?: string
  TagSpecifications?: TagSpecification[]
}

interface ModifySnapshotAttributeInput {
  SnapshotId: string
  Attribute?: string
  OperationType?: 'add' | 'remove'
  UserIds?: string[]
  GroupNames?: string[]
  CreateVolumePermission?: { Add?: CreateVolumePermission[], Remove?: CreateVolumePermission[] }
}

const OUTPOSTS = 'Hive has no Outposts.'

export const SNAPSHOT_ACTIONS: Record<string, ActionSpec> = {
  CreateSnapshot: { unsupported: ['OutpostArn'], note: 'The snapshot is pending while the data plane freezes the volume\'s blocks, then completed. ' + OUTPOSTS },
  CreateSnapshots: {
    unsupported: ['OutpostArn'],
    note: 'The instance\'s volumes come from the ec2 capability (no instance known → InvalidInstanceID.NotFound). ' + OUTPOSTS
  },
  DeleteSnapshot: { note: 'A snapshot a registered AMI uses → InvalidSnapshot.InUse (asked of the ec2 capability).' },
  DescribeSnapshots: { note: 'Snapshots the account owns or may restore (createVolumePermission). No public AWS snapshots exist in Hive.' },
  CopySnapshot: {
    unsupported: ['DestinationOutpostArn', 'PresignedUrl'],
    note: 'Within the cluster\'s region only (SourceRegion must be it). The copy shares the source\'s blocks; its tags are TagSpecifications\', as on AWS.'
  },
  DescribeSnapshotAttribute: {},
  ModifySnapshotAttribute: { note: 'createVolumePermission by account id or the group all; productCodes cannot be modified (as on AWS).' },
  ResetSnapshotAttribute: {}
}

export function snapshotHandlers (deps: EbsDeps): Record<string, ActionHandler> {
  const { store, data, hive } = deps

  const owned = async (snapshotId: string, accountId: string): Promise<SnapshotRecord> => {
    checkSnapshotId(snapshotId)
    const s = (await store.snapshots.get(snapshotId))?.value
    if (s === undefined || s.ownerId !== accountId) throw EbsErrors.snapshotNotFound([snapshotId])
    return s
  }

  /**
   * Records a pending snapshot and completes it once `freeze` (the data plane's work) has. A
   * snapshot deleted while pending has its blocks dropped as soon as they exist.
   */
  const start = async (record: SnapshotRecord, freeze: () => Promise<void>): Promise<void> => {
    await store.snapshots.create(record.snapshotId, record)
    deps.background(async () => {
      let change: Partial<SnapshotRecord> = { state: 'completed', progress: '100%' }
      try {
        await freeze()
      } catch (err) {
        deps.log.error({ err, snapshotId: record.snapshotId }, 'creating the snapshot failed')
        change = { state: 'error', stateMessage: err instanceof Error ? err.message : String(err) }
      }
      const after = await store.snapshots.modify(record.snapshotId, cur => cur === undefined ? undefined : { ...cur, ...change })
      if (after === undefined && change.state === 'completed') await data.deleteSnapshot(record.snapshotId)
    })
  }

  const fromVolume = (v: VolumeRecord, ctx: ActionContext, description: string): SnapshotRecord => {
    const s: SnapshotRecord = {
      snapshotId: newSnapshotId(),
      ownerId: ctx.accountId,
      volumeId: v.volumeId,
      volumeSize: v.size,
      description,
      state: 'pending',
      progress: '0%',
      startTime: new Date().toISOString(),
      encrypted: v.encrypted,
      createVolumePermissions: []
    }
    if (v.kmsKeyId !== undefined) s.kmsKeyId = v.kmsKeyId
    return s
  }

  const snapshotVolume = async (v: VolumeRecord, ctx: ActionContext, description: string, tags: Tag[]): Promise<SnapshotRecord> => {
    if (v.state !== 'available' && v.state !== 'in-use') throw EbsErrors.volumeState(v.volumeId, v.state)
    const record = fromVolume(v, ctx, description)
    await start(record, async () => { await data.createSnapshot(v.volumeId, v.node, record.snapshotId) })
    await store.tags.put(ctx.accountId, record.snapshotId, tags)
    return record
  }

  return {
    CreateSnapshot: async (raw, ctx) => {
      const v = await store.volume(String(raw.VolumeId), ctx.accountId)
      const tags = tagsForResource(raw.TagSpecifications as TagSpecification[] | undefined, 'snapshot')
      return snapshotOutput(await snapshotVolume(v, ctx, (raw.Description as string | undefined) ?? '', tags), tags)
    },

    CreateSnapshots: async (raw, ctx) => {
      const spec = raw.InstanceSpecification as { InstanceId?: string, ExcludeBootVolume?: boolean, ExcludeDataVolumeIds?: string[] }
      if (spec.InstanceId === undefined) throw CoreErrors.missingParameter('InstanceSpecification.InstanceId')
      checkInstanceId(spec.InstanceId)
      const tags = tagsForResource(raw.TagSpecifications as TagSpecification[] | undefined, 'snapshot')
      const attached = (await instanceVolumes(hive.bus, spec.InstanceId, ctx.accountId))
        .filter(a => !(a.root && spec.ExcludeBootVolume === true) && !(spec.ExcludeDataVolumeIds ?? []).includes(a.volumeId))
      const volumes = await Promise.all(attached.map(async a => await store.volume(a.volumeId, ctx.accountId)))
      const snapshots = await Promise.all(volumes.map(async v => {
        const own = raw.CopyTagsFromSource === 'volume' ? (await store.tags.get(ctx.accountId, v.volumeId)).filter(t => !tags.some(x => x.Key === t.Key)) : []
        const given = [...own, ...tags]
        return { snapshot: await snapshotVolume(v, ctx, (raw.Description as string | undefined) ?? '', given), given }
      }))
      return {
        Snapshots: snapshots.map(({ snapshot, given }) => {
          const { Description, Tags, Encrypted, VolumeId, State, VolumeSize, StartTime, Progress, OwnerId, SnapshotId } = snapshotOutput(snapshot, given)
          return { Description, Tags, Encrypted, VolumeId, State, VolumeSize, StartTime, Progress, OwnerId, SnapshotId }
        })
      }
    },

    DeleteSnapshot: async (raw, ctx) => {
      const s = await owned(String(raw.SnapshotId), ctx.accountId)
      const images = await imagesUsing(hive.bus, s.snapshotId)
      if (images.length > 0) throw EbsErrors.snapshotInUse(s.snapshotId, images[0])
      // Deleted at the revision read, so a snapshot completing meanwhile is seen as completed.
      for (;;) {
        const cur = await store.snapshots.get(s.snapshotId)
        if (cur === undefined) throw EbsErrors.snapshotNotFound([s.snapshotId])
        try {
          await store.snapshots.delete(s.snapshotId, cur.revision)
        } catch (e) {
          if (e instanceof RevisionConflict) continue
          throw e
        }
        // A pending EC2 snapshot's blocks do not exist yet: its completion drops them (start()). A
        // pending direct-API snapshot (it has a Timeout) already holds the blocks it was sent.
        if (cur.value.state !== 'pending' || cur.value.expiresAt !== undefined) await data.deleteSnapshot(s.snapshotId)
        await store.tags.drop(ctx.accountId, s.snapshotId)
        return {}
      }
    },

    DescribeSnapshots: async (raw, ctx) => {
      const input = raw as DescribeSnapshotsInput
      for (const id of input.SnapshotIds ?? []) checkSnapshotId(id)
      const size = pageSize(input.MaxResults, 5, 1000)
      const self = (ids: string[] | undefined): string[] | undefined => ids?.map(id => id === 'self' ? ctx.accountId : id)
      const owners = self(input.OwnerIds)
      const restorableBy = self(input.RestorableByUserIds)
      let all = (await store.snapshots.list()).map(e => e.value).filter(s => visibleTo(s, ctx.accountId))
      if ((input.SnapshotIds ?? []).length > 0) {
        const ids = input.SnapshotIds as string[]
        const unknown = [...new Set(ids)].filter(id => !all.some(s => s.snapshotId === id))
        if (unknown.length > 0) throw EbsErrors.snapshotNotFound(unknown)
        all = all.filter(s => ids.includes(s.snapshotId))
      }
      if (owners !== undefined && owners.length > 0) all = all.filter(s => owners.includes(s.ownerId))
      if (restorableBy !== undefined && restorableBy.length > 0) all = all.filter(s => restorableBy.some(user => visibleTo(s, user)))
      const tags = await store.tags.getMany(ctx.accountId, all.map(s => s.snapshotId))
      const tagsOf = (s: SnapshotRecord): Tag[] => tags.get(s.snapshotId) ?? []
      const snapshots = matchFilters(all, input.Filters, SNAPSHOT_FILTERS, tagsOf)
      const page = paginate(snapshots, { MaxResults: size, NextToken: input.NextToken }, { pageSize: size }, s => s.snapshotId)
      return { Snapshots: page.items.map(s => snapshotOutput(s, tagsOf(s))), ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken }) }
    },

    CopySnapshot: async (raw, ctx) => {
      const input = raw as unknown as CopySnapshotInput
      const region = hive.node.region
      for (const r of [input.SourceRegion, input.DestinationRegion]) {
        if (r !== undefined && r !== region) throw EbsErrors.otherRegion(r, region)
      }
      checkSnapshotId(input.SourceSnapshotId)
      const source = (await store.snapshots.get(input.SourceSnapshotId))?.value
      if (source === undefined || !visibleTo(source, ctx.accountId)) throw EbsErrors.snapshotNotFound([input.SourceSnapshotId])
      if (source.state !== 'completed') throw EbsErrors.snapshotNotCompleted(source.snapshotId, source.state)
      const tags = tagsForResource(input.TagSpecifications, 'snapshot')
      const encryption = await encryptionFor(deps, ctx.accountId, input, source)
      const record: SnapshotRecord = {
        snapshotId: newSnapshotId(),
        ownerId: ctx.accountId,
        volumeId: source.volumeId,
        volumeSize: source.volumeSize,
        description: input.Description ?? `[Copied ${source.snapshotId} from ${region}]`,
        state: 'pending',
        progress: '0%',
        startTime: new Date().toISOString(),
        encrypted: encryption.encrypted,
        createVolumePermissions: []
      }
      if (encryption.kmsKeyId !== undefined) record.kmsKeyId = encryption.kmsKeyId
      await start(record, async () => { await data.copySnapshot(source.snapshotId, record.snapshotId) })
      await store.tags.put(ctx.accountId, record.snapshotId, tags)
      return { SnapshotId: record.snapshotId, ...(tags.length > 0 ? { Tags: tags } : {}) }
    },

    DescribeSnapshotAttribute: async (raw, ctx) => {
      const s = await owned(String(raw.SnapshotId), ctx.accountId)
      if (raw.Attribute === 'createVolumePermission') return { SnapshotId: s.snapshotId, CreateVolumePermissions: s.createVolumePermissions }
      if (raw.Attribute === 'productCodes') return { SnapshotId: s.snapshotId, ProductCodes: [] }
      throw EbsErrors.invalidAttribute(String(raw.Attribute))
    },

    ModifySnapshotAttribute: async (raw, ctx) => {
      const input = raw as unknown as ModifySnapshotAttributeInput
      const attribute = input.Attribute ?? 'createVolumePermission'
      if (attribute === 'productCodes') throw EbsErrors.attributeNotModifiable(attribute)
      if (attribute !== 'createVolumePermission') throw EbsErrors.invalidAttribute(attribute)
      const listed: CreateVolumePermission[] = [
        ...(input.UserIds ?? []).map(UserId => ({ UserId })),
        ...(input.GroupNames ?? []).map(g => ({ Group: g as 'all' }))
      ]
      const add: CreateVolumePermission[] = [...(input.CreateVolumePermission?.Add ?? []), ...(input.OperationType === 'add' ? listed : [])]
      const remove: CreateVolumePermission[] = [...(input.CreateVolumePermission?.Remove ?? []), ...(input.OperationType === 'remove' ? listed : [])]
      if (add.length === 0 && remove.length === 0) throw EbsErrors.noAttribute()
      for (const p of [...add, ...remove]) {
        if (p.Group !== undefined && p.Group !== 'all') throw EbsErrors.invalidGroup(p.Group)
      }
      await owned(input.SnapshotId, ctx.accountId)
      const same = (a: CreateVolumePermission, b: CreateVolumePermission): boolean => a.Group === b.Group && a.UserId === b.UserId
      await store.snapshots.modify(input.SnapshotId, cur => {
        if (cur === undefined) throw EbsErrors.snapshotNotFound([input.SnapshotId])
        const kept = cur.createVolumePermissions.filter(p => !remove.some(r => same(p, r)))
        const added = add.filter((p, i) => !kept.some(k => same(k, p)) && add.findIndex(q => same(q, p)) === i)
          .map(p => p.Group !== undefined ? { Group: p.Group } : { UserId: p.UserId as string })
        return { ...cur, createVolumePermissions: [...kept, ...added] }
      })
      return {}
    },

    ResetSnapshotAttribute: async (raw, ctx) => {
      if (raw.Attribute !== 'createVolumePermission') {
        throw raw.Attribute === 'productCodes' ? EbsErrors.attributeNotModifiable('productCodes') : EbsErrors.invalidAttribute(String(raw.Attribute))
      }
      const s = await owned(String(raw.SnapshotId), ctx.accountId)
      await store.snapshots.modify(s.snapshotId, cur => {
        if (cur === undefined) throw EbsErrors.snapshotNotFound([s.snapshotId])
        return { ...cur, createVolumePermissions: [] }
      })
      return {}
    }
  }
}
