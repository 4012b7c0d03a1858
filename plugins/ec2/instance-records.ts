/**
 * Instances as the cluster knows them: one record per instance in JetStream KV, so every node
 * describes every instance and a node that restarts finds its own. The node named in a record runs
 * the instance's QEMU (instance-runner.ts); any node may change a record, always by compare-and-set,
 * and then asks that node to bring the VM in line with it.
 *
 *   hive_ec2_instances   <instanceId> → InstanceRecord
 *   hive_ec2_run_tokens  <accountId>.<sha256(ClientToken) hex> → RunTokenRecord: RunInstances'
 *                        idempotency; entries expire after RUN_TOKEN_TTL_MS.
 *
 * A terminated instance stays visible for TERMINATED_VISIBLE_MS (EC2: about an hour), then its
 * record is removed by whichever node next lists the instances.
 */
import { createHash, randomBytes } from 'node:crypto'
import { AwsError, kvBucketName, type Bucket, type KvStore, type RequestContext, type Tag } from '../../core/index.js'

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped'

/** EC2's state codes (the low byte of InstanceState.Code). */
export const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80
}

/** States in which an instance holds its node's CPU and memory (capacity.ts). */
export const HOLDS_CAPACITY: ReadonlySet<InstanceStateName> = new Set(['pending', 'running', 'stopping', 'shutting-down'])

/** An EBS volume of the instance: launched with it (from the AMI or RunInstances' mappings) or attached later. */
export interface BlockDeviceRecord {
  deviceName: string
  /** Unset until the runner has created the volume of a launch-time mapping. */
  volumeId?: string
  /** What to create it from, for launch-time mappings. */
  launch?: { snapshotId?: string, volumeSize: number, volumeType?: string, iops?: number, throughput?: number, encrypted?: boolean, kmsKeyId?: string }
  deleteOnTermination: boolean
  /** ISO-8601, once attached. */
  attachTime?: string
}

export interface MetadataOptionsRecord {
  httpTokens: 'optional' | 'required'
  httpEndpoint: 'enabled' | 'disabled'
  httpPutResponseHopLimit: number
  httpProtocolIpv6: 'enabled' | 'disabled'
  instanceMetadataTags: 'enabled' | 'disabled'
}

export interface InstanceRecord {
  instanceId: string
  reservationId: string
  ownerId: string
  /** The principal that launched it: background work (volumes) runs on its behalf. */
  principalArn: string
  imageId: string
  instanceType: string
  architecture: string
  keyName?: string
  /** The key pair's OpenSSH line as it was at launch: the guest keeps it if the pair is deleted. */
  publicKey?: string
  /** Base64, as RunInstances took it. */
  userData?: string
  amiLaunchIndex: number
  state: InstanceStateName
  stateReason?: { code: string, message: string }
  stateTransitionReason: string
  /** ISO-8601: the last launch or start. */
  launchTime: string
  /** The node whose QEMU runs the instance. */
  node: string
  availabilityZone: string
  privateIpAddress: string
  macAddress: string
  rootDeviceName: string
  blockDevices: BlockDeviceRecord[]
  clientToken?: string
  disableApiTermination: boolean
  disableApiStop: boolean
  shutdownBehavior: 'stop' | 'terminate'
  metadataOptions: MetadataOptionsRecord
  monitoring: 'disabled' | 'enabled'
  ebsOptimized: boolean
  sourceDestCheck: boolean
  /** RunInstances' TagSpecifications for its volumes. */
  volumeTags?: Tag[]
  /** StopInstances' Force, for the runner. */
  stopForce?: boolean
  /** ISO-8601, once terminated. */
  terminatedAt?: string
}

export interface RunTokenRecord { reservationId: string, fingerprint: string }

export const RUN_TOKEN_TTL_MS = 24 * 3600_000

export function terminatedVisibleMs (): number {
  const ms = Number(process.env.HIVE_EC2_TERMINATED_VISIBLE_MS)
  return Number.isFinite(ms) && ms >= 0 && process.env.HIVE_EC2_TERMINATED_VISIBLE_MS !== undefined ? ms : 3600_000
}

const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/

export const newInstanceId = (): string => `i-${randomBytes(9).toString('hex').slice(0, 17)}`
export const newReservationId = (): string => `r-${randomBytes(9).toString('hex').slice(0, 17)}`

