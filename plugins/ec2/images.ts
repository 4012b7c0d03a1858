/**
 * AMIs: RegisterImage, DescribeImages, DeregisterImage, CopyImage and the image attributes, plus
 * what the rest of ec2 needs of them — registerImage for CreateImage and imports, imageForLaunch
 * for RunInstances, and the snapshot → images question ebs asks before DeleteSnapshot. An image is a
 * record naming EBS snapshots; the bytes are the ebs capability's, reached through its actions.
 *
 *   hive_ec2_images        <imageId> → ImageRecord. A deregistered image stays, in state
 *                          'deregistered', so launching it says InvalidAMIID.Unavailable; describes
 *                          leave it out.
 *   hive_ec2_image_names   <ownerId>.<base64url(name)> → imageId: the claim on a name, written with
 *                          create() so of two registrations of one name only one wins; released
 *                          when the image is deregistered. Names are free text, KV keys are not.
 *   hive_ec2_image_tokens  <ownerId>.<sha256(ClientToken) hex> → { fingerprint, imageId }:
 *                          CopyImage's idempotency; entries expire after a day, as EC2's tokens do.
 *
 * Internal bus call served here (core/bus.ts serveInternal; asked by plugins/ebs/attachments.ts):
 *   ec2.snapshot.images  { snapshotId } → body JSON [imageId]: the images not deregistered that
 *                        use the snapshot.
 *
 * An image waits in 'pending' while its snapshots are pending (CreateImage, CopyImage). Whoever
 * reads a pending image asks ebs about its snapshots and moves it on — to 'available', or to
 * 'failed' when one failed or is gone — so no watcher has to outlive a restart.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import {
  AwsError, CoreErrors, isAwsError, kvBucketName, matchFilters, paginate, requestContextOf, RevisionConflict, serveTaggedResources, TagStore,
  type ActionHandler, type ActionSpec, type Bucket, type Filter, type FilterFields, type Hive, type KvStore, type RequestContext, type Tag
} from '../../core/index.js'
import { IMPORT_ACTIONS, importHandlers, importTaggedResources } from './image-import.js'

export type ImageState = 'pending' | 'available' | 'failed' | 'deregistered'

export interface EbsMapping {
  /** Absent: an empty volume of volumeSize GiB. */
  snapshotId?: string
  volumeSize: number
  volumeType: string
  deleteOnTermination: boolean
  encrypted: boolean
  iops?: number
  throughput?: number
  kmsKeyId?: string
}

export interface ImageMapping {
  deviceName: string
  ebs?: EbsMapping
  /** An instance store volume (ephemeralN): recorded and shown; Hive has no instance store. */
  virtualName?: string
  /** The device is suppressed. */
  noDevice?: boolean
}

export interface ImageRecord {
  imageId: string
  ownerId: string
  name: string
  description: string
  architecture: string
  rootDeviceName: string
  blockDeviceMappings: ImageMapping[]
  state: ImageState
  stateReason?: { code: string, message: string }
  /** ISO-8601. */
  creationDate: string
  virtualizationType: 'hvm'
  enaSupport?: boolean
  bootMode?: string
  imdsSupport?: string
  launchPermission: { public: boolean, userIds: string[] }
  /** CopyImage: the image copied. */
  sourceImageId?: string
}

/** A block device mapping as the EC2 API writes it (RegisterImage, CreateImage). */
export interface BlockDeviceMappingInput {
  DeviceName?: string
  VirtualName?: string
  NoDevice?: string
  Ebs?: {
    SnapshotId?: string
    VolumeSize?: number
    VolumeType?: string
    DeleteOnTermination?: boolean
    Encrypted?: boolean
    Iops?: number
    Throughput?: number
    KmsKeyId?: string
  }
}

/** What registerImage makes an image of: RegisterImage's input, less what Hive does not take. */
export interface ImageSpec {
  Name?: string
  Description?: string
  Architecture?: string
  RootDeviceName?: string
  BlockDeviceMappings?: BlockDeviceMappingInput[]
  VirtualizationType?: string
  BootMode?: string
  EnaSupport?: boolean
  ImdsSupport?: string
}

const invalid = (message: string): AwsError => new AwsError('InvalidParameterValue', message, 400)

