/**
 * The instance actions: RunInstances and the life of an instance after it. A handler checks and
 * changes the record (instance-records.ts) and asks the instance's node to make the VM follow
 * (instance-runner.ts); like EC2 it answers at once with the state the instance is moving into
 * (pending, stopping, shutting-down).
 */
import { randomBytes } from 'node:crypto'
import {
  matchFilters, NodeCallError, paginate, tagsForResource,
  type ActionContext, type ActionHandler, type ActionSpec, type Filter, type FilterFields, type Hive, type Tag, type TagSpecification, type TagStore
} from '../../core/index.js'
import { instancesThatFit, demandOf, type NodeCapacity } from './capacity.js'
import { Ec2Errors } from './errors.js'
import {
  checkInstanceId, HOLDS_CAPACITY, instanceOutput, InstanceErrors, newInstanceId, newReservationId, runTokenKey, stateOutput, transitionReason,
  type BlockDeviceRecord, type InstanceRecord, type InstanceStateName, type InstanceStore, type MetadataOptionsRecord
} from './instance-records.js'
import { CONSOLE_BYTES, checkAnswer } from './instance-runner.js'
import { instanceTypeInfo } from './instance-types.js'
import { publicKeyOf } from './keypairs.js'

/** What RunInstances needs of an AMI (images.ts). */
export interface LaunchImage {
  imageId: string
  architecture: string
  rootDeviceName: string
  blockDeviceMappings: Array<{ deviceName: string, ebs?: { snapshotId?: string, volumeSize?: number, volumeType?: string, deleteOnTermination?: boolean, encrypted?: boolean } }>
}

export interface InstanceDeps {
  hive: Hive
  store: InstanceStore
  tags: TagStore
  /** The AMI when the caller may launch it, else the AWS error (InvalidAMIID.*). */
  imageForLaunch: (ctx: ActionContext, imageId: string) => Promise<LaunchImage>
  /** RegisterImage's checks and record (images.ts), for CreateImage. */
  registerImage: (ctx: ActionContext, spec: CreateImageSpec, tags: Tag[]) => Promise<string>
}

export interface CreateImageSpec {
  Name?: string
  Description?: string
  Architecture: string
  RootDeviceName: string
  BlockDeviceMappings: Array<{ DeviceName: string, Ebs: { SnapshotId: string, VolumeSize: number, VolumeType: string, DeleteOnTermination: boolean } }>
}

const VM_NOTE = 'Each instance is a QEMU virtual machine (KVM when usable, else TCG) on one node of the ec2 capability, its volumes from the ebs capability over NBD.'

export const INSTANCE_ACTIONS: Record<string, ActionSpec> = {
  RunInstances: {
    note: `${VM_NOTE} Until the vpc capability gives instances subnets, each has its own QEMU user network 169.254.0.0/16 (which holds the metadata service at 169.254.169.254): PrivateIpAddress is the guest's address there. Placement spreads instances over the ec2 nodes of the zone within their allocation ratios (--ec2-cpu-ratio, --ec2-ram-ratio) and free disk (--ec2-disk-ratio); beyond them InsufficientInstanceCapacity.`,
    unsupported: ['SubnetId', 'SecurityGroupIds', 'SecurityGroups', 'NetworkInterfaces', 'PrivateIpAddress', 'Ipv6AddressCount', 'Ipv6Addresses', 'KernelId', 'RamdiskId',
      'IamInstanceProfile', 'ElasticGpuSpecification', 'ElasticInferenceAccelerators', 'LaunchTemplate', 'InstanceMarketOptions', 'CreditSpecification', 'CpuOptions',
      'CapacityReservationSpecification', 'HibernationOptions', 'LicenseSpecifications', 'EnclaveOptions', 'PrivateDnsNameOptions', 'MaintenanceOptions',
      'EnablePrimaryIpv6', 'AdditionalInfo', 'NetworkPerformanceOptions', 'Operator']
  },
  DescribeInstances: {
    note: 'Every instance of the cluster, from KV. Filters: instance-id, instance-state-name, instance-state-code, instance-type, image-id, key-name, availability-zone, private-ip-address, private-dns-name, reservation-id, owner-id, launch-time, architecture, root-device-type, root-device-name, block-device-mapping.*, monitoring-state, metadata-options.*, client-token, hypervisor, virtualization-type, state-reason-code, tag:, tag-key, tag-value. Terminated instances stay visible for an hour.'
  },
  DescribeInstanceStatus: {
    note: 'Instance and system status are ok while the instance runs (its QEMU is up), not-applicable otherwise; no scheduled events.'
  },
  StartInstances: { note: 'Starting a running instance answers its state, as EC2 does.', unsupported: ['AdditionalInfo'] },
  StopInstances: { note: 'ACPI power button; after 60 s, or at once with Force, QEMU is quit. Stopping a stopped instance answers its state, as EC2 does.', unsupported: ['Hibernate'] },
  RebootInstances: { note: 'A hardware reset of the VM (QMP system_reset).' },
  TerminateInstances: { note: 'Volumes marked DeleteOnTermination are deleted, the others detached.' },
  ModifyInstanceAttribute: {
    note: 'instanceType and userData while stopped; disableApiTermination, disableApiStop, instanceInitiatedShutdownBehavior, ebsOptimized and sourceDestCheck are recorded.',
    unsupported: ['Kernel', 'Ramdisk', 'SriovNetSupport', 'EnaSupport', 'Groups', 'BlockDeviceMappings']
  },
  DescribeInstanceAttribute: {},
  GetConsoleOutput: { note: 'The last 64 KB of the serial console (ttyS0) of the VM.' },
  MonitorInstances: { note: 'Recorded and shown; Hive has no CloudWatch.' },
  UnmonitorInstances: { note: 'Recorded and shown; Hive has no CloudWatch.' },
  CreateImage: {
    note: 'Snapshots every EBS volume attached to the instance (running or stopped) and registers them as an AMI, pending until the snapshots complete. Without NoReboot a running instance is reset once the snapshots are taken: the image is crash-consistent either way (Hive does not shut the guest down first).',
    unsupported: ['BlockDeviceMappings']
  },
  ModifyInstanceMetadataOptions: { note: 'Takes effect at once for the metadata service. HttpPutResponseHopLimit is recorded, not enforced (slirp relays a byte stream, not IP packets).' }
}

