import { CreateVolumeCommand, DescribeVolumesCommand, DescribeVolumesModificationsCommand, EC2Client, ModifyVolumeCommand, type CreateVolumeCommandInput, type CreateVolumeCommandOutput } from '@aws-sdk/client-ec2'
import { connect } from 'nats'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { KvStore, type ActionContext, type Bus, type Hive } from '../../core/index.js'
import { natsServerOptions } from '../../core/nats-server.js'
import type { VolumeDataPlane } from '../../plugins/ebs/data.js'
import { EbsStore } from '../../plugins/ebs/records.js'
import { volumeHandlers } from '../../plugins/ebs/volumes.js'
import { aws, sdkConfig, startNode, type CliResult } from '../helpers/node.js'

// The data plane needs s3 (its chunks live in the _ebs bucket).
const node = await startNode({ caps: ['ebs', 's3'] })
t.teardown(async () => { await node.stop() })
const az = (JSON.parse(readFileSync(join(node.dataDir, 'hive.json'), 'utf8')) as { az: string }).az
const ec2 = new EC2Client(sdkConfig(node))

function ok (t: Test, args: string[]): any {
  const r = aws(node, ['ec2', ...args])
  t.equal(r.status, 0, r.stderr)
  return r.json
}

function fails (t: Test, args: string[], code: string, message?: RegExp): CliResult {
  const r = aws(node, ['ec2', ...args])
  t.not(r.status, 0, `${args[0]} fails`)
  t.match(r.stderr, `(${code})`, `${args[0]} → ${code}`)
  if (message !== undefined) t.match(r.stderr, message)
  return r
}

const create = (t: Test, ...args: string[]): any => ok(t, ['create-volume', '--availability-zone', az, ...args])
const describe = (t: Test, id: string): any => ok(t, ['describe-volumes', '--volume-ids', id]).Volumes[0]

t.test('create-volume - defaults: gp2 with its 3 IOPS/GiB baseline, unencrypted, answered while creating, then available', async t => {
  const v = create(t, '--size', '80')
  t.match(v.VolumeId, /^vol-[0-9a-f]{17}$/)
  t.match(v, { Size: 80, VolumeType: 'gp2', Iops: 240, Encrypted: false, State: 'creating', AvailabilityZone: az, SnapshotId: '', MultiAttachEnabled: false })
  t.notOk('Throughput' in v, 'no throughput for gp2')
  t.match(describe(t, v.VolumeId), { State: 'available', Size: 80, Attachments: [] })
})

// The limits are checked through the SDK (in-process, quick); the CLI covers each error code once.
const sdkCreate = async (input: Omit<CreateVolumeCommandInput, 'AvailabilityZone'>): Promise<CreateVolumeCommandOutput> =>
  await ec2.send(new CreateVolumeCommand({ AvailabilityZone: az, ...input }))
const sdkFails = async (t: Test, input: Omit<CreateVolumeCommandInput, 'AvailabilityZone'>, name: string, message: RegExp): Promise<void> => {
  await t.rejects(sdkCreate(input), { name, message }, `${JSON.stringify(input)} → ${name}`)
}

t.test('create-volume - every type with AWS\'s defaults and limits', async t => {
  t.match(await sdkCreate({ Size: 8, VolumeType: 'gp3' }), { VolumeType: 'gp3', Iops: 3000, Throughput: 125 })
  t.match(await sdkCreate({ Size: 100, VolumeType: 'gp3', Iops: 16000, Throughput: 1000 }), { Iops: 16000, Throughput: 1000 })
  t.match(await sdkCreate({ Size: 4, VolumeType: 'io1', Iops: 200 }), { VolumeType: 'io1', Iops: 200 })
  t.match(await sdkCreate({ Size: 65536, VolumeType: 'io2', Iops: 256000 }), { VolumeType: 'io2', Size: 65536, Iops: 256000 })
  t.equal((await sdkCreate({ Size: 125, VolumeType: 'st1' })).Iops, undefined, 'no IOPS for st1')
  t.match(await sdkCreate({ Size: 16384, VolumeType: 'sc1' }), { VolumeType: 'sc1' })
  t.match(await sdkCreate({ Size: 1024, VolumeType: 'standard' }), { VolumeType: 'standard' })
  t.match(await sdkCreate({ Size: 1 }), { VolumeType: 'gp2', Iops: 100 }, 'gp2\'s baseline is at least 100')
  t.match(await sdkCreate({ Size: 16384 }), { Iops: 16000 }, 'and at most 16,000')
  t.match(await sdkCreate({ Size: 10, VolumeType: 'io2', Iops: 1000, MultiAttachEnabled: true }), { MultiAttachEnabled: true })
})