export const ImageErrors = {
  idMalformed: (id: string) =>
    new AwsError('InvalidAMIID.Malformed', id.startsWith('ami-') ? `Invalid id: "${id}"` : `Invalid id: "${id}" (expecting "ami-...")`, 400),
  notFound: (ids: string[]) =>
    new AwsError('InvalidAMIID.NotFound', `The image id '[${ids.join(', ')}]' does not exist`, 400),
  /** The image exists and is visible, but only its owner may do this. */
  notOwner: (id: string) => new AwsError('AuthFailure', `Not authorized for image:${id}`, 400),
  launchNotAllowed: (id: string) => new AwsError('AuthFailure', `Not authorized for images: [${id}]`, 400),
  cannotRun: (id: string, state: string) => new AwsError('InvalidAMIID.Unavailable', `AMI '${id}' is ${state}, and cannot be run`, 400),
  deregistered: (id: string) => new AwsError('InvalidAMIID.Unavailable', `The image id '[${id}]' is no longer available`, 400),
  notUsable: (id: string, state: string) =>
    new AwsError('InvalidAMIID.Unavailable', `The AMI ID '${id}' is currently ${state} and may not be used for this operation`, 400),
  nameMalformed: () =>
    new AwsError('InvalidAMIName.Malformed', 'AMI names must be between 3 and 128 characters long, and may contain letters, numbers, \'(\', \')\', \'.\', \'-\', \'/\' and \'_\'', 400),
  nameDuplicate: (name: string, imageId: string) => new AwsError('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${imageId}`, 400),
  mapping: (message: string) => new AwsError('InvalidBlockDeviceMapping', message, 400),
  mappingRequired: () => new AwsError('MissingParameter', 'The request must contain the parameter BlockDeviceMapping (Hive registers EBS-backed images only)', 400),
  invalidEnum: (parameter: string, value: string, valid: string[]) =>
    invalid(`Value (${value}) for parameter ${parameter} is invalid. Valid values are: ${valid.join(', ')}`),
  invalidAttribute: (name: string) => invalid(`Value (${name}) for parameter attribute is invalid. Unknown attribute.`),
  attributeNotModifiable: (name: string) => invalid(`The attribute ${name} cannot be modified.`),
  imdsSupport: () => invalid('ImdsSupport can only be set to v2.0, and once set it cannot be unset.'),
  attributeItem: (value: string, type: string) =>
    new AwsError('InvalidAMIAttributeItemValue', `Invalid attribute item value "${value}" for ${type} item type.`, 400),
  noAttribute: () => new AwsError('InvalidParameterCombination', 'No attributes specified.', 400),
  userIdMalformed: (id: string) => new AwsError('InvalidUserID.Malformed', `Invalid user id: "${id}"`, 400),
  otherRegion: (region: string, own: string) =>
    invalid(`Invalid region: [${region}]. This Hive cluster is the region ${own}; images are copied within it.`),
  idempotentMismatch: () => new AwsError('IdempotentParameterMismatch', 'Client token already used before with different parameters.', 400)
} as const

export const IMAGE_ACTIONS: Record<string, ActionSpec> = {
  RegisterImage: {
    unsupported: ['ImageLocation', 'KernelId', 'RamdiskId', 'BillingProducts', 'SriovNetSupport', 'TpmSupport', 'UefiData'],
    note: 'EBS-backed hvm images from snapshots the caller may use (instance-store images, ImageLocation, are not). RootDeviceName (default /dev/xvda) must be one of the mappings and have a snapshot. Names are unique per account among images not deregistered.'
  },
  DescribeImages: {
    note: 'Images the caller owns, is given launch permission on, or that are public. Owners: self, account ids, and the aliases amazon, aws-marketplace and aws-backup-vault (which own nothing in Hive). ExecutableUsers: all = public, an account id or self = images it owns or is explicitly given. Filters: architecture, block-device-mapping.*, creation-date, description, ena-support, hypervisor, image-id, image-type, is-public, name, owner-id, owner-alias, platform, root-device-name, root-device-type, source-image-id, state, virtualization-type, tag:, tag-key, tag-value. Nothing is deprecated in Hive, so IncludeDeprecated changes nothing.'
  },
  DeregisterImage: {
    note: 'The image\'s snapshots are kept, as on AWS. The image leaves DescribeImages at once; launching it says InvalidAMIID.Unavailable.'
  },
  CopyImage: {
    unsupported: ['DestinationOutpostArn'],
    note: 'Within the cluster\'s region only (SourceRegion must be it). Each snapshot is copied with ebs CopySnapshot; the copy is pending until they complete. The source\'s snapshots must be usable by the caller, as on AWS.'
  },
  DescribeImageAttribute: {
    note: 'kernel, ramdisk, productCodes, sriovNetSupport, tpmSupport, uefiData and lastLaunchedTime are always empty. launchPermission is the owner\'s to read.'
  },
  ModifyImageAttribute: {
    unsupported: ['OrganizationArns', 'OrganizationalUnitArns', 'ProductCodes'],
    note: 'description, imdsSupport (v2.0, once set for good) and launchPermission (account ids and the group all), as on AWS; not while the image is pending.'
  },
  ResetImageAttribute: { note: 'launchPermission, the only attribute AWS resets: the image becomes private to its owner.' },
  ...IMPORT_ACTIONS
}

const IMAGE_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/
const ACCOUNT_ID = /^\d{12}$/
/** EC2's AMI name rule (API reference, RegisterImage Name). */
const IMAGE_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/
const ARCHITECTURES = ['i386', 'x86_64', 'arm64', 'x86_64_mac', 'arm64_mac']
const BOOT_MODES = ['legacy-bios', 'uefi', 'uefi-preferred']
const VOLUME_TYPES = ['standard', 'io1', 'io2', 'gp2', 'sc1', 'st1', 'gp3']
/** Aliases of AWS-owned images in DescribeImages' Owners; Hive has none of their images. */
const OWNER_ALIASES = ['amazon', 'aws-marketplace', 'aws-backup-vault']
/** EC2 forgets a client token after a day. */
const CLIENT_TOKEN_TTL_MS = 24 * 60 * 60_000

export function checkImageId (id: string): void {
  if (!IMAGE_ID.test(id)) throw ImageErrors.idMalformed(id)
}

function checkName (name: string | undefined): string {
  if (name === undefined || name === '') throw CoreErrors.missingParameter('name')
  if (!IMAGE_NAME.test(name)) throw ImageErrors.nameMalformed()
  return name
}

function oneOf (value: string, valid: string[], parameter: string): string {
  if (!valid.includes(value)) throw ImageErrors.invalidEnum(parameter, value, valid)
  return value
}

const newImageId = (): string => `ami-${randomBytes(9).toString('hex').slice(0, 17)}`

/** The context of the account itself, for Hive's own reads of what that account owns. */
const accountContext = (region: string, accountId: string): RequestContext =>
  ({ requestId: randomUUID(), region, accountId, principalArn: `arn:aws:iam::${accountId}:root` })

interface TokenRecord { fingerprint: string, imageId: string }

/** The image buckets. */
export class ImageStore {
  private constructor (
    readonly images: Bucket<ImageRecord>,
    readonly names: Bucket<string>,
    readonly tokens: Bucket<TokenRecord>,
    readonly tags: TagStore) {}

  static async open (kv: KvStore): Promise<ImageStore> {
    return new ImageStore(
      await kv.bucket<ImageRecord>(kvBucketName('ec2', 'images')),
      await kv.bucket<string>(kvBucketName('ec2', 'image_names')),
      await kv.bucket<TokenRecord>(kvBucketName('ec2', 'image_tokens'), { ttlMs: CLIENT_TOKEN_TTL_MS }),
      new TagStore(kv))
  }

  async get (imageId: string): Promise<ImageRecord | undefined> {
    return (await this.images.get(imageId))?.value
  }

  async all (): Promise<ImageRecord[]> {
    return (await this.images.list()).map(e => e.value)
  }
}

const nameKey = (ownerId: string, name: string): string => `${ownerId}.${Buffer.from(name).toString('base64url')}`

/** May `accountId` see (and launch) the image? */
export function launchableBy (image: ImageRecord, accountId: string): boolean {
  return image.ownerId === accountId || image.launchPermission.public || image.launchPermission.userIds.includes(accountId)
}

const ebsMappings = (i: ImageRecord): EbsMapping[] => i.blockDeviceMappings.flatMap(m => m.ebs === undefined ? [] : [m.ebs])

export const snapshotsOf = (i: ImageRecord): string[] => [...new Set(ebsMappings(i).flatMap(e => e.snapshotId === undefined ? [] : [e.snapshotId]))]

interface SnapshotOutput { SnapshotId: string, State: string, VolumeSize: number, Encrypted?: boolean, KmsKeyId?: string, StateMessage?: string }

/** The snapshots as ebs shows them to `ctx`'s account; ebs's own errors (InvalidSnapshot.NotFound …) pass through. */
async function describeSnapshots (hive: Pick<Hive, 'bus'>, ctx: RequestContext, ids: string[]): Promise<SnapshotOutput[]> {
  if (ids.length === 0) return []
  const out = await hive.bus.request('ec2', 'DescribeSnapshots', { SnapshotIds: ids }, ctx)
  return (out?.Snapshots ?? []) as SnapshotOutput[]
}

/**
 * Registers an image of the caller's (RegisterImage; CreateImage and imports call it too): checks
 * the name and the mappings, reads the snapshots from ebs, claims the name and stores the record.
 * The image is available at once when its snapshots are complete, else pending until they are.
 */
export async function registerImage (hive: Pick<Hive, 'bus' | 'kv'>, ctx: RequestContext, spec: ImageSpec,
  extra: { tags?: Tag[], sourceImageId?: string } = {}): Promise<ImageRecord> {
  const name = checkName(spec.Name)
  const architecture = oneOf(spec.Architecture ?? 'x86_64', ARCHITECTURES, 'architecture')
  if (spec.VirtualizationType !== undefined && spec.VirtualizationType !== 'hvm') {
    throw ImageErrors.invalidEnum('virtualizationType', spec.VirtualizationType, ['hvm'])
  }
  if (spec.BootMode !== undefined) oneOf(spec.BootMode, BOOT_MODES, 'bootMode')
  if (spec.ImdsSupport !== undefined && spec.ImdsSupport !== 'v2.0') throw ImageErrors.imdsSupport()
  const inputs = spec.BlockDeviceMappings ?? []
  if (inputs.length === 0) throw ImageErrors.mappingRequired()
  const rootDeviceName = spec.RootDeviceName ?? '/dev/xvda'

  const seen = new Set<string>()
  for (const m of inputs) {
    const device = m.DeviceName ?? ''
    if (device === '') throw CoreErrors.missingParameter('BlockDeviceMapping.DeviceName')
    if (seen.has(device)) throw ImageErrors.mapping(`The device name ${device} is used more than once.`)
    seen.add(device)
    if (m.Ebs?.VolumeType !== undefined) oneOf(m.Ebs.VolumeType, VOLUME_TYPES, 'volumeType')
    if (m.Ebs !== undefined && m.Ebs.SnapshotId === undefined && m.Ebs.VolumeSize === undefined) {
      throw ImageErrors.mapping(`The block device mapping of ${device} needs a snapshotId or a volumeSize.`)
    }
  }
  const root = inputs.find(m => m.DeviceName === rootDeviceName)
  if (root === undefined) throw ImageErrors.mapping(`The root device name ${rootDeviceName} is not one of the block device mappings.`)
  if (root.Ebs?.SnapshotId === undefined) throw ImageErrors.mapping(`The root device ${rootDeviceName} must have a snapshotId.`)

  const snapshotIds = [...new Set(inputs.flatMap(m => m.Ebs?.SnapshotId === undefined ? [] : [m.Ebs.SnapshotId]))]
  const snapshots = new Map((await describeSnapshots(hive, requestContextOf(ctx), snapshotIds)).map(s => [s.SnapshotId, s]))
  const blockDeviceMappings: ImageMapping[] = inputs.map(m => {
    const mapping: ImageMapping = { deviceName: m.DeviceName as string }
    if (m.VirtualName !== undefined) mapping.virtualName = m.VirtualName
    if (m.NoDevice !== undefined) mapping.noDevice = true
    if (m.Ebs !== undefined) {
      const snap = m.Ebs.SnapshotId === undefined ? undefined : snapshots.get(m.Ebs.SnapshotId)
      if (m.Ebs.SnapshotId !== undefined && snap === undefined) {
        throw new AwsError('InvalidSnapshot.NotFound', `The snapshot '${m.Ebs.SnapshotId}' does not exist.`, 400)
      }
      if (snap?.State === 'error') throw new AwsError('IncorrectState', `Snapshot '${snap.SnapshotId}' is in the 'error' state.`, 400)
      const size = m.Ebs.VolumeSize ?? snap?.VolumeSize ?? 0
      if (snap !== undefined && size < snap.VolumeSize) {
        throw ImageErrors.mapping(`Volume of size ${size}GiB is smaller than snapshot '${snap.SnapshotId}', expect size >= ${snap.VolumeSize}GiB`)
      }
      const ebs: EbsMapping = {
        volumeSize: size,
        volumeType: m.Ebs.VolumeType ?? 'gp2',
        deleteOnTermination: m.Ebs.DeleteOnTermination ?? true,
        encrypted: snap?.Encrypted ?? m.Ebs.Encrypted ?? false
      }
      if (snap !== undefined) ebs.snapshotId = snap.SnapshotId
      if (m.Ebs.Iops !== undefined) ebs.iops = m.Ebs.Iops
      if (m.Ebs.Throughput !== undefined) ebs.throughput = m.Ebs.Throughput
      const kms = snap?.KmsKeyId ?? m.Ebs.KmsKeyId
      if (kms !== undefined) ebs.kmsKeyId = kms
      mapping.ebs = ebs
    }
    return mapping
  })

  const record: ImageRecord = {
    imageId: newImageId(),
    ownerId: ctx.accountId,
    name,
    description: spec.Description ?? '',
    architecture,
    rootDeviceName,
    blockDeviceMappings,
    state: [...snapshots.values()].every(s => s.State === 'completed') ? 'available' : 'pending',
    creationDate: new Date().toISOString(),
    virtualizationType: 'hvm',
    launchPermission: { public: false, userIds: [] }
  }
  if (spec.EnaSupport !== undefined) record.enaSupport = spec.EnaSupport
  if (spec.BootMode !== undefined) record.bootMode = spec.BootMode
  if (spec.ImdsSupport !== undefined) record.imdsSupport = spec.ImdsSupport
  if (extra.sourceImageId !== undefined) record.sourceImageId = extra.sourceImageId

  const store = await ImageStore.open(hive.kv)
  await claimName(store, record)
  await store.images.create(record.imageId, record)
  await store.tags.put(record.ownerId, record.imageId, extra.tags ?? [])
  return record
}

/**
 * Claims the image's name for its owner; InvalidAMIName.Duplicate when an image not deregistered
 * holds it. A claim left by an image deregistered without releasing it (a crash in between) is taken over.
 */
async function claimName (store: ImageStore, record: ImageRecord): Promise<void> {
  const key = nameKey(record.ownerId, record.name)
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await store.names.create(key, record.imageId) !== undefined) return
    const cur = await store.names.get(key)
    if (cur === undefined) continue
    const holder = await store.get(cur.value)
    if (holder !== undefined && holder.state !== 'deregistered') throw ImageErrors.nameDuplicate(record.name, holder.imageId)
    try {
      await store.names.update(key, record.imageId, cur.revision)
      return
    } catch (e) {
      if (!(e instanceof RevisionConflict)) throw e
    }
  }
  throw CoreErrors.contention(key)
}

