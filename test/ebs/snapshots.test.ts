import { CreateVolumeCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2'
import { connect } from 'nats'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { Bus } from '../../core/bus.js'
import { natsServerOptions } from '../../core/nats-server.js'
import { sdkConfig, startNode } from '../helpers/node.js'
import { ec2Cli } from './helpers.js'

const node = await startNode({ caps: ['ebs', 's3'] })
const nc = await connect(natsServerOptions(node.natsUrl))
t.teardown(async () => {
  await nc.close()
  await node.stop()
})
const az = (JSON.parse(readFileSync(join(node.dataDir, 'hive.json'), 'utf8')) as { az: string }).az
const ec2 = new EC2Client(sdkConfig(node))

const { ok, fails } = ec2Cli(node)

const newVolume = async (size = 3, tags: Array<{ Key: string, Value: string }> = []): Promise<string> =>
  (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: az, Size: size, ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'volume', Tags: tags }] } : {}) }))).VolumeId as string

async function completed (t: Test, snapshotId: string): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const s = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }))).Snapshots?.[0]
    if (s?.State === 'completed') return s
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.fail(`${snapshotId} did not complete`)
}

async function snapshot (t: Test, volumeId: string, ...args: string[]): Promise<any> {
  const s = await ok(t, ['create-snapshot', '--volume-id', volumeId, ...args])
  await completed(t, s.SnapshotId)
  return s
}

const INSTANCE = 'i-0123456789abcdef0'

t.test('create-snapshots - with no ec2 instances in the cluster → InvalidInstanceID.NotFound', async t => {
  await fails(t, ['create-snapshots', '--instance-specification', `InstanceId=${INSTANCE}`], 'InvalidInstanceID.NotFound')
})

t.test('create-snapshot - pending at once, then completed at 100%; with description and tags', async t => {
  const vol = await newVolume(3)
  const s = await ok(t, ['create-snapshot', '--volume-id', vol, '--description', 'nightly', '--tag-specifications', 'ResourceType=snapshot,Tags=[{Key=Name,Value=n1}]'])
  t.match(s, { SnapshotId: /^snap-[0-9a-f]{17}$/, VolumeId: vol, State: 'pending', VolumeSize: 3, Description: 'nightly', OwnerId: node.accountId, Encrypted: false, Tags: [{ Key: 'Name', Value: 'n1' }] })
  t.match(await completed(t, s.SnapshotId), { State: 'completed', Progress: '100%' })
  await fails(t, ['create-snapshot', '--volume-id', 'vol-0123456789abcdef0'], 'InvalidVolume.NotFound')
  await fails(t, ['create-snapshot', '--volume-id', 'volume-9'], 'InvalidVolumeID.Malformed')
  await fails(t, ['create-snapshot', '--volume-id', vol, '--tag-specifications', 'ResourceType=volume,Tags=[{Key=a,Value=b}]'], 'InvalidParameterValue')
})

t.test('describe-snapshots - by id, owner, filters; unknown → InvalidSnapshot.NotFound; malformed → InvalidSnapshotID.Malformed', async t => {
  const vol = await newVolume(6)
  const s = await snapshot(t, vol, '--description', 'filter me', '--tag-specifications', 'ResourceType=snapshot,Tags=[{Key=env,Value=test}]')
  t.match((await ok(t, ['describe-snapshots', '--snapshot-ids', s.SnapshotId])).Snapshots, [{ SnapshotId: s.SnapshotId, State: 'completed', StorageTier: 'standard' }])
  const ids = async (args: string[]): Promise<string[]> => (await ok(t, ['describe-snapshots', ...args])).Snapshots.map((x: any) => x.SnapshotId)
  t.ok((await ids(['--owner-ids', 'self'])).includes(s.SnapshotId))
  t.ok((await ids(['--owner-ids', node.accountId])).includes(s.SnapshotId))
  t.same(await ids(['--owner-ids', '999999999999']), [])
  t.same(await ids(['--filters', `Name=volume-id,Values=${vol}`, 'Name=status,Values=completed', 'Name=volume-size,Values=6', 'Name=description,Values=filter*',
    'Name=tag:env,Values=test', 'Name=encrypted,Values=false', `Name=owner-id,Values=${node.accountId}`, 'Name=progress,Values=100%']), [s.SnapshotId])
  t.same(await ids(['--filters', 'Name=tag-key,Values=env']), [s.SnapshotId])
  await fails(t, ['describe-snapshots', '--snapshot-ids', 'snap-0123456789abcdef0'], 'InvalidSnapshot.NotFound', /The snapshot 'snap-0123456789abcdef0' does not exist/)
  await fails(t, ['describe-snapshots', '--snapshot-ids', 'snapshot-1'], 'InvalidSnapshotID.Malformed')
  await fails(t, ['describe-snapshots', '--filters', 'Name=nope,Values=x'], 'InvalidParameterValue')

  const seen: string[] = []
  let NextToken: string | undefined
  do {
    const page = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], MaxResults: 5, NextToken }))
    seen.push(...(page.Snapshots ?? []).map(x => x.SnapshotId as string))
    NextToken = page.NextToken
  } while (NextToken !== undefined)
  t.same(seen, [...new Set(seen)].sort(), 'pages are in order, each snapshot once')
  t.ok(seen.includes(s.SnapshotId))
})