t.test('create-volume - sizes outside a type\'s range → InvalidParameterValue', async t => {
  fails(t, ['create-volume', '--availability-zone', az, '--size', '16385'], 'InvalidParameterValue', /too large; maximum is 16384GiB/)
  await sdkFails(t, { Size: 0 }, 'InvalidParameterValue', /too small; minimum is 1GiB/)
  await sdkFails(t, { Size: 3, VolumeType: 'io1', Iops: 100 }, 'InvalidParameterValue', /minimum is 4GiB/)
  await sdkFails(t, { Size: 65537, VolumeType: 'io2', Iops: 1000 }, 'InvalidParameterValue', /maximum is 65536GiB/)
  await sdkFails(t, { Size: 124, VolumeType: 'st1' }, 'InvalidParameterValue', /minimum is 125GiB/)
  await sdkFails(t, { Size: 1025, VolumeType: 'standard' }, 'InvalidParameterValue', /maximum is 1024GiB/)
})

t.test('create-volume - IOPS and throughput rules per type', async t => {
  fails(t, ['create-volume', '--availability-zone', az, '--size', '10', '--volume-type', 'io1'], 'MissingParameter', /iops/)
  fails(t, ['create-volume', '--availability-zone', az, '--size', '10', '--iops', '300'], 'InvalidParameterCombination', /iops is not supported for gp2/)
  await sdkFails(t, { Size: 200, VolumeType: 'st1', Iops: 300 }, 'InvalidParameterCombination', /iops is not supported for st1/)
  await sdkFails(t, { Size: 10, VolumeType: 'io1', Iops: 1000 }, 'InvalidParameterValue', /ratio of 100.000000 is too high; maximum is 50/)
  await sdkFails(t, { Size: 10, VolumeType: 'io2', Iops: 10001 }, 'InvalidParameterValue', /maximum is 1000$/)
  await sdkFails(t, { Size: 10, VolumeType: 'gp3', Iops: 6000 }, 'InvalidParameterValue', /maximum is 500$/)
  await sdkFails(t, { Size: 100, VolumeType: 'gp3', Iops: 2999 }, 'InvalidParameterValue', /too low; minimum is 3000/)
  await sdkFails(t, { Size: 100, VolumeType: 'gp3', Iops: 16001 }, 'InvalidParameterValue', /too high; maximum is 16000/)
  await sdkFails(t, { Size: 100, VolumeType: 'gp3', Throughput: 1001 }, 'InvalidParameterValue', /maximum is 1000 MiB/)
  await sdkFails(t, { Size: 100, VolumeType: 'gp3', Throughput: 1000 }, 'InvalidParameterValue', /Throughput \(MiBps\) to iops ratio of 0.333333 is too high/)
  await sdkFails(t, { Size: 100, VolumeType: 'io2', Iops: 1000, Throughput: 200 }, 'InvalidParameterCombination', /throughput is not supported for io2/)
  fails(t, ['create-volume', '--availability-zone', az, '--size', '100', '--volume-type', 'gp3', '--multi-attach-enabled'], 'InvalidParameterCombination', /Multi-Attach/)
})

t.test('create-volume - an unknown type → UnknownVolumeType; a zone outside the region → InvalidZone.NotFound; no size nor snapshot → MissingParameter', async t => {
  fails(t, ['create-volume', '--availability-zone', az, '--size', '8', '--volume-type', 'gp4'], 'UnknownVolumeType')
  fails(t, ['create-volume', '--availability-zone', 'mars-north-1z', '--size', '8'], 'InvalidZone.NotFound', /The zone 'mars-north-1z' does not exist/)
  fails(t, ['create-volume', '--availability-zone', az], 'MissingParameter', /size or snapshotId/)
})