/**
 * A pending image moved on when its snapshots have: available once all are completed, failed when
 * one failed or is gone. Read with the owner's own view of its snapshots.
 */
async function settle (hive: Pick<Hive, 'bus' | 'node'>, store: ImageStore, image: ImageRecord): Promise<ImageRecord> {
  if (image.state !== 'pending') return image
  let reason: ImageRecord['stateReason']
  let done = false
  try {
    const snaps = await describeSnapshots(hive, accountContext(hive.node.region, image.ownerId), snapshotsOf(image))
    const failed = snaps.find(s => s.State === 'error')
    if (failed !== undefined) reason = { code: 'Server.InternalError', message: `Snapshot ${failed.SnapshotId} failed: ${failed.StateMessage ?? 'error'}` }
    done = snaps.every(s => s.State === 'completed')
  } catch (e) {
    if (!isAwsError(e) || e.code !== 'InvalidSnapshot.NotFound') throw e
    reason = { code: 'Client.InvalidSnapshot.NotFound', message: e.message }
  }
  if (reason === undefined && !done) return image
  const next = await store.images.modify(image.imageId, cur => {
    if (cur?.state !== 'pending') return cur
    return reason === undefined ? { ...cur, state: 'available' } : { ...cur, state: 'failed', stateReason: reason }
  })
  return next ?? image
}