t.test('create-volume from a snapshot - its size by default, larger allowed, smaller → InvalidParameterValue', async t => {
  const s = await snapshot(t, await newVolume(8))
  t.match(await ok(t, ['create-volume', '--availability-zone', az, '--snapshot-id', s.SnapshotId]), { Size: 8, SnapshotId: s.SnapshotId })
  const big = await ok(t, ['create-volume', '--availability-zone', az, '--snapshot-id', s.SnapshotId, '--size', '20'])
  t.match(big, { Size: 20 })
  t.same((await ok(t, ['describe-volumes', '--filters', `Name=snapshot-id,Values=${s.SnapshotId}`, 'Name=size,Values=20'])).Volumes.map((v: any) => v.VolumeId), [big.VolumeId])
  await fails(t, ['create-volume', '--availability-zone', az, '--snapshot-id', s.SnapshotId, '--size', '4'], 'InvalidParameterValue', /smaller than snapshot/)
  await fails(t, ['create-volume', '--availability-zone', az, '--snapshot-id', 'snap-0123456789abcdef0'], 'InvalidSnapshot.NotFound')
})

t.test('copy-snapshot - within the region: a new snapshot with its own description and tags', async t => {
  const s = await snapshot(t, await newVolume(2), '--tag-specifications', 'ResourceType=snapshot,Tags=[{Key=src,Value=1}]')
  const copy = await ok(t, ['copy-snapshot', '--source-snapshot-id', s.SnapshotId, '--source-region', node.region])
  t.match(copy.SnapshotId, /^snap-/)
  const c = await completed(t, copy.SnapshotId)
  t.match(c, { Description: `[Copied ${s.SnapshotId as string} from ${node.region}]`, VolumeSize: 2 })
  t.notOk(c.Tags, 'the source\'s tags are not copied (as on AWS)')
  const tagged = await ok(t, ['copy-snapshot', '--source-snapshot-id', s.SnapshotId, '--source-region', node.region, '--description', 'mine',
    '--tag-specifications', 'ResourceType=snapshot,Tags=[{Key=copy,Value=yes}]'])
  t.same(tagged.Tags, [{ Key: 'copy', Value: 'yes' }])
  t.match(await completed(t, tagged.SnapshotId), { Description: 'mine' })
  await fails(t, ['copy-snapshot', '--source-snapshot-id', 'snap-0123456789abcdef0', '--source-region', node.region], 'InvalidSnapshot.NotFound')
  await fails(t, ['copy-snapshot', '--source-snapshot-id', s.SnapshotId, '--source-region', 'eu-far-9'], 'InvalidParameterValue', /eu-far-9/)
})

t.test('snapshot attributes - createVolumePermission added, described, removed, reset; productCodes', async t => {
  const s = await snapshot(t, await newVolume(1))
  const id = s.SnapshotId as string
  t.same(await ok(t, ['describe-snapshot-attribute', '--snapshot-id', id, '--attribute', 'createVolumePermission']), { SnapshotId: id, CreateVolumePermissions: [] })
  await ok(t, ['modify-snapshot-attribute', '--snapshot-id', id, '--attribute', 'createVolumePermission', '--operation-type', 'add', '--user-ids', '111122223333', '444455556666'])
  await ok(t, ['modify-snapshot-attribute', '--snapshot-id', id, '--create-volume-permission', 'Add=[{Group=all}]'])
  t.same((await ok(t, ['describe-snapshot-attribute', '--snapshot-id', id, '--attribute', 'createVolumePermission'])).CreateVolumePermissions,
    [{ UserId: '111122223333' }, { UserId: '444455556666' }, { Group: 'all' }])
  t.ok((await ok(t, ['describe-snapshots', '--restorable-by-user-ids', '111122223333'])).Snapshots.some((x: any) => x.SnapshotId === id))
  await ok(t, ['modify-snapshot-attribute', '--snapshot-id', id, '--attribute', 'createVolumePermission', '--operation-type', 'remove', '--user-ids', '111122223333'])
  t.same((await ok(t, ['describe-snapshot-attribute', '--snapshot-id', id, '--attribute', 'createVolumePermission'])).CreateVolumePermissions,
    [{ UserId: '444455556666' }, { Group: 'all' }])
  await ok(t, ['reset-snapshot-attribute', '--snapshot-id', id, '--attribute', 'createVolumePermission'])
  t.same((await ok(t, ['describe-snapshot-attribute', '--snapshot-id', id, '--attribute', 'createVolumePermission'])).CreateVolumePermissions, [])
  t.same(await ok(t, ['describe-snapshot-attribute', '--snapshot-id', id, '--attribute', 'productCodes']), { SnapshotId: id, ProductCodes: [] })
  await fails(t, ['modify-snapshot-attribute', '--snapshot-id', id, '--attribute', 'productCodes', '--operation-type', 'add', '--user-ids', '111122223333'], 'InvalidParameterValue')
  await fails(t, ['describe-snapshot-attribute', '--snapshot-id', 'snap-0123456789abcdef0', '--attribute', 'productCodes'], 'InvalidSnapshot.NotFound')
})