interface RunInput {
  ImageId?: string
  InstanceType?: string
  MinCount: number
  MaxCount: number
  KeyName?: string
  UserData?: string
  BlockDeviceMappings?: Array<{ DeviceName?: string, NoDevice?: string, VirtualName?: string, Ebs?: { SnapshotId?: string, VolumeSize?: number, VolumeType?: string, Iops?: number, Throughput?: number, DeleteOnTermination?: boolean, Encrypted?: boolean, KmsKeyId?: string } }>
  TagSpecifications?: TagSpecification[]
  ClientToken?: string
  DisableApiTermination?: boolean
  DisableApiStop?: boolean
  InstanceInitiatedShutdownBehavior?: string
  MetadataOptions?: { HttpTokens?: string, HttpPutResponseHopLimit?: number, HttpEndpoint?: string, HttpProtocolIpv6?: string, InstanceMetadataTags?: string }
  Placement?: { AvailabilityZone?: string }
  Monitoring?: { Enabled?: boolean }
  EbsOptimized?: boolean
}

const MAX_USER_DATA = 16 * 1024
const TRANSITIONAL: ReadonlySet<InstanceStateName> = new Set(['pending', 'stopping', 'shutting-down'])
const VOLUME_TYPES = ['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']
const DEVICE = /^\/dev\/(sd[a-z]\d{0,2}|xvd[a-z]{1,2}\d{0,2}|hd[a-z]\d{0,2})$|^xvd[a-z]{1,2}$/