/**
 * The image a caller launches (RunInstances): InvalidAMIID.Malformed, InvalidAMIID.NotFound,
 * AuthFailure when it may not launch it, InvalidAMIID.Unavailable when the image is not available.
 */
export async function imageForLaunch (hive: Pick<Hive, 'bus' | 'kv' | 'node'>, ctx: RequestContext, imageId: string): Promise<ImageRecord> {
  checkImageId(imageId)
  const store = await ImageStore.open(hive.kv)
  const found = await store.get(imageId)
  if (found === undefined) throw ImageErrors.notFound([imageId])
  if (found.state === 'deregistered') throw ImageErrors.deregistered(imageId)
  if (!launchableBy(found, ctx.accountId)) throw ImageErrors.launchNotAllowed(imageId)
  const image = await settle(hive, store, found)
  if (image.state !== 'available') throw ImageErrors.cannotRun(imageId, image.state)
  return image
}

/** ec2.snapshot.images (header block above). */
export function serveSnapshotImages (hive: Pick<Hive, 'bus' | 'kv'>): void {
  hive.bus.serveInternal('ec2.snapshot.images', async msg => {
    const snapshotId = msg.headers?.snapshotId ?? ''
    const store = await ImageStore.open(hive.kv)
    const ids = (await store.all()).filter(i => i.state !== 'deregistered' && snapshotsOf(i).includes(snapshotId)).map(i => i.imageId)
    return { data: Buffer.from(JSON.stringify(ids)) }
  })
}

