/**
 * The EBS direct API (service `ebs`, rest-json): snapshots written and read block by block, for
 * backup tools. Its blocks are 512 KiB (DIRECT_BLOCK), 128 of the volume's 4 KiB blocks, and its
 * snapshots are the same snapshots the EC2 API shows: a block map in `_ebs` whose chunks may be
 * shared with volumes and other snapshots (chunks.ts).
 *
 * A snapshot being written (StartSnapshot … CompleteSnapshot) keeps each block it was sent as a
 * chunk of its own plus a one-extent block map
 *   snapshots/<snap-id>.blocks/<index, 10 digits>.<sha256 hex>
 * (under snapshots/, so reclaim keeps the chunk; the key carries the checksum CompleteSnapshot
 * aggregates). CompleteSnapshot lays them over the parent's map into snapshots/<snap-id>.map and
 * then removes them.
 *
 * Block tokens name what a block was when listed: base64url of "<snap-id>.<index>.<chunk>.<slot>"
 * of the block's first mapped 4 KiB block (or "-" when none). GetSnapshotBlock checks the token
 * against the snapshot's map, so a token from another snapshot or index is refused.
 */
import { createHash } from 'node:crypto'
import { AwsError, type ActionContext, type ActionHandler, type ActionSpec, type Tag } from '../../core/index.js'
import { changedUnits, lookup, mappedUnits, overlay, parseBlockMap, serializeBlockMap, type Extent } from './block-map.js'
import { BLOCK, snapshotMapKey, type ChunkStore } from './chunks.js'
import { newSnapshotId, type EbsStore, type SnapshotRecord } from './records.js'

export const DIRECT_ACTIONS: Record<string, ActionSpec> = {
  StartSnapshot: { unsupported: ['KmsKeyArn'], note: 'Encrypted and KmsKeyArn are recorded, not applied. Timeout: a snapshot not completed in time fails.' },
  PutSnapshotBlock: { unsupported: ['Progress'], note: '512 KiB blocks; the SHA256 Checksum is verified.' },
  CompleteSnapshot: { note: 'ChangedBlocksCount is checked, and Checksum when given (SHA256, LINEAR aggregation).' },
  GetSnapshotBlock: {},
  ListSnapshotBlocks: {},
  ListChangedBlocks: { note: 'Computed from the two snapshots\' block maps, without reading data.' }
}

export const DIRECT_BLOCK = 512 * 1024
const SLOTS = DIRECT_BLOCK / BLOCK
const GIB = 1024 ** 3
const MAX_PAGE = 10_000
const TOKEN_TTL_MS = 7 * 24 * 3600_000

/** What the direct API needs of the snapshot records the EC2 API also serves (records.ts), for one account. */
export interface DirectSnapshots {
  /** Creates a pending snapshot record and its tags; a repeated ClientToken returns the first one's. */
  start: (req: StartRequest) => Promise<SnapshotInfo & { tags: Tag[] }>
  /** The account's snapshot; a pending one past its Timeout is in state 'error'. */
  get: (snapshotId: string) => Promise<SnapshotInfo | undefined>
  /** Marks the snapshot completed (its map is durable); false when it was deleted meanwhile. */
  complete: (snapshotId: string) => Promise<boolean>
}

export interface StartRequest {
  volumeSize: number
  parentSnapshotId?: string
  description?: string
  encrypted: boolean
  kmsKeyArn?: string
  tags: Array<{ Key?: string, Value?: string }>
  clientToken?: string
  timeoutMinutes: number
}

export interface SnapshotInfo {
  snapshotId: string
  ownerId: string
  status: 'pending' | 'completed' | 'error'
  startTime: string
  volumeSize: number
  description?: string
  parentSnapshotId?: string
  encrypted: boolean
  kmsKeyArn?: string
}

function validation (message: string, reason: string): AwsError {
  return new AwsError('ValidationException', message, 400, { Reason: reason })
}

function notFound (snapshotId: string): AwsError {
  return new AwsError('ResourceNotFoundException', `The snapshot '${snapshotId}' does not exist.`, 404, { Reason: 'SNAPSHOT_NOT_FOUND' })
}

function token (snapshotId: string, index: number, ext: Extent | undefined): string {
  return Buffer.from(`${snapshotId}.${index}.${ext === undefined ? '-' : `${ext.chunk}.${ext.slot}`}`).toString('base64url')
}

