/**
 * The ebs control plane: what exists, kept in JetStream KV so every node sees the same volumes and
 * snapshots; the bytes are the data plane's (data.ts). Every state change is a compare-and-set on
 * the revision read, so two nodes racing (two attaches, a delete against an attach) cannot both win.
 *
 *   hive_ebs_volumes    <volumeId> → VolumeRecord: the volume, its attachments and its latest
 *                       modification (ModifyVolume), with the node that holds its blocks.
 *   hive_ebs_snapshots  <snapshotId> → SnapshotRecord
 *   hive_ebs_settings   <accountId> → AccountSettings: EBS encryption by default and the default
 *                       KMS key (absent: off, alias/aws/ebs).
 *   hive_ebs_tokens     <accountId>.<sha256(ClientToken) hex> → ClientTokenRecord: CreateVolume's
 *                       idempotency; entries expire after CLIENT_TOKEN_TTL_MS.
 * Volume and snapshot tags are the core's TagStore (hive_tags), shared with every EC2 resource.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { kvBucketName, TagStore, type Bucket, type Hive, type KvStore, type NodeRecord } from '../../core/index.js'
import type { VolumeDataPlane } from './data.js'
import { EbsErrors } from './errors.js'

export type VolumeType = 'gp2' | 'gp3' | 'io1' | 'io2' | 'st1' | 'sc1' | 'standard'
export type VolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'error'

export interface AttachmentRecord {
  instanceId: string
  /** As requested while 'attaching'; the device ec2 chose once 'attached'. */
  device: string
  state: 'attaching' | 'attached' | 'detaching'
  /** ISO-8601. */
  attachTime: string
  deleteOnTermination: boolean
}

/** A volume's performance settings: what CreateVolume sets and ModifyVolume changes. */
export interface Performance {
  size: number
  volumeType: VolumeType
  /** Provisioned IOPS (gp3, io1, io2); gp2's baseline is derived from the size. */
  iops?: number
  /** MiB/s, gp3 only. */
  throughput?: number
  multiAttachEnabled: boolean
}

export interface ModificationRecord {
  state: 'modifying' | 'optimizing' | 'completed' | 'failed'
  original: Performance
  target: Performance
  progress: number
  /** ISO-8601. */
  startTime: string
  endTime?: string
  statusMessage?: string
}

export interface VolumeRecord extends Performance {
  volumeId: string
  ownerId: string
  /** The node that holds the volume's blocks: the one that handled CreateVolume. */
  node: string
  availabilityZone: string
  state: VolumeState
  /** ISO-8601. */
  createTime: string
  snapshotId?: string
  encrypted: boolean
  kmsKeyId?: string
  attachments: AttachmentRecord[]
  autoEnableIO: boolean
  modification?: ModificationRecord
}

export interface CreateVolumePermission { Group?: 'all', UserId?: string }

export interface SnapshotRecord {
  snapshotId: string
  ownerId: string
  volumeId: string
  volumeSize: number
  description: string
  state: 'pending' | 'completed' | 'error'
  progress: string
  /** ISO-8601. */
  startTime: string
  stateMessage?: string
  encrypted: boolean
  kmsKeyId?: string
  createVolumePermissions: CreateVolumePermission[]
  /** The EBS direct API's StartSnapshot (direct.ts): the snapshot it builds on. */
  parentSnapshotId?: string
  /** The EBS direct API's StartSnapshot: a snapshot still pending then has failed. ISO-8601. */
  expiresAt?: string
}

export interface AccountSettings {
  encryptionByDefault: boolean
  /** The default KMS key as ModifyEbsDefaultKmsKeyId answered it (an ARN); absent: alias/aws/ebs. */
  kmsKeyId?: string
}

export interface ClientTokenRecord {
  /** The request's parameters less the token: a replay must repeat them. */
  fingerprint: string
  /** The answer of the request that used the token first, given again to every replay. */
  response: Record<string, unknown>
}

/** EC2 forgets a client token after a day; so does Hive. */
const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60_000

export class EbsStore {
  private constructor (
    readonly volumes: Bucket<VolumeRecord>,
    readonly snapshots: Bucket<SnapshotRecord>,
    readonly settings: Bucket<AccountSettings>,
    readonly tokens: Bucket<ClientTokenRecord>,
    readonly tags: TagStore) {}

  static async open (kv: KvStore): Promise<EbsStore> {
    return new EbsStore(
      await kv.bucket<VolumeRecord>(kvBucketName('ebs', 'volumes')),
      await kv.bucket<SnapshotRecord>(kvBucketName('ebs', 'snapshots')),
      await kv.bucket<AccountSettings>(kvBucketName('ebs', 'settings')),
      await kv.bucket<ClientTokenRecord>(kvBucketName('ebs', 'tokens'), { ttlMs: CLIENT_TOKEN_TTL_MS }),
      new TagStore(kv))
  }