export const InstanceErrors = {
  malformed: (id: string) => new AwsError('InvalidInstanceID.Malformed', `Invalid id: "${id}"`, 400),
  notFound: (ids: string[]) => ids.length === 1
    ? new AwsError('InvalidInstanceID.NotFound', `The instance ID '${ids[0]}' does not exist`, 400)
    : new AwsError('InvalidInstanceID.NotFound', `The instance IDs '${ids.join(', ')}' do not exist`, 400),
  incorrectState: (message: string) => new AwsError('IncorrectInstanceState', message, 400),
  notPermitted: (message: string) => new AwsError('OperationNotPermitted', message, 400),
  capacity: (type: string, zone: string) => new AwsError('InsufficientInstanceCapacity',
    `We currently do not have sufficient ${type} capacity in the Availability Zone you requested (${zone}). Our system will be working on provisioning additional capacity.`, 500),
  missing: (parameter: string) => new AwsError('MissingParameter', `The request must contain the parameter ${parameter}`, 400),
  blockDeviceMapping: (message: string) => new AwsError('InvalidBlockDeviceMapping', message, 400),
  invalidValue: (message: string) => new AwsError('InvalidParameterValue', message, 400),
  combination: (message: string) => new AwsError('InvalidParameterCombination', message, 400),
  attributeValue: (value: string, attribute: string) => new AwsError('InvalidInstanceAttributeValue', `Value (${value}) for parameter ${attribute} is invalid.`, 400),
  /** An error another node answered with (node calls carry its code and message). */
  fromNode: (code: string, message: string) => new AwsError(code, message, code === 'InsufficientInstanceCapacity' ? 500 : 400),
  idempotentMismatch: () => new AwsError('IdempotentParameterMismatch', 'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).', 400)
} as const

export function checkInstanceId (id: unknown): string {
  if (typeof id !== 'string' || !INSTANCE_ID.test(id)) throw InstanceErrors.malformed(String(id))
  return id
}

export class InstanceStore {
  private constructor (readonly instances: Bucket<InstanceRecord>, readonly tokens: Bucket<RunTokenRecord>) {}

  static async open (kv: KvStore): Promise<InstanceStore> {
    return new InstanceStore(
      await kv.bucket<InstanceRecord>(kvBucketName('ec2', 'instances')),
      await kv.bucket<RunTokenRecord>(kvBucketName('ec2', 'run_tokens'), { ttlMs: RUN_TOKEN_TTL_MS }))
  }

  async get (instanceId: string): Promise<InstanceRecord | undefined> {
    return (await this.instances.get(instanceId))?.value
  }

  /** The account's instance, or InvalidInstanceID.NotFound (another account's does not exist for it). */
  async instance (instanceId: string, accountId: string): Promise<InstanceRecord> {
    checkInstanceId(instanceId)
    const r = await this.get(instanceId)
    if (r === undefined || r.ownerId !== accountId || expired(r)) throw InstanceErrors.notFound([instanceId])
    return r
  }

  /** Called for a terminated instance whose record is removed (its tags go with it). */
  onExpired: (r: InstanceRecord) => Promise<void> = async () => {}

  /** Every instance still visible, removing the terminated ones whose time is up. */
  async all (): Promise<InstanceRecord[]> {
    const out: InstanceRecord[] = []
    for (const e of await this.instances.list()) {
      if (expired(e.value)) {
        try {
          await this.instances.delete(e.key, e.revision)
          await this.onExpired(e.value)
        } catch {}
        continue
      }
      out.push(e.value)
    }
    return out
  }

  async create (r: InstanceRecord): Promise<void> {
    if (await this.instances.create(r.instanceId, r) === undefined) throw new Error(`instance ${r.instanceId} exists`)
  }

  /**
   * Compare-and-set on the current record; `fn` may throw an AwsError to refuse, or return the record
   * unchanged (the same object) to leave it alone.
   */
  async modify (instanceId: string, fn: (r: InstanceRecord) => InstanceRecord): Promise<InstanceRecord> {
    let out: InstanceRecord | undefined
    await this.instances.modify(instanceId, cur => {
      if (cur === undefined) throw InstanceErrors.notFound([instanceId])
      const next = fn(cur)
      out = next
      return next === cur ? undefined : next
    })
    return out as InstanceRecord
  }