/** The existence checks CreateTags/DeleteTags make of images, for core serveTaggedResources. */
export function imageTaggedResources (hive: Pick<Hive, 'kv'>): Record<string, (accountId: string, resourceId: string) => Promise<boolean>> {
  return {
    ami: async (accountId, imageId) => {
      const image = await (await ImageStore.open(hive.kv)).get(imageId)
      return image !== undefined && image.state !== 'deregistered' && launchableBy(image, accountId)
    }
  }
}

/** Serves the image hooks other parts of the cluster ask: ec2.snapshot.images and the tag existence checks. */
export function serveImageHooks (hive: Pick<Hive, 'bus' | 'kv'>): void {
  serveSnapshotImages(hive)
  serveTaggedResources(hive.bus, { ...imageTaggedResources(hive), ...importTaggedResources(hive) })
}

const IMAGE_FILTERS: FilterFields<ImageRecord> = {
  architecture: i => i.architecture,
  'block-device-mapping.delete-on-termination': i => ebsMappings(i).map(e => e.deleteOnTermination),
  'block-device-mapping.device-name': i => i.blockDeviceMappings.map(m => m.deviceName),
  'block-device-mapping.encrypted': i => ebsMappings(i).map(e => e.encrypted),
  'block-device-mapping.snapshot-id': i => ebsMappings(i).map(e => e.snapshotId),
  'block-device-mapping.volume-size': i => ebsMappings(i).map(e => e.volumeSize),
  'block-device-mapping.volume-type': i => ebsMappings(i).map(e => e.volumeType),
  'creation-date': i => i.creationDate,
  description: i => i.description,
  'ena-support': i => i.enaSupport,
  hypervisor: () => 'xen',
  'image-id': i => i.imageId,
  'image-type': () => 'machine',
  'is-public': i => i.launchPermission.public,
  name: i => i.name,
  'owner-alias': () => undefined,
  'owner-id': i => i.ownerId,
  platform: () => undefined,
  'root-device-name': i => i.rootDeviceName,
  'root-device-type': () => 'ebs',
  'source-image-id': i => i.sourceImageId,
  state: i => i.state,
  'virtualization-type': i => i.virtualizationType
}

function mappingOutput (m: ImageMapping): Record<string, unknown> {
  const out: Record<string, unknown> = { DeviceName: m.deviceName }
  if (m.virtualName !== undefined) out.VirtualName = m.virtualName
  if (m.noDevice === true) out.NoDevice = ''
  if (m.ebs !== undefined) {
    out.Ebs = {
      DeleteOnTermination: m.ebs.deleteOnTermination,
      ...(m.ebs.iops === undefined ? {} : { Iops: m.ebs.iops }),
      ...(m.ebs.snapshotId === undefined ? {} : { SnapshotId: m.ebs.snapshotId }),
      VolumeSize: m.ebs.volumeSize,
      VolumeType: m.ebs.volumeType,
      ...(m.ebs.throughput === undefined ? {} : { Throughput: m.ebs.throughput }),
      ...(m.ebs.kmsKeyId === undefined ? {} : { KmsKeyId: m.ebs.kmsKeyId }),
      Encrypted: m.ebs.encrypted
    }
  }
  return out
}