export function instanceHandlers (deps: InstanceDeps): Record<string, ActionHandler> {
  const { hive, store, tags } = deps
  const region = hive.node.region
  const placement = new Placement(hive, store)

  const notify = (r: InstanceRecord): void => {
    hive.bus.callNode(r.node, 'ec2.instance.reconcile', { data: new Uint8Array(0), headers: { instanceId: r.instanceId } }, 10_000)
      .catch(err => { hive.log.warn({ err, instanceId: r.instanceId, node: r.node }, 'could not reach the instance\'s node') })
  }

  /** The caller's instances of `ids` (each checked), all of them or InvalidInstanceID.NotFound. */
  const selected = async (ids: string[] | undefined, accountId: string): Promise<InstanceRecord[]> => {
    if (ids === undefined || ids.length === 0) throw InstanceErrors.missing('InstanceId')
    ids.forEach(checkInstanceId)
    const got = await Promise.all(ids.map(async id => await store.instance(id, accountId).catch(() => undefined)))
    const missing = ids.filter((_id, i) => got[i] === undefined)
    if (missing.length > 0) throw InstanceErrors.notFound(missing)
    return got as InstanceRecord[]
  }

  const visible = async (accountId: string, ids: string[] | undefined): Promise<InstanceRecord[]> => {
    if (ids !== undefined && ids.length > 0) return await selected(ids, accountId)
    return (await store.all()).filter(r => r.ownerId === accountId)
  }

  /** A state change of many instances: every one checked first, then each changed and its node told. */
  const transition = async (
    ids: string[] | undefined, ctx: ActionContext,
    decide: (r: InstanceRecord) => InstanceRecord
  ): Promise<Array<{ InstanceId: string, CurrentState: unknown, PreviousState: unknown }>> => {
    const records = await selected(ids, ctx.accountId)
    for (const r of records) decide(r)
    const out = []
    for (const r of records) {
      let previous: InstanceStateName = r.state
      const next = await store.modify(r.instanceId, cur => { previous = cur.state; return decide(cur) })
      // Asked again while still on its way (a lost call to its node, a stop to force): tell the node again.
      if (next.state !== previous || TRANSITIONAL.has(next.state)) notify(next)
      out.push({ InstanceId: r.instanceId, CurrentState: stateOutput(next.state), PreviousState: stateOutput(previous) })
    }
    return out
  }

  return {
    RunInstances: async (raw, ctx) => {
      const input = raw as unknown as RunInput
      const plan = await launchPlan(deps, input, ctx)
      const reservationId = newReservationId()
      const tokenKey = input.ClientToken === undefined ? undefined : runTokenKey(ctx.accountId, input.ClientToken)
      // The token is claimed before anything is placed: of two concurrent calls with it, one launches.
      if (tokenKey !== undefined && await store.tokens.create(tokenKey, { reservationId, fingerprint: plan.fingerprint }) === undefined) {
        return await reservationOutput(deps, await earlierRun(store, ctx.accountId, input.ClientToken as string, plan.fingerprint, 10_000), region)
      }
      let records: InstanceRecord[]
      try {
        records = await placement.place(plan, input, ctx, reservationId)
      } catch (e) {
        if (tokenKey !== undefined) await store.tokens.delete(tokenKey).catch(() => {})
        throw e
      }
      try {
        for (const r of records) if (plan.tags.length > 0) await tags.put(ctx.accountId, r.instanceId, plan.tags)
      } finally {
        for (const r of records) notify(r)
      }
      return await reservationOutput(deps, records, region)
    },

    DescribeInstances: async (raw, ctx) => {
      const input = raw as { InstanceIds?: string[], Filters?: Filter[], MaxResults?: number, NextToken?: string }
      if (input.MaxResults !== undefined && (input.InstanceIds?.length ?? 0) > 0) {
        throw InstanceErrors.combination('The parameter instancesSet cannot be used with the parameter maxResults')
      }
      const all = await visible(ctx.accountId, input.InstanceIds)
      const tagsOf = await tags.getMany(ctx.accountId, all.map(r => r.instanceId))
      const matched = matchFilters(all, input.Filters, INSTANCE_FILTERS(region), r => tagsOf.get(r.instanceId) ?? [])
        .sort((a, b) => a.launchTime.localeCompare(b.launchTime) || a.instanceId.localeCompare(b.instanceId))
      const page = paginate(matched, input, { pageSize: 1000 }, r => `${r.launchTime}/${r.instanceId}`)
      return { Reservations: reservations(page.items, region, tagsOf), NextToken: page.nextToken }
    },

    DescribeInstanceStatus: async (raw, ctx) => {
      const input = raw as { InstanceIds?: string[], Filters?: Filter[], MaxResults?: number, NextToken?: string, IncludeAllInstances?: boolean }
      let all = await visible(ctx.accountId, input.InstanceIds)
      if (input.IncludeAllInstances !== true) all = all.filter(r => r.state === 'running')
      const matched = matchFilters(all, input.Filters, STATUS_FILTERS).sort((a, b) => a.instanceId.localeCompare(b.instanceId))
      const page = paginate(matched, input, { pageSize: 1000 }, r => r.instanceId)
      return {
        InstanceStatuses: page.items.map(r => {
          const s = statusOf(r)
          const summary = s === 'ok' ? { Status: s, Details: [{ Name: 'reachability', Status: 'passed' }] } : { Status: s }
          return { InstanceId: r.instanceId, AvailabilityZone: r.availabilityZone, InstanceState: stateOutput(r.state), InstanceStatus: summary, SystemStatus: summary, Events: [] }
        }),
        NextToken: page.nextToken
      }
    },

    StartInstances: async (raw, ctx) => {
      const input = raw as { InstanceIds?: string[] }
      const records = await selected(input.InstanceIds, ctx.accountId)
      await placement.checkRestarts(records.filter(x => x.state === 'stopped'))
      return {
        StartingInstances: await transition(input.InstanceIds, ctx, r => {
          if (r.state === 'running' || r.state === 'pending') return r
          if (r.state !== 'stopped') throw InstanceErrors.incorrectState(`The instance '${r.instanceId}' is not in a state from which it can be started.`)
          return { ...r, state: 'pending', launchTime: new Date().toISOString(), stateReason: undefined, stateTransitionReason: '' }
        })
      }
    },

    StopInstances: async (raw, ctx) => {
      const input = raw as { InstanceIds?: string[], Force?: boolean }
      return {
        StoppingInstances: await transition(input.InstanceIds, ctx, r => {
          if (r.state === 'stopping' && input.Force === true && r.stopForce !== true) return { ...r, stopForce: true }
          if (r.state === 'stopped' || r.state === 'stopping') return r
          if (r.state === 'pending') throw InstanceErrors.incorrectState(`Instance '${r.instanceId}' cannot be stopped as it has never reached the 'running' state.`)
          if (r.state !== 'running') throw InstanceErrors.incorrectState(`This instance '${r.instanceId}' is not in a state from which it can be stopped.`)
          if (r.disableApiStop) throw InstanceErrors.notPermitted(`The instance '${r.instanceId}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.`)
          return {
            ...r,
            state: 'stopping',
            stopForce: input.Force === true,
            stateReason: { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' },
            stateTransitionReason: transitionReason('User initiated')
          }
        })
      }
    },

    RebootInstances: async (raw, ctx) => {
      const input = raw as { InstanceIds?: string[] }
      // EC2 ignores reboots of terminated instances.
      const records = (await selected(input.InstanceIds, ctx.accountId)).filter(r => r.state !== 'terminated')
      for (const r of records) {
        if (r.state !== 'running') throw InstanceErrors.incorrectState(`The instance '${r.instanceId}' is not in a state from which it can be rebooted.`)
      }
      for (const r of records) {
        checkAnswer(await hive.bus.callNode(r.node, 'ec2.instance.reboot', { data: new Uint8Array(0), headers: { instanceId: r.instanceId } }))
      }
      return {}
    },

    TerminateInstances: async (raw, ctx) => {
      const input = raw as { InstanceIds?: string[] }
      return {
        TerminatingInstances: await transition(input.InstanceIds, ctx, r => {
          if (r.state === 'terminated' || r.state === 'shutting-down') return r
          if (r.disableApiTermination) {
            throw InstanceErrors.notPermitted(`The instance '${r.instanceId}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`)
          }
          return {
            ...r,
            state: 'shutting-down',
            stateReason: { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' },
            stateTransitionReason: transitionReason('User initiated')
          }
        })
      }
    },

    ModifyInstanceAttribute: async (raw, ctx) => {
      const input = raw as unknown as ModifyAttributeInput
      const r = await store.instance(checkInstanceId(input.InstanceId), ctx.accountId)
      const change = attributeChange(input)
      await store.modify(r.instanceId, cur => {
        if (cur.state === 'terminated') throw InstanceErrors.incorrectState(`The instance '${r.instanceId}' is terminated.`)
        return change(cur)
      })
      return {}
    },

    DescribeInstanceAttribute: async (raw, ctx) => {
      const input = raw as { InstanceId: string, Attribute: string }
      const r = await store.instance(checkInstanceId(input.InstanceId), ctx.accountId)
      return { InstanceId: r.instanceId, ...attributeOutput(r, input.Attribute) }
    },

    GetConsoleOutput: async (raw, ctx) => {
      const input = raw as { InstanceId: string }
      const r = await store.instance(checkInstanceId(input.InstanceId), ctx.accountId)
      let output = Buffer.alloc(0)
      if (r.state !== 'terminated') {
        try {
          const reply = await hive.bus.callNode(r.node, 'ec2.instance.console', { data: new Uint8Array(0), headers: { instanceId: r.instanceId } })
          output = Buffer.from(reply.data).subarray(-CONSOLE_BYTES)
        } catch (e) {
          if (!(e instanceof NodeCallError && e.unreachable)) throw e
        }
      }
      return { InstanceId: r.instanceId, Timestamp: new Date(), Output: output.toString('base64') }
    },

    CreateImage: async (raw, ctx) => {
      const input = raw as { InstanceId: string, Name?: string, Description?: string, NoReboot?: boolean, TagSpecifications?: TagSpecification[] }
      const r = await store.instance(checkInstanceId(input.InstanceId), ctx.accountId)
      if (r.state !== 'running' && r.state !== 'stopped') {
        throw InstanceErrors.incorrectState(`The instance '${r.instanceId}' is not in a state from which an image can be created.`)
      }
      const imageTags = tagsForResource(input.TagSpecifications, 'image', ['image', 'snapshot'])
      const snapshotTags = tagsForResource(input.TagSpecifications, 'snapshot', ['image', 'snapshot'])
      const mappings: CreateImageSpec['BlockDeviceMappings'] = []
      // A refused registration (a name in use) or a failed snapshot leaves no snapshots behind.
      const dropSnapshots = async (): Promise<void> => {
        for (const m of mappings) await hive.bus.request('ec2', 'DeleteSnapshot', { SnapshotId: m.Ebs.SnapshotId }, ctx).catch(() => {})
      }
      try {
        for (const b of r.blockDevices) {
          if (b.volumeId === undefined || b.attachTime === undefined) continue
          const described = await hive.bus.request('ec2', 'DescribeVolumes', { VolumeIds: [b.volumeId] }, ctx) as { Volumes: Array<{ Size: number, VolumeType: string }> }
          const snap = await hive.bus.request('ec2', 'CreateSnapshot', {
            VolumeId: b.volumeId,
            Description: `Created by CreateImage(${r.instanceId}) for ${input.Name ?? ''}`,
            ...(snapshotTags.length > 0 ? { TagSpecifications: [{ ResourceType: 'snapshot', Tags: snapshotTags }] } : {})
          }, ctx) as { SnapshotId: string }
          mappings.push({
            DeviceName: b.deviceName,
            Ebs: { SnapshotId: snap.SnapshotId, VolumeSize: described.Volumes[0].Size, VolumeType: described.Volumes[0].VolumeType, DeleteOnTermination: b.deleteOnTermination }
          })
        }
      } catch (e) {
        await dropSnapshots()
        throw e
      }
      let imageId: string
      try {
        imageId = await deps.registerImage(ctx, {
          ...(input.Name !== undefined ? { Name: input.Name } : {}),
          ...(input.Description !== undefined ? { Description: input.Description } : {}),
          Architecture: r.architecture,
          RootDeviceName: r.rootDeviceName,
          BlockDeviceMappings: mappings
        }, imageTags)
      } catch (e) {
        await dropSnapshots()
        throw e
      }
      if (r.state === 'running' && input.NoReboot !== true) {
        // The image exists whatever happens to the reboot.
        await hive.bus.callNode(r.node, 'ec2.instance.reboot', { data: new Uint8Array(0), headers: { instanceId: r.instanceId } })
          .catch(err => { hive.log.warn({ err, instanceId: r.instanceId }, 'reboot after CreateImage failed') })
      }
      return { ImageId: imageId }
    },

    MonitorInstances: async (raw, ctx) => await monitoring(raw, ctx, 'enabled'),
    UnmonitorInstances: async (raw, ctx) => await monitoring(raw, ctx, 'disabled'),

    ModifyInstanceMetadataOptions: async (raw, ctx) => {
      const input = raw as { InstanceId: string, HttpTokens?: string, HttpPutResponseHopLimit?: number, HttpEndpoint?: string, HttpProtocolIpv6?: string, InstanceMetadataTags?: string }
      const r = await store.instance(checkInstanceId(input.InstanceId), ctx.accountId)
      metadataOptions(input, r.metadataOptions)
      const next = await store.modify(r.instanceId, cur => {
        if (cur.state === 'terminated') throw InstanceErrors.incorrectState(`The instance '${r.instanceId}' is terminated.`)
        return { ...cur, metadataOptions: metadataOptions(input, cur.metadataOptions) }
      })
      // EC2 answers pending; the metadata service here applies the change at once.
      return { InstanceId: r.instanceId, InstanceMetadataOptions: { ...metadataOptionsOutput(next.metadataOptions), State: 'pending' } }
    }
  }

  async function monitoring (raw: Record<string, unknown>, ctx: ActionContext, state: 'enabled' | 'disabled'): Promise<Record<string, unknown>> {
    const records = await selected((raw as { InstanceIds?: string[] }).InstanceIds, ctx.accountId)
    for (const r of records) await store.modify(r.instanceId, cur => ({ ...cur, monitoring: state }))
    return { InstanceMonitorings: records.map(r => ({ InstanceId: r.instanceId, Monitoring: { State: state === 'enabled' ? 'pending' : 'disabling' } })) }
  }
}

function statusOf (r: InstanceRecord): 'ok' | 'not-applicable' {
  return r.state === 'running' ? 'ok' : 'not-applicable'
}

function reservations (records: InstanceRecord[], region: string, tagsOf: Map<string, Tag[]>): Array<Record<string, unknown>> {
  const byId = new Map<string, InstanceRecord[]>()
  for (const r of records) byId.set(r.reservationId, [...(byId.get(r.reservationId) ?? []), r])
  return [...byId.entries()].map(([reservationId, rs]) => ({
    ReservationId: reservationId,
    OwnerId: rs[0].ownerId,
    Groups: [],
    Instances: rs.map(r => instanceOutput(r, region, tagsOf.get(r.instanceId) ?? []))
  }))
}

async function reservationOutput (deps: InstanceDeps, records: InstanceRecord[], region: string): Promise<Record<string, unknown>> {
  const tagsOf = await deps.tags.getMany(records[0].ownerId, records.map(r => r.instanceId))
  return reservations(records, region, tagsOf)[0]
}

/** The reservation the RunInstances that claimed this ClientToken made (waiting while it places). */
async function earlierRun (store: InstanceStore, accountId: string, token: string, fingerprint: string, waitMs: number): Promise<InstanceRecord[]> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const earlier = (await store.tokens.get(runTokenKey(accountId, token)))?.value
    if (earlier !== undefined && earlier.fingerprint !== fingerprint) throw InstanceErrors.idempotentMismatch()
    if (earlier !== undefined) {
      const records = (await store.all()).filter(r => r.reservationId === earlier.reservationId).sort((a, b) => a.amiLaunchIndex - b.amiLaunchIndex)
      if (records.length > 0) return records
    }
    if (Date.now() > deadline) throw InstanceErrors.idempotentMismatch()
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

interface LaunchPlan {
  image: LaunchImage
  instanceType: string
  vcpus: number
  memoryMiB: number
  volumeBytes: number
  blockDevices: BlockDeviceRecord[]
  keyName?: string
  publicKey?: string
  tags: Tag[]
  volumeTags: Tag[]
  zone?: string
  fingerprint: string
}

/** Everything RunInstances checks before it places anything. */
async function launchPlan (deps: InstanceDeps, input: RunInput, ctx: ActionContext): Promise<LaunchPlan> {
  if (input.ImageId === undefined || input.ImageId === '') throw InstanceErrors.missing('ImageId')
  if (!Number.isInteger(input.MinCount) || input.MinCount < 1) throw InstanceErrors.invalidValue(`Value (${String(input.MinCount)}) for parameter minCount is invalid. Expected a positive integer.`)
  if (!Number.isInteger(input.MaxCount) || input.MaxCount < input.MinCount) {
    throw InstanceErrors.invalidValue(`Value (${String(input.MaxCount)}) for parameter maxCount is invalid. Expected a value at least as large as minCount.`)
  }
  const instanceType = input.InstanceType ?? 'm1.small'
  const type = instanceTypeInfo(instanceType)
  if (type === undefined) throw InstanceErrors.invalidValue(`Invalid value '${instanceType}' for InstanceType.`)
  if (input.UserData !== undefined) {
    const decoded = Buffer.from(input.UserData, 'base64')
    if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(input.UserData)) throw InstanceErrors.invalidValue('Invalid BASE64 encoding of user data.')
    if (decoded.length > MAX_USER_DATA) throw InstanceErrors.invalidValue(`User data is limited to ${MAX_USER_DATA} bytes`)
  }
  if (input.InstanceInitiatedShutdownBehavior !== undefined && !['stop', 'terminate'].includes(input.InstanceInitiatedShutdownBehavior)) {
    throw Ec2Errors.invalidEnum('InstanceInitiatedShutdownBehavior', input.InstanceInitiatedShutdownBehavior, ['stop', 'terminate'])
  }
  metadataOptions(input.MetadataOptions ?? {}, DEFAULT_METADATA_OPTIONS)
  const tags = tagsForResource(input.TagSpecifications, 'instance', ['instance', 'volume'])
  const volumeTags = tagsForResource(input.TagSpecifications, 'volume', ['instance', 'volume'])
  for (const m of input.BlockDeviceMappings ?? []) {
    const type = m.Ebs?.VolumeType
    if (type !== undefined && !VOLUME_TYPES.includes(type)) throw Ec2Errors.invalidEnum('VolumeType', type, VOLUME_TYPES)
  }
  const snapshots = (input.BlockDeviceMappings ?? []).flatMap(m => m.Ebs?.SnapshotId === undefined ? [] : [m.Ebs.SnapshotId])
  // The snapshots a mapping names must be the caller's to use now, not fail the launch later.
  if (snapshots.length > 0) await deps.hive.bus.request('ec2', 'DescribeSnapshots', { SnapshotIds: [...new Set(snapshots)] }, ctx)
  const image = await deps.imageForLaunch(ctx, input.ImageId)
  if (!type.ProcessorInfo.SupportedArchitectures.includes(image.architecture)) {
    throw InstanceErrors.invalidValue(`The architecture '${type.ProcessorInfo.SupportedArchitectures.join(', ')}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.`)
  }
  let publicKey: string | undefined
  if (input.KeyName !== undefined) publicKey = await publicKeyOf(deps.hive.kv, ctx.accountId, input.KeyName)
  const zone = input.Placement?.AvailabilityZone
  if (zone !== undefined && zone !== '') {
    const zones = new Set((await deps.hive.nodes()).map(n => n.az))
    if (!zones.has(zone)) throw Ec2Errors.invalidZoneName(zone)
  }
  const blockDevices = blockDevicesFor(image, input.BlockDeviceMappings ?? [])
  const volumeBytes = blockDevices.reduce((sum, b) => sum + (b.launch?.volumeSize ?? 0) * 2 ** 30, 0)
  const fingerprint = JSON.stringify({ ...input, ClientToken: undefined, DryRun: undefined })
  return {
    image, instanceType, vcpus: type.VCpuInfo.DefaultVCpus, memoryMiB: type.MemoryInfo.SizeInMiB, volumeBytes, blockDevices,
    ...(input.KeyName !== undefined ? { keyName: input.KeyName } : {}),
    ...(publicKey !== undefined ? { publicKey } : {}),
    tags,
    volumeTags,
    ...(zone !== undefined && zone !== '' ? { zone } : {}),
    fingerprint
  }
}

/** The AMI's mappings with RunInstances' own laid over them (same device: override; NoDevice: drop). */
function blockDevicesFor (image: LaunchImage, given: NonNullable<RunInput['BlockDeviceMappings']>): BlockDeviceRecord[] {
  const out = new Map<string, BlockDeviceRecord>()
  for (const m of image.blockDeviceMappings) {
    if (m.ebs === undefined) continue
    out.set(m.deviceName, {
      deviceName: m.deviceName,
      deleteOnTermination: m.ebs.deleteOnTermination ?? true,
      launch: {
        volumeSize: m.ebs.volumeSize ?? 8,
        ...(m.ebs.snapshotId !== undefined ? { snapshotId: m.ebs.snapshotId } : {}),
        ...(m.ebs.volumeType !== undefined ? { volumeType: m.ebs.volumeType } : {}),
        ...(m.ebs.encrypted === true ? { encrypted: true } : {})
      }
    })
  }
  for (const m of given) {
    const name = m.DeviceName ?? ''
    if (!DEVICE.test(name)) throw InstanceErrors.blockDeviceMapping(`Invalid device name ${name}`)
    if (m.NoDevice !== undefined) {
      if (name === image.rootDeviceName) throw InstanceErrors.blockDeviceMapping('The device for the root volume cannot be removed with NoDevice.')
      out.delete(name)
      continue
    }
    if (m.Ebs === undefined) continue
    const base = out.get(name)
    const snapshotSize = base?.launch?.snapshotId !== undefined ? base.launch.volumeSize : undefined
    const size = m.Ebs.VolumeSize ?? base?.launch?.volumeSize
    if (size === undefined) throw InstanceErrors.blockDeviceMapping(`The volume size for ${name} is required when no snapshot is given.`)
    if (snapshotSize !== undefined && size < snapshotSize) {
      throw InstanceErrors.blockDeviceMapping(`Volume of size ${size}GB is smaller than snapshot '${base?.launch?.snapshotId ?? ''}', expect size >= ${snapshotSize}GB`)
    }
    out.set(name, {
      deviceName: name,
      deleteOnTermination: m.Ebs.DeleteOnTermination ?? base?.deleteOnTermination ?? true,
      launch: {
        ...base?.launch,
        volumeSize: size,
        ...(m.Ebs.SnapshotId !== undefined ? { snapshotId: m.Ebs.SnapshotId } : {}),
        ...(m.Ebs.VolumeType !== undefined ? { volumeType: m.Ebs.VolumeType } : {}),
        ...(m.Ebs.Iops !== undefined ? { iops: m.Ebs.Iops } : {}),
        ...(m.Ebs.Throughput !== undefined ? { throughput: m.Ebs.Throughput } : {}),
        ...(m.Ebs.Encrypted !== undefined ? { encrypted: m.Ebs.Encrypted } : {}),
        ...(m.Ebs.KmsKeyId !== undefined ? { kmsKeyId: m.Ebs.KmsKeyId } : {})
      }
    })
  }
  if (!out.has(image.rootDeviceName)) throw InstanceErrors.blockDeviceMapping(`The AMI ${image.imageId} has no volume for its root device ${image.rootDeviceName}.`)
  return [...out.values()]
}

const DEFAULT_METADATA_OPTIONS: MetadataOptionsRecord = {
  httpTokens: 'optional', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1, httpProtocolIpv6: 'disabled', instanceMetadataTags: 'disabled'
}

function metadataOptions (o: { HttpTokens?: string, HttpPutResponseHopLimit?: number, HttpEndpoint?: string, HttpProtocolIpv6?: string, InstanceMetadataTags?: string }, base: MetadataOptionsRecord): MetadataOptionsRecord {
  const pick = <T extends string>(name: string, value: string | undefined, valid: T[], fallback: T): T => {
    if (value === undefined) return fallback
    if (!valid.includes(value as T)) throw Ec2Errors.invalidEnum(name, value, valid)
    return value as T
  }
  const hops = o.HttpPutResponseHopLimit ?? base.httpPutResponseHopLimit
  if (!Number.isInteger(hops) || hops < 1 || hops > 64) throw InstanceErrors.invalidValue(`The HTTP PUT response hop limit must be between 1 and 64 (was ${hops}).`)
  return {
    httpTokens: pick('HttpTokens', o.HttpTokens, ['optional', 'required'], base.httpTokens),
    httpEndpoint: pick('HttpEndpoint', o.HttpEndpoint, ['enabled', 'disabled'], base.httpEndpoint),
    httpPutResponseHopLimit: hops,
    httpProtocolIpv6: pick('HttpProtocolIpv6', o.HttpProtocolIpv6, ['enabled', 'disabled'], base.httpProtocolIpv6),
    instanceMetadataTags: pick('InstanceMetadataTags', o.InstanceMetadataTags, ['enabled', 'disabled'], base.instanceMetadataTags)
  }
}

function metadataOptionsOutput (o: MetadataOptionsRecord): Record<string, unknown> {
  return {
    State: 'applied',
    HttpTokens: o.httpTokens,
    HttpPutResponseHopLimit: o.httpPutResponseHopLimit,
    HttpEndpoint: o.httpEndpoint,
    HttpProtocolIpv6: o.httpProtocolIpv6,
    InstanceMetadataTags: o.instanceMetadataTags
  }
}

/**
 * Chooses nodes for a launch and writes the records, one launch (or start) at a time on this node
 * so two cannot both take the last room. Launches handled by two nodes at the same moment may still
 * overshoot a node by what each placed.
 */
class Placement {
  private chain: Promise<unknown> = Promise.resolve()

  constructor (private readonly hive: Hive, private readonly store: InstanceStore) {}

  async place (plan: LaunchPlan, input: RunInput, ctx: ActionContext, reservationId: string): Promise<InstanceRecord[]> {
    const run = this.chain.then(async () => await this.placeNow(plan, input, ctx, reservationId))
    this.chain = run.catch(() => {})
    return await run
  }

  /** Stopped instances start again on their nodes, if the nodes have room for all of them. */
  async checkRestarts (records: InstanceRecord[]): Promise<void> {
    if (records.length === 0) return
    const run = this.chain.then(async () => {
      const capacities = new Map((await this.capacities([...new Set(records.map(r => r.node))])).map(c => [c.nodeId, c]))
      for (const r of records) {
        const type = instanceTypeInfo(r.instanceType)
        const c = capacities.get(r.node)
        if (type === undefined || c === undefined || instancesThatFit(c, demandOf(type, 0)) < 1) throw InstanceErrors.capacity(r.instanceType, r.availabilityZone)
        c.usedVcpus += type.VCpuInfo.DefaultVCpus
        c.usedMemoryMiB += type.MemoryInfo.SizeInMiB
      }
    })
    this.chain = run.catch(() => {})
    await run
  }

  private async capacities (nodeIds: string[]): Promise<NodeCapacity[]> {
    const all = await this.store.all()
    const got = await Promise.all(nodeIds.map(async nodeId => {
      try {
        const reply = await this.hive.bus.callNode(nodeId, 'ec2.node.capacity', { data: new Uint8Array(0) }, 5_000)
        const c = JSON.parse(Buffer.from(reply.data).toString('utf8')) as NodeCapacity
        for (const r of all) {
          if (r.node !== nodeId || !HOLDS_CAPACITY.has(r.state)) continue
          const t = instanceTypeInfo(r.instanceType)
          c.usedVcpus += t?.VCpuInfo.DefaultVCpus ?? 0
          c.usedMemoryMiB += t?.MemoryInfo.SizeInMiB ?? 0
        }
        return c
      } catch (e) {
        if (e instanceof NodeCallError) return undefined
        throw e
      }
    }))
    return got.filter((c): c is NodeCapacity => c !== undefined)
  }

  private async placeNow (plan: LaunchPlan, input: RunInput, ctx: ActionContext, reservationId: string): Promise<InstanceRecord[]> {
    const nodes = (await this.hive.nodes()).filter(n => n.capabilities.includes('ec2') && n.capabilities.includes('ebs') && (plan.zone === undefined || n.az === plan.zone))
    const capacities = await this.capacities(nodes.map(n => n.nodeId))
    const demand = { vcpus: plan.vcpus, memoryMiB: plan.memoryMiB, volumeBytes: plan.volumeBytes }
    const chosen: NodeCapacity[] = []
    while (chosen.length < input.MaxCount) {
      // The node with the most room left takes the next instance; this node wins ties (its disks are local).
      const best = capacities
        .map(c => ({ c, room: instancesThatFit(c, demand) }))
        .filter(x => x.room > 0)
        .sort((a, b) => b.room - a.room || Number(b.c.nodeId === this.hive.node.nodeId) - Number(a.c.nodeId === this.hive.node.nodeId))[0]
      if (best === undefined) break
      best.c.usedVcpus += demand.vcpus
      best.c.usedMemoryMiB += demand.memoryMiB
      best.c.diskBytes -= demand.volumeBytes / best.c.diskRatio
      chosen.push(best.c)
    }
    if (chosen.length < input.MinCount) throw InstanceErrors.capacity(plan.instanceType, plan.zone ?? this.hive.node.az)
    const now = new Date().toISOString()
    const records: InstanceRecord[] = chosen.map((c, i) => ({
      instanceId: newInstanceId(),
      reservationId,
      ownerId: ctx.accountId,
      principalArn: ctx.principalArn,
      imageId: plan.image.imageId,
      instanceType: plan.instanceType,
      architecture: plan.image.architecture,
      ...(plan.keyName !== undefined ? { keyName: plan.keyName } : {}),
      ...(plan.publicKey !== undefined ? { publicKey: plan.publicKey } : {}),
      ...(input.UserData !== undefined ? { userData: input.UserData.replace(/\s/g, '') } : {}),
      amiLaunchIndex: i,
      state: 'pending',
      stateTransitionReason: '',
      launchTime: now,
      node: c.nodeId,
      availabilityZone: c.availabilityZone,
      privateIpAddress: guestAddress(),
      macAddress: macAddress(),
      rootDeviceName: plan.image.rootDeviceName,
      blockDevices: plan.blockDevices,
      ...(plan.volumeTags.length > 0 ? { volumeTags: plan.volumeTags } : {}),
      ...(input.ClientToken !== undefined ? { clientToken: input.ClientToken } : {}),
      disableApiTermination: input.DisableApiTermination === true,
      disableApiStop: input.DisableApiStop === true,
      shutdownBehavior: input.InstanceInitiatedShutdownBehavior === 'terminate' ? 'terminate' : 'stop',
      metadataOptions: metadataOptions(input.MetadataOptions ?? {}, DEFAULT_METADATA_OPTIONS),
      monitoring: input.Monitoring?.Enabled === true ? 'enabled' : 'disabled',
      ebsOptimized: input.EbsOptimized === true,
      sourceDestCheck: true
    }))
    for (const r of records) await this.store.create(r)
    return records
  }
}

/**
 * The guest's address on its own user network (169.254.0.0/16): anywhere clear of slirp's host
 * (.0.2), DNS (.0.3) and the metadata service's 169.254.169.x, so each instance has its own.
 */
function guestAddress (): string {
  const b = randomBytes(2)
  const third = 1 + (b[0] % 168)
  const fourth = 10 + (b[1] % 240)
  return `169.254.${third}.${fourth}`
}

/** A locally administered unicast MAC, like the 0a:/0e:/12: addresses EC2 gives its ENIs. */
function macAddress (): string {
  const b = randomBytes(5)
  return ['0e', ...[...b].map(x => x.toString(16).padStart(2, '0'))].join(':')
}

interface ModifyAttributeInput {
  InstanceId: string
  Attribute?: string
  Value?: string
  InstanceType?: { Value?: string }
  UserData?: { Value?: Buffer }
  DisableApiTermination?: { Value?: boolean }
  DisableApiStop?: { Value?: boolean }
  InstanceInitiatedShutdownBehavior?: { Value?: string }
  EbsOptimized?: { Value?: boolean }
  SourceDestCheck?: { Value?: boolean }
}

/** ModifyInstanceAttribute takes one attribute per call, as a member or as Attribute + Value. */
function attributeChange (input: ModifyAttributeInput): (r: InstanceRecord) => InstanceRecord {
  const given: Array<[string, unknown]> = []
  const add = (name: string, v: { Value?: unknown } | undefined): void => { if (v !== undefined) given.push([name, v.Value]) }
  add('instanceType', input.InstanceType)
  add('userData', input.UserData)
  add('disableApiTermination', input.DisableApiTermination)
  add('disableApiStop', input.DisableApiStop)
  add('instanceInitiatedShutdownBehavior', input.InstanceInitiatedShutdownBehavior)
  add('ebsOptimized', input.EbsOptimized)
  add('sourceDestCheck', input.SourceDestCheck)
  if (input.Attribute !== undefined) given.push([input.Attribute, input.Value])
  if (given.length === 0) throw InstanceErrors.missing('attribute')
  if (given.length > 1) throw InstanceErrors.combination(`Fields for multiple attribute types specified: ${given.map(g => g[0]).join(', ')}`)
  const [name, value] = given[0]
  const bool = (): boolean => {
    if (typeof value === 'boolean') return value
    if (value === 'true' || value === 'false') return value === 'true'
    throw InstanceErrors.attributeValue(String(value), name)
  }
  const whileStopped = (r: InstanceRecord): void => {
    if (r.state !== 'stopped') throw InstanceErrors.incorrectState(`The instance '${r.instanceId}' is not in the 'stopped' state.`)
  }
  switch (name) {
    case 'instanceType': {
      const type = String(value ?? '')
      if (instanceTypeInfo(type) === undefined) throw InstanceErrors.attributeValue(type, 'instanceType')
      return r => { whileStopped(r); return { ...r, instanceType: type, stateReason: undefined } }
    }
    case 'userData': {
      const data = Buffer.isBuffer(value) ? value : Buffer.from(String(value ?? ''), 'base64')
      if (data.length > MAX_USER_DATA) throw InstanceErrors.invalidValue(`User data is limited to ${MAX_USER_DATA} bytes`)
      return r => { whileStopped(r); return { ...r, userData: data.toString('base64') } }
    }
    case 'disableApiTermination': { const v = bool(); return r => ({ ...r, disableApiTermination: v }) }
    case 'disableApiStop': { const v = bool(); return r => ({ ...r, disableApiStop: v }) }
    case 'ebsOptimized': { const v = bool(); return r => ({ ...r, ebsOptimized: v }) }
    case 'sourceDestCheck': { const v = bool(); return r => ({ ...r, sourceDestCheck: v }) }
    case 'instanceInitiatedShutdownBehavior': {
      const v = String(value ?? '')
      if (v !== 'stop' && v !== 'terminate') throw InstanceErrors.attributeValue(v, 'instanceInitiatedShutdownBehavior')
      return r => ({ ...r, shutdownBehavior: v })
    }
    default:
      throw InstanceErrors.attributeValue(name, 'attribute')
  }
}

function attributeOutput (r: InstanceRecord, attribute: string): Record<string, unknown> {
  switch (attribute) {
    case 'instanceType': return { InstanceType: { Value: r.instanceType } }
    case 'kernel': return { KernelId: {} }
    case 'ramdisk': return { RamdiskId: {} }
    case 'userData': return { UserData: r.userData !== undefined ? { Value: r.userData } : {} }
    case 'disableApiTermination': return { DisableApiTermination: { Value: r.disableApiTermination } }
    case 'disableApiStop': return { DisableApiStop: { Value: r.disableApiStop } }
    case 'instanceInitiatedShutdownBehavior': return { InstanceInitiatedShutdownBehavior: { Value: r.shutdownBehavior } }
    case 'rootDeviceName': return { RootDeviceName: { Value: r.rootDeviceName } }
    case 'blockDeviceMapping': return {
      BlockDeviceMappings: r.blockDevices.filter(b => b.attachTime !== undefined).map(b => ({
        DeviceName: b.deviceName,
        Ebs: { AttachTime: new Date(b.attachTime as string), DeleteOnTermination: b.deleteOnTermination, Status: 'attached', VolumeId: b.volumeId }
      }))
    }
    case 'productCodes': return { ProductCodes: [] }
    case 'sourceDestCheck': return { SourceDestCheck: { Value: r.sourceDestCheck } }
    case 'groupSet': return { Groups: [] }
    case 'ebsOptimized': return { EbsOptimized: { Value: r.ebsOptimized } }
    case 'sriovNetSupport': return { SriovNetSupport: {} }
    case 'enaSupport': return { EnaSupport: { Value: true } }
    case 'enclaveOptions': return { EnclaveOptions: { Enabled: false } }
    default: throw Ec2Errors.invalidAttributeName(attribute)
  }
}

const STATUS_FILTERS: FilterFields<InstanceRecord> = {
  'availability-zone': r => r.availabilityZone,
  'instance-state-name': r => r.state,
  'instance-state-code': r => String(stateOutput(r.state).Code),
  'instance-status.status': r => statusOf(r),
  'instance-status.reachability': r => statusOf(r) === 'ok' ? 'passed' : 'not-applicable',
  'system-status.status': r => statusOf(r),
  'system-status.reachability': r => statusOf(r) === 'ok' ? 'passed' : 'not-applicable'
}

function INSTANCE_FILTERS (region: string): FilterFields<InstanceRecord> {
  const attached = (r: InstanceRecord): BlockDeviceRecord[] => r.blockDevices.filter(b => b.attachTime !== undefined)
  return {
    'instance-id': r => r.instanceId,
    'instance-state-name': r => r.state,
    'instance-state-code': r => String(stateOutput(r.state).Code),
    'instance-type': r => r.instanceType,
    'image-id': r => r.imageId,
    'key-name': r => r.keyName,
    'availability-zone': r => r.availabilityZone,
    'private-ip-address': r => r.state === 'terminated' ? undefined : r.privateIpAddress,
    'private-dns-name': r => r.state === 'terminated' ? undefined : instanceOutput(r, region, []).PrivateDnsName,
    'reservation-id': r => r.reservationId,
    'owner-id': r => r.ownerId,
    'launch-time': r => r.launchTime,
    'ami-launch-index': r => String(r.amiLaunchIndex),
    architecture: r => r.architecture,
    'root-device-type': () => 'ebs',
    'root-device-name': r => r.rootDeviceName,
    'block-device-mapping.device-name': r => attached(r).map(b => b.deviceName),
    'block-device-mapping.volume-id': r => attached(r).map(b => b.volumeId),
    'block-device-mapping.status': r => attached(r).map(() => 'attached'),
    'block-device-mapping.delete-on-termination': r => attached(r).map(b => String(b.deleteOnTermination)),
    'block-device-mapping.attach-time': r => attached(r).map(b => b.attachTime),
    'monitoring-state': r => r.monitoring,
    'metadata-options.http-tokens': r => r.metadataOptions.httpTokens,
    'metadata-options.http-endpoint': r => r.metadataOptions.httpEndpoint,
    'metadata-options.http-put-response-hop-limit': r => String(r.metadataOptions.httpPutResponseHopLimit),
    'metadata-options.instance-metadata-tags': r => r.metadataOptions.instanceMetadataTags,
    'client-token': r => r.clientToken,
    hypervisor: () => 'xen',
    'virtualization-type': () => 'hvm',
    tenancy: () => 'default',
    'placement-group-name': () => '',
    'product-code': () => undefined,
    'state-reason-code': r => r.stateReason?.code,
    'state-reason-message': r => r.stateReason?.message,
    'instance-lifecycle': () => undefined,
    'platform-details': () => 'Linux/UNIX',
    'usage-operation': () => 'RunInstances'
  }
}