t.test('create-volume - tags from TagSpecifications (ResourceType volume only)', async t => {
  const v = create(t, '--size', '1', '--tag-specifications', 'ResourceType=volume,Tags=[{Key=Name,Value=data},{Key=team,Value=db}]')
  t.same(v.Tags, [{ Key: 'Name', Value: 'data' }, { Key: 'team', Value: 'db' }])
  fails(t, ['create-volume', '--availability-zone', az, '--size', '1', '--tag-specifications', 'ResourceType=instance,Tags=[{Key=a,Value=b}]'], 'InvalidParameterValue', /not a valid taggable resource type/)
  fails(t, ['create-volume', '--availability-zone', az, '--size', '1', '--tag-specifications', 'ResourceType=volume,Tags=[{Key=aws:x,Value=b}]'], 'InvalidParameterValue', /reserved/)
})

t.test('create-volume - a replayed ClientToken answers the first volume; with other parameters → IdempotentParameterMismatch', async t => {
  const first = create(t, '--size', '2', '--client-token', 'token-1')
  const again = create(t, '--size', '2', '--client-token', 'token-1')
  t.equal(again.VolumeId, first.VolumeId)
  fails(t, ['create-volume', '--availability-zone', az, '--size', '3', '--client-token', 'token-1'], 'IdempotentParameterMismatch')
})