  /** The account's volume, or InvalidVolume.NotFound (another account's volume does not exist for it). */
  async volume (volumeId: string, accountId: string): Promise<VolumeRecord> {
    checkVolumeId(volumeId)
    const v = (await this.volumes.get(volumeId))?.value
    if (v === undefined || v.ownerId !== accountId) throw EbsErrors.volumeNotFound([volumeId])
    return v
  }

  async accountVolumes (accountId: string): Promise<VolumeRecord[]> {
    return (await this.volumes.list()).map(e => e.value).filter(v => v.ownerId === accountId)
  }

  /**
   * Read-modify-write of one of the account's volumes with retries on a lost race; `fn` sees the
   * current record and throws the AWS error when the change is not allowed in its state.
   */
  async modifyVolume (volumeId: string, accountId: string, fn: (v: VolumeRecord) => VolumeRecord): Promise<VolumeRecord> {
    checkVolumeId(volumeId)
    const out = await this.volumes.modify(volumeId, cur => {
      if (cur === undefined || cur.ownerId !== accountId) throw EbsErrors.volumeNotFound([volumeId])
      return fn(cur)
    })
    if (out === undefined) throw EbsErrors.volumeNotFound([volumeId])
    return out
  }

  async accountSettings (accountId: string): Promise<AccountSettings> {
    return (await this.settings.get(accountId))?.value ?? { encryptionByDefault: false }
  }
}

/** What every ebs handler works with. */
export interface EbsDeps {
  store: EbsStore
  data: VolumeDataPlane
  hive: Pick<Hive, 'node' | 'nodes' | 'bus'>
  log: Logger
  /** Runs work that outlives the request (a snapshot's copy, a resize); the node waits for it on close. */
  background: (work: () => Promise<void>) => void
}

const hex17 = (): string => randomBytes(9).toString('hex').slice(0, 17)

export const newVolumeId = (): string => `vol-${hex17()}`
export const newSnapshotId = (): string => `snap-${hex17()}`

/** EC2 ids: the prefix and 8 (older resources) or 17 lowercase hex digits. */
const VOLUME_ID = /^vol-(?:[0-9a-f]{8}|[0-9a-f]{17})$/
const SNAPSHOT_ID = /^snap-(?:[0-9a-f]{8}|[0-9a-f]{17})$/
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/

export function checkVolumeId (id: string): void {
  if (!VOLUME_ID.test(id)) throw EbsErrors.volumeIdMalformed(id)
}

export function checkSnapshotId (id: string): void {
  if (!SNAPSHOT_ID.test(id)) throw EbsErrors.snapshotIdMalformed(id)
}

export function checkInstanceId (id: string): void {
  if (!INSTANCE_ID.test(id)) throw EbsErrors.instanceIdMalformed(id)
}

export const GIB = 1024 ** 3

/** The zones of the cluster's region: those of its live nodes, and this node's own. */
export async function regionZones (hive: Pick<Hive, 'node' | 'nodes'>): Promise<Set<string>> {
  const nodes: NodeRecord[] = await hive.nodes()
  return new Set([hive.node.az, ...nodes.filter(n => n.region === hive.node.region).map(n => n.az)])
}

/** The key of a client token in hive_ebs_tokens (tokens are free text; keys are not). */
export function clientTokenKey (accountId: string, token: string): string {
  return `${accountId}.${createHash('sha256').update(token).digest('hex')}`
}

/** A stable rendering of request parameters, for comparing a replay with the original. */
export function fingerprint (input: Record<string, unknown>, ignore: string[]): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted)
    if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      return Object.fromEntries(Object.keys(v).sort().map(k => [k, sorted((v as Record<string, unknown>)[k])]))
    }
    return v
  }
  return JSON.stringify(sorted(Object.fromEntries(Object.entries(input).filter(([k]) => !ignore.includes(k)))))
}

/** EC2's MaxResults for a describe: at least `min`; larger asks get `max` at most; absent, everything. */
export function pageSize (maxResults: number | undefined, min: number, max: number): number {
  if (maxResults === undefined) return Number.MAX_SAFE_INTEGER
  if (maxResults < min) throw EbsErrors.maxResultsTooSmall(maxResults, min)
  return Math.min(maxResults, max)
}

/** An attachment as the API shows it (VolumeAttachment). */
export function attachmentOutput (volumeId: string, a: AttachmentRecord): Record<string, unknown> {
  return {
    VolumeId: volumeId,
    InstanceId: a.instanceId,
    Device: a.device,
    State: a.state,
    AttachTime: new Date(a.attachTime),
    DeleteOnTermination: a.deleteOnTermination
  }
}