/** An image as DescribeImages shows it. */
export function imageOutput (i: ImageRecord, tags: Tag[]): Record<string, unknown> {
  return {
    Architecture: i.architecture,
    CreationDate: i.creationDate,
    ImageId: i.imageId,
    // What EC2 shows for an EBS-backed image.
    ImageLocation: `${i.ownerId}/${i.name}`,
    ImageType: 'machine',
    Public: i.launchPermission.public,
    OwnerId: i.ownerId,
    PlatformDetails: 'Linux/UNIX',
    UsageOperation: 'RunInstances',
    State: i.state,
    BlockDeviceMappings: i.blockDeviceMappings.map(mappingOutput),
    ...(i.description === '' ? {} : { Description: i.description }),
    ...(i.enaSupport === undefined ? {} : { EnaSupport: i.enaSupport }),
    Hypervisor: 'xen',
    Name: i.name,
    RootDeviceName: i.rootDeviceName,
    RootDeviceType: 'ebs',
    ...(i.stateReason === undefined ? {} : { StateReason: { Code: i.stateReason.code, Message: i.stateReason.message } }),
    ...(tags.length === 0 ? {} : { Tags: tags }),
    VirtualizationType: i.virtualizationType,
    ...(i.bootMode === undefined ? {} : { BootMode: i.bootMode }),
    ...(i.imdsSupport === undefined ? {} : { ImdsSupport: i.imdsSupport })
  }
}

interface DescribeImagesInput {
  ImageIds?: string[]
  Owners?: string[]
  ExecutableUsers?: string[]
  Filters?: Filter[]
  IncludeDeprecated?: boolean
  MaxResults?: number
  NextToken?: string
}

interface CopyImageInput {
  SourceImageId: string
  SourceRegion: string
  Name?: string
  Description?: string
  Encrypted?: boolean
  KmsKeyId?: string
  ClientToken?: string
  CopyImageTags?: boolean
}

interface LaunchPermissionItem { Group?: string, UserId?: string, OrganizationArn?: string, OrganizationalUnitArn?: string }

interface ModifyImageAttributeInput {
  ImageId: string
  Attribute?: string
  Description?: { Value?: string }
  LaunchPermission?: { Add?: LaunchPermissionItem[], Remove?: LaunchPermissionItem[] }
  OperationType?: string
  UserIds?: string[]
  UserGroups?: string[]
  Value?: string
}

const ATTRIBUTES = ['description', 'kernel', 'ramdisk', 'launchPermission', 'productCodes', 'blockDeviceMapping', 'sriovNetSupport',
  'bootMode', 'tpmSupport', 'uefiData', 'lastLaunchedTime', 'imdsSupport']

/** The output member of each DescribeImageAttribute attribute Hive keeps no value of. */
const EMPTY_ATTRIBUTES: Record<string, string> = {
  kernel: 'KernelId', ramdisk: 'RamdiskId', sriovNetSupport: 'SriovNetSupport', tpmSupport: 'TpmSupport', uefiData: 'UefiData', lastLaunchedTime: 'LastLaunchedTime'
}

function launchPermissions (i: ImageRecord): LaunchPermissionItem[] {
  return [...(i.launchPermission.public ? [{ Group: 'all' }] : []), ...i.launchPermission.userIds.map(UserId => ({ UserId }))]
}