function blockKey (snapshotId: string, index: number, sha: string): string {
  return `snapshots/${snapshotId}.blocks/${String(index).padStart(10, '0')}.${sha}`
}

export class DirectApi {
  /** Completed snapshots never change: their parsed maps are kept. */
  private readonly maps = new Map<string, Extent[]>()

  constructor (private readonly chunks: ChunkStore, private readonly snapshotsOf: (ctx: ActionContext) => DirectSnapshots) {}

  handlers (): Record<string, ActionHandler> {
    const bind = (fn: (input: Record<string, unknown>, s: DirectSnapshots) => Promise<Record<string, unknown>>): ActionHandler =>
      async (input, ctx) => await fn.call(this, input, this.snapshotsOf(ctx))
    return {
      StartSnapshot: bind(this.start),
      PutSnapshotBlock: bind(this.put),
      CompleteSnapshot: bind(this.complete),
      GetSnapshotBlock: bind(this.get),
      ListSnapshotBlocks: bind(this.list),
      ListChangedBlocks: bind(this.changed)
    }
  }

  private async start (input: Record<string, unknown>, snapshots: DirectSnapshots): Promise<Record<string, unknown>> {
    const volumeSize = Number(input.VolumeSize)
    if (!Number.isInteger(volumeSize) || volumeSize < 1 || volumeSize > 65536) throw validation('VolumeSize must be between 1 and 65536 GiB.', 'INVALID_VOLUME_SIZE')
    const parent = input.ParentSnapshotId as string | undefined
    if (parent !== undefined) {
      const p = await this.completed(snapshots, parent, 'INVALID_PARENT_SNAPSHOT_ID')
      if (p.volumeSize > volumeSize) throw validation('The volume size cannot be smaller than the parent snapshot\'s.', 'INVALID_VOLUME_SIZE')
    }
    const timeout = input.Timeout === undefined ? 60 : Number(input.Timeout)
    if (timeout < 10 || timeout > 4320) throw validation('Timeout must be between 10 and 4320 minutes.', 'INVALID_PARAMETER_VALUE')
    const info = await snapshots.start({
      volumeSize,
      ...(parent === undefined ? {} : { parentSnapshotId: parent }),
      ...(input.Description === undefined ? {} : { description: input.Description as string }),
      encrypted: input.Encrypted === true,
      ...(input.KmsKeyArn === undefined ? {} : { kmsKeyArn: input.KmsKeyArn as string }),
      tags: (input.Tags as StartRequest['tags'] | undefined) ?? [],
      ...(input.ClientToken === undefined ? {} : { clientToken: input.ClientToken as string }),
      timeoutMinutes: timeout
    })
    return {
      SnapshotId: info.snapshotId,
      OwnerId: info.ownerId,
      Status: info.status,
      StartTime: new Date(info.startTime),
      VolumeSize: info.volumeSize,
      BlockSize: DIRECT_BLOCK,
      ...(info.description === undefined ? {} : { Description: info.description }),
      ...(info.parentSnapshotId === undefined ? {} : { ParentSnapshotId: info.parentSnapshotId }),
      ...(info.kmsKeyArn === undefined ? {} : { KmsKeyArn: info.kmsKeyArn }),
      ...(info.tags.length === 0 ? {} : { Tags: info.tags }),
      SseType: info.encrypted ? 'sse-kms' : 'none'
    }
  }