/**
 * A stand-in for the ec2 capability until plugins/ec2 serves these calls itself: one instance
 * with a root and a data volume, and one AMI registered from `imageSnapshot`.
 */
const standIn = new Bus(nc, { nodeId: 'ec2-stand-in', log: pino({ level: 'silent' }), capabilityOf: async () => 'ec2', serversOf: async () => 1 })
t.teardown(async () => { await standIn.close() })
let instanceVolumes: Array<{ volumeId: string, device: string, root: boolean }> = []
let imageSnapshot = ''
const json = (v: unknown): { data: Uint8Array } => ({ data: Buffer.from(JSON.stringify(v)) })

t.test('the ec2 stand-in serves instance volumes and images', async () => {
  standIn.serveInternal('ec2.instance.volumes', ({ headers = {} }) => headers.instanceId === INSTANCE
    ? json(instanceVolumes)
    : { data: new Uint8Array(0), headers: { code: 'InvalidInstanceID.NotFound', message: `The instance ID '${headers.instanceId}' does not exist` } })
  standIn.serveInternal('ec2.snapshot.images', ({ headers = {} }) => json(headers.snapshotId === imageSnapshot ? ['ami-0123456789abcdef0'] : []))
  await nc.flush()
})

t.test('create-snapshots - a snapshot of each of the instance\'s volumes, boot volume excluded on request, tags copied from the volumes', async t => {
  const root = await newVolume(8, [{ Key: 'role', Value: 'root' }])
  const data = await newVolume(4, [{ Key: 'role', Value: 'data' }])
  instanceVolumes = [{ volumeId: root, device: '/dev/sda1', root: true }, { volumeId: data, device: '/dev/sdf', root: false }]
  const all = (await ok(t, ['create-snapshots', '--instance-specification', `InstanceId=${INSTANCE}`, '--description', 'both', '--copy-tags-from-source', 'volume',
    '--tag-specifications', 'ResourceType=snapshot,Tags=[{Key=batch,Value=1}]'])).Snapshots
  t.same(all.map((s: any) => s.VolumeId).sort(), [root, data].sort())
  const ofRoot = all.find((s: any) => s.VolumeId === root)
  t.match(ofRoot, { State: 'pending', VolumeSize: 8, Description: 'both', OwnerId: node.accountId })
  t.same(ofRoot.Tags, [{ Key: 'role', Value: 'root' }, { Key: 'batch', Value: '1' }])
  for (const s of all) await completed(t, s.SnapshotId)
  const dataOnly = (await ok(t, ['create-snapshots', '--instance-specification', `InstanceId=${INSTANCE},ExcludeBootVolume=true`])).Snapshots
  t.same(dataOnly.map((s: any) => s.VolumeId), [data])
  instanceVolumes = []
  t.same((await ok(t, ['create-snapshots', '--instance-specification', `InstanceId=${INSTANCE}`])).Snapshots, [], 'an instance with no volumes: no snapshots')
  await fails(t, ['create-snapshots', '--instance-specification', 'InstanceId=i-0fedcba9876543210'], 'InvalidInstanceID.NotFound')
})

t.test('delete-snapshot - deletes; again → InvalidSnapshot.NotFound; malformed; one an AMI uses → InvalidSnapshot.InUse', async t => {
  const s = await snapshot(t, await newVolume(1))
  await ok(t, ['delete-snapshot', '--snapshot-id', s.SnapshotId])
  await fails(t, ['describe-snapshots', '--snapshot-ids', s.SnapshotId], 'InvalidSnapshot.NotFound')
  await fails(t, ['delete-snapshot', '--snapshot-id', s.SnapshotId], 'InvalidSnapshot.NotFound')
  await fails(t, ['delete-snapshot', '--snapshot-id', 'snapshot-x'], 'InvalidSnapshotID.Malformed')
  const used = await snapshot(t, await newVolume(1))
  imageSnapshot = used.SnapshotId
  await fails(t, ['delete-snapshot', '--snapshot-id', used.SnapshotId], 'InvalidSnapshot.InUse', /ami-0123456789abcdef0/)
  const pending = await ok(t, ['create-snapshot', '--volume-id', await newVolume(1)])
  await ok(t, ['delete-snapshot', '--snapshot-id', pending.SnapshotId])
  await fails(t, ['describe-snapshots', '--snapshot-ids', pending.SnapshotId], 'InvalidSnapshot.NotFound')
})