export function imageHandlers (hive: Pick<Hive, 'bus' | 'kv' | 'node' | 'log' | 'nodes'>): Record<string, ActionHandler> {
  const storeP = ImageStore.open(hive.kv)
  const imports = importHandlers(hive, async (ctx, spec) => (await registerImage(hive, ctx, spec)).imageId)

  /** The image as `accountId` may see it: InvalidAMIID.NotFound when it does not exist or is not visible. */
  const visible = async (imageId: string, accountId: string): Promise<ImageRecord> => {
    checkImageId(imageId)
    const store = await storeP
    const image = await store.get(imageId)
    if (image === undefined || !launchableBy(image, accountId)) throw ImageErrors.notFound([imageId])
    if (image.state === 'deregistered') throw ImageErrors.deregistered(imageId)
    return await settle(hive, store, image)
  }

  /** The caller's own image: AuthFailure for another's it can see. */
  const owned = async (imageId: string, accountId: string): Promise<ImageRecord> => {
    const image = await visible(imageId, accountId)
    if (image.ownerId !== accountId) throw ImageErrors.notOwner(imageId)
    return image
  }

  const modifyOwned = async (imageId: string, accountId: string, fn: (i: ImageRecord) => ImageRecord): Promise<void> => {
    await (await storeP).images.modify(imageId, cur => {
      if (cur === undefined || cur.state === 'deregistered' || cur.ownerId !== accountId) throw ImageErrors.notFound([imageId])
      return fn(cur)
    })
  }

  return {
    ...imports,

    RegisterImage: async (raw, ctx) => {
      const image = await registerImage(hive, ctx, raw as ImageSpec)
      return { ImageId: image.imageId }
    },

    DescribeImages: async (raw, ctx) => {
      const input = raw as DescribeImagesInput
      const store = await storeP
      const ids = input.ImageIds ?? []
      for (const id of ids) checkImageId(id)
      const self = (v: string): string => v === 'self' ? ctx.accountId : v
      const owners = (input.Owners ?? []).map(self)
      for (const o of owners) if (!ACCOUNT_ID.test(o) && !OWNER_ALIASES.includes(o)) throw ImageErrors.userIdMalformed(o)
      const users = (input.ExecutableUsers ?? []).map(self)
      for (const u of users) if (!ACCOUNT_ID.test(u) && u !== 'all') throw ImageErrors.userIdMalformed(u)

      const all = await store.all()
      const unknown = [...new Set(ids)].filter(id => !all.some(i => i.imageId === id))
      if (unknown.length > 0) throw ImageErrors.notFound(unknown)
      let images = all.filter(i => i.state !== 'deregistered' && launchableBy(i, ctx.accountId))
      if (ids.length > 0) images = images.filter(i => ids.includes(i.imageId))
      if (owners.length > 0) images = images.filter(i => owners.includes(i.ownerId))
      if (users.length > 0) {
        images = images.filter(i => users.some(u => u === 'all' ? i.launchPermission.public : i.ownerId === u || i.launchPermission.userIds.includes(u)))
      }
      images = await Promise.all(images.map(async i => await settle(hive, store, i)))
      const tags = await store.tags.getMany(ctx.accountId, images.map(i => i.imageId))
      const matched = matchFilters(images, input.Filters, IMAGE_FILTERS, i => tags.get(i.imageId) ?? [])
        .sort((a, b) => a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0)
      const page = paginate(matched, input, { pageSize: Number.MAX_SAFE_INTEGER }, i => i.imageId)
      return {
        Images: page.items.map(i => imageOutput(i, tags.get(i.imageId) ?? [])),
        ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken })
      }
    },

    DeregisterImage: async (raw, ctx) => {
      const imageId = String(raw.ImageId)
      const image = await owned(imageId, ctx.accountId)
      const store = await storeP
      await modifyOwned(imageId, ctx.accountId, cur => ({ ...cur, state: 'deregistered' }))
      const key = nameKey(image.ownerId, image.name)
      const claim = await store.names.get(key)
      // At the revision read: a claim taken over meanwhile is the new holder's.
      if (claim?.value === imageId) await store.names.delete(key, claim.revision).catch(e => { if (!(e instanceof RevisionConflict)) throw e })
      await store.tags.drop(ctx.accountId, imageId)
      return {}
    },

    CopyImage: async (raw, ctx) => {
      const input = raw as unknown as CopyImageInput
      const region = hive.node.region
      if (input.SourceRegion !== region) throw ImageErrors.otherRegion(input.SourceRegion, region)
      checkName(input.Name)
      const store = await storeP
      const print = JSON.stringify([input.SourceImageId, input.Name, input.Description, input.Encrypted, input.KmsKeyId, input.CopyImageTags])
      const tokenKey = input.ClientToken === undefined || input.ClientToken === ''
        ? undefined
        : `${ctx.accountId}.${createHash('sha256').update(input.ClientToken).digest('hex')}`
      if (tokenKey !== undefined) {
        const first = (await store.tokens.get(tokenKey))?.value
        if (first !== undefined) {
          if (first.fingerprint !== print) throw ImageErrors.idempotentMismatch()
          return { ImageId: first.imageId }
        }
      }
      const source = await visible(input.SourceImageId, ctx.accountId)
      if (source.state !== 'available') throw ImageErrors.notUsable(source.imageId, source.state)
      const copies = new Map<string, string>()
      const caller = requestContextOf(ctx)
      for (const snapshotId of snapshotsOf(source)) {
        const out = await hive.bus.request('ec2', 'CopySnapshot', {
          SourceSnapshotId: snapshotId,
          SourceRegion: region,
          Description: `Copied for DestinationAmi from SourceAmi ${source.imageId} for SourceSnapshot ${snapshotId}`,
          ...(input.Encrypted === undefined ? {} : { Encrypted: input.Encrypted }),
          ...(input.KmsKeyId === undefined ? {} : { KmsKeyId: input.KmsKeyId })
        }, caller)
        copies.set(snapshotId, String(out?.SnapshotId))
      }
      const tags = input.CopyImageTags === true && source.ownerId === ctx.accountId ? await store.tags.get(ctx.accountId, source.imageId) : []
      const image = await registerImage(hive, ctx, {
        Name: input.Name,
        Description: input.Description ?? source.description,
        Architecture: source.architecture,
        RootDeviceName: source.rootDeviceName,
        BlockDeviceMappings: source.blockDeviceMappings.map(m => ({
          DeviceName: m.deviceName,
          ...(m.virtualName === undefined ? {} : { VirtualName: m.virtualName }),
          ...(m.noDevice === true ? { NoDevice: '' } : {}),
          ...(m.ebs === undefined
            ? {}
            : {
                Ebs: {
                  ...(m.ebs.snapshotId === undefined ? {} : { SnapshotId: copies.get(m.ebs.snapshotId) }),
                  VolumeSize: m.ebs.volumeSize,
                  VolumeType: m.ebs.volumeType,
                  DeleteOnTermination: m.ebs.deleteOnTermination,
                  ...(m.ebs.iops === undefined ? {} : { Iops: m.ebs.iops }),
                  ...(m.ebs.throughput === undefined ? {} : { Throughput: m.ebs.throughput })
                }
              })
        })),
        ...(source.enaSupport === undefined ? {} : { EnaSupport: source.enaSupport }),
        ...(source.bootMode === undefined ? {} : { BootMode: source.bootMode }),
        ...(source.imdsSupport === undefined ? {} : { ImdsSupport: source.imdsSupport })
      }, { tags, sourceImageId: source.imageId })
      if (tokenKey !== undefined) await store.tokens.create(tokenKey, { fingerprint: print, imageId: image.imageId })
      return { ImageId: image.imageId }
    },

    DescribeImageAttribute: async (raw, ctx) => {
      const attribute = String(raw.Attribute)
      if (!ATTRIBUTES.includes(attribute)) throw ImageErrors.invalidAttribute(attribute)
      const image = attribute === 'launchPermission' ? await owned(String(raw.ImageId), ctx.accountId) : await visible(String(raw.ImageId), ctx.accountId)
      const out: Record<string, unknown> = { ImageId: image.imageId }
      if (attribute === 'description') out.Description = image.description === '' ? {} : { Value: image.description }
      else if (attribute === 'launchPermission') out.LaunchPermissions = launchPermissions(image)
      else if (attribute === 'productCodes') out.ProductCodes = []
      else if (attribute === 'blockDeviceMapping') out.BlockDeviceMappings = image.blockDeviceMappings.map(mappingOutput)
      else if (attribute === 'bootMode') out.BootMode = image.bootMode === undefined ? {} : { Value: image.bootMode }
      else if (attribute === 'imdsSupport') out.ImdsSupport = image.imdsSupport === undefined ? {} : { Value: image.imdsSupport }
      else out[EMPTY_ATTRIBUTES[attribute]] = {}
      return out
    },

    ModifyImageAttribute: async (raw, ctx) => {
      const input = raw as unknown as ModifyImageAttributeInput
      const attribute = input.Attribute ??
        (input.Description !== undefined ? 'description' : input.LaunchPermission !== undefined || input.UserIds !== undefined || input.UserGroups !== undefined ? 'launchPermission' : undefined)
      if (attribute === undefined) throw ImageErrors.noAttribute()
      if (!ATTRIBUTES.includes(attribute)) throw ImageErrors.invalidAttribute(attribute)
      if (attribute === 'description') {
        const value = input.Description?.Value ?? input.Value ?? ''
        const image = await owned(input.ImageId, ctx.accountId)
        await modifyOwned(image.imageId, ctx.accountId, cur => ({ ...cur, description: value }))
        return {}
      }
      if (attribute === 'imdsSupport') {
        if (input.Value !== 'v2.0') throw ImageErrors.imdsSupport()
        const image = await owned(input.ImageId, ctx.accountId)
        await modifyOwned(image.imageId, ctx.accountId, cur => ({ ...cur, imdsSupport: 'v2.0' }))
        return {}
      }
      if (attribute !== 'launchPermission') throw ImageErrors.attributeNotModifiable(attribute)
      const listed: LaunchPermissionItem[] = [
        ...(input.UserIds ?? []).map(UserId => ({ UserId })),
        ...(input.UserGroups ?? []).map(Group => ({ Group }))
      ]
      const add = [...(input.LaunchPermission?.Add ?? []), ...(input.OperationType === 'add' ? listed : [])]
      const remove = [...(input.LaunchPermission?.Remove ?? []), ...(input.OperationType === 'remove' ? listed : [])]
      if (listed.length > 0 && input.OperationType === undefined) throw CoreErrors.missingParameter('operationType')
      if (add.length === 0 && remove.length === 0) throw ImageErrors.noAttribute()
      for (const p of [...add, ...remove]) {
        if (p.Group !== undefined && p.Group !== 'all') throw ImageErrors.attributeItem(p.Group, 'group')
        if (p.UserId !== undefined && !ACCOUNT_ID.test(p.UserId)) throw ImageErrors.attributeItem(p.UserId, 'userId')
      }
      const image = await owned(input.ImageId, ctx.accountId)
      if (image.state !== 'available') throw ImageErrors.notUsable(image.imageId, image.state)
      await modifyOwned(image.imageId, ctx.accountId, cur => {
        const removed = (u: string): boolean => remove.some(p => p.UserId === u)
        const added = add.flatMap(p => p.UserId === undefined ? [] : [p.UserId])
        const userIds = [...new Set([...cur.launchPermission.userIds.filter(u => !removed(u)), ...added])]
        const isPublic = add.some(p => p.Group === 'all') || (cur.launchPermission.public && !remove.some(p => p.Group === 'all'))
        return { ...cur, launchPermission: { public: isPublic, userIds } }
      })
      return {}
    },

    ResetImageAttribute: async (raw, ctx) => {
      const attribute = String(raw.Attribute)
      if (attribute !== 'launchPermission') {
        throw ATTRIBUTES.includes(attribute) ? ImageErrors.attributeNotModifiable(attribute) : ImageErrors.invalidAttribute(attribute)
      }
      const image = await owned(String(raw.ImageId), ctx.accountId)
      await modifyOwned(image.imageId, ctx.accountId, cur => ({ ...cur, launchPermission: { public: false, userIds: [] } }))
      return {}
    }
  }
}