  private async put (input: Record<string, unknown>, snapshots: DirectSnapshots): Promise<Record<string, unknown>> {
    const snapshotId = input.SnapshotId as string
    const info = await snapshots.get(snapshotId)
    if (info === undefined) throw notFound(snapshotId)
    if (info.status !== 'pending') throw validation(`The snapshot '${snapshotId}' is not pending.`, 'INVALID_SNAPSHOT_STATE')
    const index = Number(input.BlockIndex)
    if (index * DIRECT_BLOCK >= info.volumeSize * GIB) throw validation(`Block index ${index} is beyond the volume size.`, 'INVALID_BLOCK')
    const data = input.BlockData as Uint8Array | undefined ?? new Uint8Array(0)
    if (Number(input.DataLength) !== DIRECT_BLOCK || data.length !== DIRECT_BLOCK) {
      throw validation(`The block data length must be ${DIRECT_BLOCK} bytes.`, 'INVALID_BLOCK')
    }
    if (input.ChecksumAlgorithm !== 'SHA256') throw validation('The checksum algorithm must be SHA256.', 'INVALID_CHECKSUM')
    const digest = createHash('sha256').update(data).digest()
    if (digest.toString('base64') !== input.Checksum) throw validation('The checksum of the block data does not match the Checksum.', 'INVALID_CHECKSUM')
    const chunk = await this.chunks.newId()
    await this.chunks.put(chunk, data)
    const map = serializeBlockMap([{ first: index * SLOTS, count: SLOTS, slot: 0, chunk }])
    const prefix = `snapshots/${snapshotId}.blocks/${String(index).padStart(10, '0')}.`
    const earlier: string[] = []
    for await (const key of this.chunks.keys(prefix)) earlier.push(key)
    const key = blockKey(snapshotId, index, digest.toString('hex'))
    await this.chunks.putObject(key, map)
    for (const k of earlier) if (k !== key) await this.chunks.deleteObject(k)
    // A DeleteSnapshot that landed meanwhile removed the blocks before this one was there.
    if ((await snapshots.get(snapshotId)) === undefined) {
      await this.chunks.deleteObject(key)
      throw notFound(snapshotId)
    }
    return { Checksum: input.Checksum, ChecksumAlgorithm: 'SHA256' }
  }

  private async complete (input: Record<string, unknown>, snapshots: DirectSnapshots): Promise<Record<string, unknown>> {
    const snapshotId = input.SnapshotId as string
    const info = await snapshots.get(snapshotId)
    if (info === undefined) throw notFound(snapshotId)
    if (info.status === 'completed') return { Status: 'completed' }
    if (info.status !== 'pending') throw validation(`The snapshot '${snapshotId}' is not pending.`, 'INVALID_SNAPSHOT_STATE')
    const blocks: Array<{ key: string, index: number, sha: string }> = []
    for await (const key of this.chunks.keys(`snapshots/${snapshotId}.blocks/`)) {
      const m = /\/(\d{10})\.([0-9a-f]{64})$/.exec(key)
      if (m !== null) blocks.push({ key, index: Number(m[1]), sha: m[2] })
    }
    if (Number(input.ChangedBlocksCount) !== blocks.length) {
      throw validation(`ChangedBlocksCount ${String(input.ChangedBlocksCount)} does not match the ${blocks.length} blocks written.`, 'INVALID_PARAMETER_VALUE')
    }
    if (input.Checksum !== undefined) {
      if (input.ChecksumAlgorithm !== 'SHA256' || (input.ChecksumAggregationMethod ?? 'LINEAR') !== 'LINEAR') {
        throw validation('Only SHA256 checksums aggregated LINEAR are supported.', 'INVALID_CHECKSUM')
      }
      const linear = createHash('sha256')
      for (const b of blocks) linear.update(Buffer.from(b.sha, 'hex'))
      if (linear.digest('base64') !== input.Checksum) throw validation('The aggregated checksum does not match the blocks written.', 'INVALID_CHECKSUM')
    }
    const base = info.parentSnapshotId === undefined ? [] : await this.mapOf(info.parentSnapshotId)
    const patch: Extent[] = []
    for (const b of blocks) {
      const one = await this.chunks.getObject(b.key)
      if (one !== undefined) patch.push(...parseBlockMap(one))
    }
    const limit = info.volumeSize * GIB / BLOCK
    const map = overlay(base, patch).filter(e => e.first < limit).map(e => ({ ...e, count: Math.min(e.count, limit - e.first) }))
    await this.chunks.putObject(snapshotMapKey(snapshotId), serializeBlockMap(map))
    const kept = await snapshots.complete(snapshotId)
    for (const b of blocks) await this.chunks.deleteObject(b.key)
    if (!kept) {
      await this.chunks.deleteObject(snapshotMapKey(snapshotId))
      throw notFound(snapshotId)
    }
    return { Status: 'completed' }
  }