t.test('create-volume --dry-run → DryRunOperation, and nothing is created', async t => {
  const count = async (): Promise<number> => (await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length ?? 0
  const before = await count()
  fails(t, ['create-volume', '--availability-zone', az, '--size', '1', '--dry-run'], 'DryRunOperation')
  t.equal(await count(), before)
})

t.test('describe-volumes - by id, unknown → InvalidVolume.NotFound, malformed → InvalidVolumeID.Malformed', async t => {
  const v = create(t, '--size', '5')
  t.equal(describe(t, v.VolumeId).VolumeId, v.VolumeId)
  fails(t, ['describe-volumes', '--volume-ids', 'vol-0123456789abcdef0'], 'InvalidVolume.NotFound', /The volume 'vol-0123456789abcdef0' does not exist/)
  fails(t, ['describe-volumes', '--volume-ids', 'volume-1'], 'InvalidVolumeID.Malformed', /Invalid id: "volume-1"/)
  fails(t, ['describe-volumes', '--volume-ids', 'vol-xyz'], 'InvalidVolumeID.Malformed')
})

t.test('describe-volumes - filters', async t => {
  const v = create(t, '--size', '7', '--volume-type', 'gp3', '--tag-specifications', 'ResourceType=volume,Tags=[{Key=filter-test,Value=yes}]')
  const ids = (filters: string[]): string[] => ok(t, ['describe-volumes', '--filters', ...filters]).Volumes.map((x: any) => x.VolumeId)
  t.same(ids(['Name=tag:filter-test,Values=yes', 'Name=tag-key,Values=filter-test', 'Name=tag-value,Values=ye?', 'Name=size,Values=7', 'Name=volume-type,Values=gp3',
    'Name=status,Values=available', `Name=availability-zone,Values=${az}`, 'Name=encrypted,Values=false', `Name=volume-id,Values=${v.VolumeId.slice(0, 8) as string}*`,
    `Name=create-time,Values=${new Date().getUTCFullYear()}-*`]), [v.VolumeId], 'filters AND together, wildcards match')
  t.same(ids(['Name=tag:filter-test,Values=yes', 'Name=volume-type,Values=io1,st1']), [], 'a filter\'s values OR together')
  t.same(ids(['Name=tag:filter-test,Values=yes', 'Name=attachment.status,Values=attached']), [])
  fails(t, ['describe-volumes', '--filters', 'Name=bogus,Values=x'], 'InvalidParameterValue', /The filter 'bogus' is invalid/)
})

t.test('describe-volumes - MaxResults/NextToken pages through every volume once', async t => {
  const all = (await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? []
  const seen: string[] = []
  let NextToken: string | undefined
  do {
    const page = await ec2.send(new DescribeVolumesCommand({ MaxResults: 5, NextToken }))
    t.ok((page.Volumes ?? []).length <= 5)
    seen.push(...(page.Volumes ?? []).map(v => v.VolumeId as string))
    NextToken = page.NextToken
  } while (NextToken !== undefined)
  t.same(seen, all.map(v => v.VolumeId).sort())
  await t.rejects(ec2.send(new DescribeVolumesCommand({ MaxResults: 4 })), { name: 'InvalidParameterValue' })
  await t.rejects(ec2.send(new DescribeVolumesCommand({ MaxResults: 5, VolumeIds: [seen[0]] })), { name: 'InvalidParameterCombination' })
})

t.test('delete-volume - deletes; again → InvalidVolume.NotFound; malformed → InvalidVolumeID.Malformed', async t => {
  const v = create(t, '--size', '1')
  ok(t, ['delete-volume', '--volume-id', v.VolumeId])
  fails(t, ['describe-volumes', '--volume-ids', v.VolumeId], 'InvalidVolume.NotFound')
  fails(t, ['delete-volume', '--volume-id', v.VolumeId], 'InvalidVolume.NotFound')
  fails(t, ['delete-volume', '--volume-id', 'bad-id'], 'InvalidVolumeID.Malformed')
})

t.test('modify-volume - grows, changes type, refuses to shrink; the modification is described', async t => {
  const v = create(t, '--size', '10')
  const m = ok(t, ['modify-volume', '--volume-id', v.VolumeId, '--size', '20', '--volume-type', 'gp3']).VolumeModification
  t.match(m, { VolumeId: v.VolumeId, ModificationState: 'modifying', OriginalSize: 10, TargetSize: 20, OriginalVolumeType: 'gp2', TargetVolumeType: 'gp3', OriginalIops: 100, TargetIops: 3000, TargetThroughput: 125 })
  // The modification finishes in the background: wait for it through the SDK (quicker than the CLI).
  for (let i = 0; i < 100; i++) {
    const state = (await ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [v.VolumeId] }))).VolumesModifications?.[0].ModificationState
    if (state === 'completed') break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const mods = ok(t, ['describe-volumes-modifications', '--volume-ids', v.VolumeId]).VolumesModifications
  t.match(mods[0], { ModificationState: 'completed', Progress: 100, TargetSize: 20 })
  t.ok(mods[0].EndTime, 'a completed modification has its end time')
  t.match(describe(t, v.VolumeId), { Size: 20, VolumeType: 'gp3', Iops: 3000, Throughput: 125 })
  fails(t, ['modify-volume', '--volume-id', v.VolumeId, '--size', '5'], 'InvalidParameterValue', /New size cannot be smaller than existing size/)
  fails(t, ['modify-volume', '--volume-id', v.VolumeId, '--iops', '20000'], 'InvalidParameterValue', /maximum is 16000/)
  fails(t, ['modify-volume', '--volume-id', v.VolumeId], 'InvalidParameterCombination')
  fails(t, ['modify-volume', '--volume-id', 'vol-0123456789abcdef0', '--size', '50'], 'InvalidVolume.NotFound')
  const filtered = ok(t, ['describe-volumes-modifications', '--filters', 'Name=modification-state,Values=completed', 'Name=target-volume-type,Values=gp3']).VolumesModifications
  t.ok(filtered.some((x: any) => x.VolumeId === v.VolumeId))
  const fresh = create(t, '--size', '1')
  fails(t, ['describe-volumes-modifications', '--volume-ids', fresh.VolumeId], 'InvalidVolumeModification.NotFound')
})

t.test('modify-volume through the SDK - throughput and IOPS of a gp3 volume', async t => {
  const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: az, Size: 100, VolumeType: 'gp3' }))
  const m = await ec2.send(new ModifyVolumeCommand({ VolumeId: v.VolumeId, Iops: 4000, Throughput: 500 }))
  t.match(m.VolumeModification, { TargetIops: 4000, TargetThroughput: 500, OriginalIops: 3000, OriginalThroughput: 125 })
  t.ok(m.VolumeModification?.StartTime instanceof Date)
})