  async remove (instanceId: string): Promise<void> {
    await this.instances.delete(instanceId)
  }
}

function expired (r: InstanceRecord): boolean {
  return r.state === 'terminated' && r.terminatedAt !== undefined && Date.now() - Date.parse(r.terminatedAt) > terminatedVisibleMs()
}

export function runTokenKey (accountId: string, token: string): string {
  return `${accountId}.${createHash('sha256').update(token).digest('hex')}`
}

/** The context background work runs in: the launching principal's. */
export function ownerContext (r: InstanceRecord, region: string): RequestContext {
  return { requestId: randomBytes(16).toString('hex'), region, accountId: r.ownerId, principalArn: r.principalArn }
}

export function stateOutput (state: InstanceStateName): { Code: number, Name: string } {
  return { Code: STATE_CODES[state], Name: state }
}

/** `ip-169-254-3-17.<region>.compute.internal`, as EC2 names an instance after its private address. */
export function privateDnsName (ip: string, region: string): string {
  return `ip-${ip.replaceAll('.', '-')}.${region === 'us-east-1' ? 'ec2' : region}.internal`
}

/** The Instance structure of DescribeInstances and RunInstances. */
export function instanceOutput (r: InstanceRecord, region: string, tags: Tag[]): Record<string, unknown> {
  const out: Record<string, unknown> = {
    InstanceId: r.instanceId,
    ImageId: r.imageId,
    State: stateOutput(r.state),
    PrivateDnsName: r.state === 'terminated' ? '' : privateDnsName(r.privateIpAddress, region),
    PublicDnsName: '',
    StateTransitionReason: r.stateTransitionReason,
    AmiLaunchIndex: r.amiLaunchIndex,
    ProductCodes: [],
    InstanceType: r.instanceType,
    LaunchTime: new Date(r.launchTime),
    Placement: { AvailabilityZone: r.availabilityZone, GroupName: '', Tenancy: 'default' },
    Monitoring: { State: r.monitoring },
    Architecture: r.architecture,
    RootDeviceType: 'ebs',
    RootDeviceName: r.rootDeviceName,
    BlockDeviceMappings: r.blockDevices.filter(b => b.volumeId !== undefined && b.attachTime !== undefined).map(b => ({
      DeviceName: b.deviceName,
      Ebs: { AttachTime: new Date(b.attachTime as string), DeleteOnTermination: b.deleteOnTermination, Status: 'attached', VolumeId: b.volumeId }
    })),
    VirtualizationType: 'hvm',
    ClientToken: r.clientToken ?? '',
    Hypervisor: 'xen',
    EbsOptimized: r.ebsOptimized,
    EnaSupport: true,
    SourceDestCheck: r.sourceDestCheck,
    SecurityGroups: [],
    NetworkInterfaces: [],
    CpuOptions: { CoreCount: 1, ThreadsPerCore: 1 },
    MetadataOptions: {
      State: 'applied',
      HttpTokens: r.metadataOptions.httpTokens,
      HttpPutResponseHopLimit: r.metadataOptions.httpPutResponseHopLimit,
      HttpEndpoint: r.metadataOptions.httpEndpoint,
      HttpProtocolIpv6: r.metadataOptions.httpProtocolIpv6,
      InstanceMetadataTags: r.metadataOptions.instanceMetadataTags
    },
    PlatformDetails: 'Linux/UNIX',
    UsageOperation: 'RunInstances',
    BootMode: 'legacy-bios'
  }
  if (r.state !== 'terminated') out.PrivateIpAddress = r.privateIpAddress
  if (r.keyName !== undefined) out.KeyName = r.keyName
  if (r.stateReason !== undefined) out.StateReason = { Code: r.stateReason.code, Message: r.stateReason.message }
  if (tags.length > 0) out.Tags = tags
  return out
}

/** "User initiated (2026-11-24 10:11:12 GMT)", EC2's StateTransitionReason. */
export function transitionReason (why: string, at = new Date()): string {
  return `${why} (${at.toISOString().slice(0, 19).replace('T', ' ')} GMT)`
}