  private async get (input: Record<string, unknown>, snapshots: DirectSnapshots): Promise<Record<string, unknown>> {
    const snapshotId = input.SnapshotId as string
    const info = await this.completed(snapshots, snapshotId, 'SNAPSHOT_NOT_FOUND')
    const index = Number(input.BlockIndex)
    if (index * DIRECT_BLOCK >= info.volumeSize * GIB) throw validation(`Block index ${index} is beyond the volume size.`, 'INVALID_BLOCK')
    const exts = lookup(await this.mapOf(snapshotId), index * SLOTS, SLOTS)
    if (input.BlockToken !== token(snapshotId, index, exts[0])) throw validation('The block token is not valid for this snapshot and block.', 'INVALID_BLOCK_TOKEN')
    const out = Buffer.alloc(DIRECT_BLOCK)
    await Promise.all(exts.map(async e => {
      const data = await this.chunks.read(e.chunk, e.slot, e.count)
      data.copy(out, (e.first - index * SLOTS) * BLOCK)
    }))
    return {
      BlockData: out,
      DataLength: DIRECT_BLOCK,
      Checksum: createHash('sha256').update(out).digest('base64'),
      ChecksumAlgorithm: 'SHA256'
    }
  }

  private async list (input: Record<string, unknown>, snapshots: DirectSnapshots): Promise<Record<string, unknown>> {
    const snapshotId = input.SnapshotId as string
    const info = await this.completed(snapshots, snapshotId, 'SNAPSHOT_NOT_FOUND')
    const map = await this.mapOf(snapshotId)
    const { from, max } = pageOf(input)
    const units = mappedUnits(map, SLOTS).filter(u => u >= from)
    const page = units.slice(0, max)
    return {
      Blocks: page.map(u => ({ BlockIndex: u, BlockToken: token(snapshotId, u, lookup(map, u * SLOTS, SLOTS)[0]) })),
      ExpiryTime: new Date(Date.now() + TOKEN_TTL_MS),
      VolumeSize: info.volumeSize,
      BlockSize: DIRECT_BLOCK,
      ...(units.length > max ? { NextToken: nextToken(units[max]) } : {})
    }
  }

  private async changed (input: Record<string, unknown>, snapshots: DirectSnapshots): Promise<Record<string, unknown>> {
    const second = input.SecondSnapshotId as string
    const first = input.FirstSnapshotId as string | undefined
    const secondInfo = await this.completed(snapshots, second, 'SNAPSHOT_NOT_FOUND')
    if (first !== undefined) {
      const firstInfo = await this.completed(snapshots, first, 'SNAPSHOT_NOT_FOUND')
      if (firstInfo.volumeSize > secondInfo.volumeSize) throw validation('The first snapshot is larger than the second.', 'INVALID_VOLUME_SIZE')
    }
    const a = first === undefined ? [] : await this.mapOf(first)
    const b = await this.mapOf(second)
    const { from, max } = pageOf(input)
    const units = changedUnits(a, b, SLOTS).filter(u => u >= from)
    const page = units.slice(0, max)
    return {
      ChangedBlocks: page.map(u => {
        const fa = lookup(a, u * SLOTS, SLOTS)[0]
        const fb = lookup(b, u * SLOTS, SLOTS)[0]
        return {
          BlockIndex: u,
          ...(first !== undefined && fa !== undefined ? { FirstBlockToken: token(first, u, fa) } : {}),
          ...(fb !== undefined ? { SecondBlockToken: token(second, u, fb) } : {})
        }
      }),
      ExpiryTime: new Date(Date.now() + TOKEN_TTL_MS),
      VolumeSize: secondInfo.volumeSize,
      BlockSize: DIRECT_BLOCK,
      ...(units.length > max ? { NextToken: nextToken(units[max]) } : {})
    }
  }

  private async completed (snapshots: DirectSnapshots, snapshotId: string, reason: string): Promise<SnapshotInfo> {
    const info = await snapshots.get(snapshotId)
    if (info === undefined) {
      if (reason === 'SNAPSHOT_NOT_FOUND') throw notFound(snapshotId)
      throw validation(`The snapshot '${snapshotId}' does not exist.`, reason)
    }
    if (info.status !== 'completed') throw validation(`The snapshot '${snapshotId}' is not completed.`, 'INVALID_SNAPSHOT_STATE')
    return info
  }