t.test('describe-volume-status - ok with I/O enabled; unknown → InvalidVolume.NotFound', async t => {
  const v = create(t, '--size', '1')
  const s = ok(t, ['describe-volume-status', '--volume-ids', v.VolumeId]).VolumeStatuses
  t.match(s, [{ VolumeId: v.VolumeId, AvailabilityZone: az, VolumeStatus: { Status: 'ok', Details: [{ Name: 'io-enabled', Status: 'passed' }, { Name: 'io-performance', Status: 'not-applicable' }] } }])
  const all = ok(t, ['describe-volume-status', '--filters', 'Name=volume-status.status,Values=ok']).VolumeStatuses
  t.ok(all.some((x: any) => x.VolumeId === v.VolumeId))
  fails(t, ['describe-volume-status', '--volume-ids', 'vol-0123456789abcdef0'], 'InvalidVolume.NotFound')
  fails(t, ['describe-volume-status', '--volume-ids', 'nope'], 'InvalidVolumeID.Malformed')
})

t.test('volume attributes - autoEnableIO is kept, productCodes is empty', async t => {
  const v = create(t, '--size', '1')
  t.same(ok(t, ['describe-volume-attribute', '--volume-id', v.VolumeId, '--attribute', 'autoEnableIO']), { VolumeId: v.VolumeId, AutoEnableIO: { Value: false } })
  ok(t, ['modify-volume-attribute', '--volume-id', v.VolumeId, '--auto-enable-io'])
  t.same(ok(t, ['describe-volume-attribute', '--volume-id', v.VolumeId, '--attribute', 'autoEnableIO']).AutoEnableIO, { Value: true })
  t.same(ok(t, ['describe-volume-attribute', '--volume-id', v.VolumeId, '--attribute', 'productCodes']), { VolumeId: v.VolumeId, ProductCodes: [] })
  fails(t, ['describe-volume-attribute', '--volume-id', 'vol-0123456789abcdef0', '--attribute', 'autoEnableIO'], 'InvalidVolume.NotFound')
})

t.test('modify-volume - a second modification while the store grows → IncorrectModificationState; attach waits too', async t => {
  // The handlers in this process, on the node's KV, over a data plane whose resize waits to be released.
  const nc = await connect(natsServerOptions(node.natsUrl))
  t.teardown(async () => { await nc.close() })
  const store = await EbsStore.open(new KvStore(nc))
  let release = (): void => {}
  const grown = new Promise<void>(resolve => { release = resolve })
  const done: Array<Promise<void>> = []
  const data: VolumeDataPlane = {
    createVolume: async () => {},
    deleteVolume: async () => {},
    resizeVolume: async () => { await grown },
    createSnapshot: async () => {},
    copySnapshot: async () => {},
    deleteSnapshot: async () => {}
  }
  const hive = {
    node: { nodeId: 'in-test', region: node.region, az, accountId: node.accountId, dataDir: '/nowhere', settings: {} },
    nodes: async () => [],
    bus: {} as Bus
  } satisfies Pick<Hive, 'node' | 'nodes' | 'bus'>
  const handlers = volumeHandlers({ store, data, hive, log: pino({ level: 'silent' }), background: work => { done.push(work()) } })
  const ctx = { requestId: 'r', region: node.region, accountId: node.accountId, principalArn: 'arn', service: 'ec2', action: 'x', nodeId: 'in-test', log: pino({ level: 'silent' }) } satisfies ActionContext
  const v = await handlers.CreateVolume({ AvailabilityZone: az, Size: 10 }, ctx) as { VolumeId: string }
  await handlers.ModifyVolume({ VolumeId: v.VolumeId, Size: 20 }, ctx)
  await t.rejects(async () => await handlers.ModifyVolume({ VolumeId: v.VolumeId, Size: 30 }, ctx), { code: 'IncorrectModificationState', message: /MODIFYING/ })
  const r = aws(node, ['ec2', 'attach-volume', '--volume-id', v.VolumeId, '--instance-id', 'i-0123456789abcdef0', '--device', '/dev/sdf'])
  t.match(r.stderr, '(OperationNotPermitted)', 'no attach while modifying')
  release()
  await Promise.all(done)
  t.match(describe(t, v.VolumeId), { Size: 20 })
  t.match(ok(t, ['modify-volume', '--volume-id', v.VolumeId, '--size', '30']).VolumeModification, { OriginalSize: 20, TargetSize: 30 }, 'once completed, the volume can be modified again')
})