  private async mapOf (snapshotId: string): Promise<Extent[]> {
    let map = this.maps.get(snapshotId)
    if (map === undefined) {
      const raw = await this.chunks.getObject(snapshotMapKey(snapshotId))
      if (raw === undefined) throw notFound(snapshotId)
      map = parseBlockMap(raw)
      if (this.maps.size > 64) this.maps.delete(this.maps.keys().next().value as string)
      this.maps.set(snapshotId, map)
    }
    return map
  }
}

function pageOf (input: Record<string, unknown>): { from: number, max: number } {
  const max = Math.min(MAX_PAGE, Number(input.MaxResults ?? MAX_PAGE))
  let from = Number(input.StartingBlockIndex ?? 0)
  if (input.NextToken !== undefined) {
    const m = /^b(\d+)$/.exec(Buffer.from(input.NextToken as string, 'base64url').toString())
    if (m === null) throw validation('The pagination token is not valid.', 'INVALID_PAGE_TOKEN')
    from = Math.max(from, Number(m[1]))
  }
  return { from, max }
}

function nextToken (unit: number): string {
  return Buffer.from(`b${unit}`).toString('base64url')
}


/**
 * The direct API's view of the account's snapshot records. A snapshot started here has no source
 * volume; AWS shows such snapshots with the volume id vol-ffffffff, and so does Hive.
 */
export function directSnapshots (store: EbsStore, ctx: ActionContext): DirectSnapshots {
  const info = (r: SnapshotRecord): SnapshotInfo => ({
    snapshotId: r.snapshotId,
    ownerId: r.ownerId,
    status: r.state === 'pending' && r.expiresAt !== undefined && Date.parse(r.expiresAt) < Date.now() ? 'error' : r.state,
    startTime: r.startTime,
    volumeSize: r.volumeSize,
    ...(r.description === '' ? {} : { description: r.description }),
    ...(r.parentSnapshotId === undefined ? {} : { parentSnapshotId: r.parentSnapshotId }),
    encrypted: r.encrypted,
    ...(r.kmsKeyId === undefined ? {} : { kmsKeyArn: r.kmsKeyId })
  })
  return {
    async start (req) {
      if (req.clientToken !== undefined) {
        const key = `${ctx.accountId}.start.${createHash('sha256').update(req.clientToken).digest('hex')}`
        const earlier = (await store.tokens.get(key))?.value
        if (earlier !== undefined) {
          const r = (await store.snapshots.get(String(earlier.response.snapshotId)))?.value
          if (r !== undefined) return { ...info(r), tags: await store.tags.get(ctx.accountId, r.snapshotId) }
        }
      }
      const now = new Date()
      const record: SnapshotRecord = {
        snapshotId: newSnapshotId(),
        ownerId: ctx.accountId,
        volumeId: 'vol-ffffffff',
        volumeSize: req.volumeSize,
        description: req.description ?? '',
        state: 'pending',
        progress: '0%',
        startTime: now.toISOString(),
        encrypted: req.encrypted,
        createVolumePermissions: [],
        expiresAt: new Date(now.getTime() + req.timeoutMinutes * 60_000).toISOString(),
        ...(req.parentSnapshotId === undefined ? {} : { parentSnapshotId: req.parentSnapshotId }),
        ...(req.kmsKeyArn === undefined ? {} : { kmsKeyId: req.kmsKeyArn })
      }
      const tags = req.tags.filter((t): t is { Key: string, Value: string } => t.Key !== undefined).map(t => ({ Key: t.Key, Value: t.Value ?? '' }))
      await store.snapshots.create(record.snapshotId, record)
      await store.tags.put(ctx.accountId, record.snapshotId, tags)
      if (req.clientToken !== undefined) {
        const key = `${ctx.accountId}.start.${createHash('sha256').update(req.clientToken).digest('hex')}`
        await store.tokens.put(key, { fingerprint: '', response: { snapshotId: record.snapshotId } })
      }
      return { ...info(record), tags }
    },
    async get (snapshotId) {
      const r = (await store.snapshots.get(snapshotId))?.value
      return r === undefined || r.ownerId !== ctx.accountId ? undefined : info(r)
    },
    async complete (snapshotId) {
      const after = await store.snapshots.modify(snapshotId, cur => cur === undefined ? undefined : { ...cur, state: 'completed', progress: '100%' })
      return after !== undefined
    }
  }
}
