import { DescribeAvailabilityZonesCommand, DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2'
import t from 'tap'
import type { ActionContext, Hive, NodeRecord } from '../../core/index.js'
import { describeAvailabilityZones, describeRegions, zoneIdOf } from '../../plugins/ec2/regions.js'
import { aws, sdkConfig, startNode } from '../helpers/node.js'

// The handlers read nothing from the request context.
const ctx = {} as ActionContext

function fakeHive (registered = true): Pick<Hive, 'node' | 'nodes'> {
  const node = { nodeId: 'n1', region: 'eu-west-2', az: 'eu-west-2b', accountId: '123456789012', dataDir: '/nowhere', settings: {} }
  const record: NodeRecord = { nodeId: 'n1', region: 'eu-west-2', az: 'eu-west-2b', capabilities: ['ec2'], actions: {}, endpoint: 'https://10.0.0.5:4566', startedAt: '2024-01-01T00:00:00.000Z' }
  const peer: NodeRecord = { ...record, nodeId: 'n2', az: 'eu-west-2c', endpoint: 'https://10.0.0.6:4566' }
  const elsewhere: NodeRecord = { ...record, nodeId: 'n3', region: 'eu-central-1', az: 'eu-central-1a' }
  return { node, nodes: async () => registered ? [record, peer, elsewhere] : [] }
}

t.test('zoneIdOf - abbreviates the region and numbers the zone by its letter', async t => {
  t.equal(zoneIdOf('us-east-1', 'us-east-1a'), 'use1-az1')
  t.equal(zoneIdOf('eu-west-2', 'eu-west-2b'), 'euw2-az2')
  t.equal(zoneIdOf('ap-southeast-2', 'ap-southeast-2c'), 'apse2-az3')
  t.equal(zoneIdOf('us-gov-west-1', 'us-gov-west-1a'), 'usgw1-az1')
  t.equal(zoneIdOf('ca-central-1', 'ca-central-1d'), 'cac1-az4')
})

t.test('zoneIdOf - a zone not named <region><letter> is the first zone', async t => {
  t.equal(zoneIdOf('home', 'rack-7'), 'home-az1')
})

t.test('DescribeRegions - the node\'s region with its registered endpoint', async t => {
  const out = await describeRegions(fakeHive())({}, ctx)
  t.same(out, { Regions: [{ RegionName: 'eu-west-2', Endpoint: 'https://10.0.0.5:4566', OptInStatus: 'opt-in-not-required' }] })
})

t.test('DescribeRegions - no Endpoint before the node has registered', async t => {
  const out = await describeRegions(fakeHive(false))({}, ctx) as { Regions: Array<Record<string, unknown>> }
  t.equal(out.Regions[0].Endpoint, undefined)
})

t.test('DescribeRegions - RegionNames and AllRegions select the one region', async t => {
  const out = await describeRegions(fakeHive())({ RegionNames: ['eu-west-2'], AllRegions: true }, ctx) as { Regions: unknown[] }
  t.equal(out.Regions.length, 1)
})

t.test('DescribeRegions - filters on region-name, endpoint (wildcard) and opt-in-status', async t => {
  const regions = async (Filters: unknown): Promise<unknown[]> => ((await describeRegions(fakeHive())({ Filters }, ctx)) as { Regions: unknown[] }).Regions
  t.equal((await regions([{ Name: 'region-name', Values: ['eu-west-2'] }])).length, 1)
  t.equal((await regions([{ Name: 'endpoint', Values: ['*10.0.0.5*'] }])).length, 1)
  t.equal((await regions([{ Name: 'opt-in-status', Values: ['opted-in', 'opt-in-not-required'] }])).length, 1)
  t.equal((await regions([{ Name: 'region-name', Values: ['us-east-1'] }])).length, 0)
})

t.test('DescribeRegions - an unknown region name → InvalidParameterValue naming the first unknown alphabetically', async t => {
  await t.rejects(async () => await describeRegions(fakeHive())({ RegionNames: ['eu-west-2', 'zz-nowhere-9', 'us-east-1'] }, ctx),
    { code: 'InvalidParameterValue', message: 'Invalid region: [us-east-1]', statusCode: 400 })
})

t.test('DescribeRegions - an unknown filter → InvalidParameterValue', async t => {
  await t.rejects(async () => await describeRegions(fakeHive())({ Filters: [{ Name: 'bogus', Values: ['x'] }] }, ctx),
    { code: 'InvalidParameterValue', message: "The filter 'bogus' is invalid" })
})

t.test('DescribeAvailabilityZones - the zones of the region\'s live nodes, not of other regions', async t => {
  const out = await describeAvailabilityZones(fakeHive())({}, ctx)
  const zone = (name: string, id: string): Record<string, unknown> => ({
    ZoneName: name,
    ZoneId: id,
    ZoneType: 'availability-zone',
    State: 'available',
    OptInStatus: 'opt-in-not-required',
    Messages: [],
    RegionName: 'eu-west-2',
    GroupName: 'eu-west-2',
    NetworkBorderGroup: 'eu-west-2'
  })
  t.same(out, { AvailabilityZones: [zone('eu-west-2b', 'euw2-az2'), zone('eu-west-2c', 'euw2-az3')] })
})

t.test('DescribeAvailabilityZones - before any node registered, the node\'s own zone', async t => {
  const out = await describeAvailabilityZones(fakeHive(false))({}, ctx) as { AvailabilityZones: Array<{ ZoneName: string }> }
  t.same(out.AvailabilityZones.map(z => z.ZoneName), ['eu-west-2b'])
})

t.test('DescribeAvailabilityZones - ZoneNames, ZoneIds and every documented filter', async t => {
  const zones = async (input: Record<string, unknown>): Promise<number> =>
    ((await describeAvailabilityZones(fakeHive())(input, ctx)) as { AvailabilityZones: unknown[] }).AvailabilityZones.length
  t.equal(await zones({ ZoneNames: ['eu-west-2b'] }), 1)
  t.equal(await zones({ ZoneIds: ['euw2-az2'], AllAvailabilityZones: true }), 1)
  for (const [name, value] of [['zone-name', 'eu-west-2?'], ['zone-id', 'euw2-*'], ['state', 'available'], ['region-name', 'eu-west-2'],
    ['zone-type', 'availability-zone'], ['group-name', 'eu-west-2'], ['opt-in-status', 'opt-in-not-required']]) {
    t.equal(await zones({ Filters: [{ Name: name, Values: [value] }] }), 2, `${name}=${value} matches`)
  }
  t.equal(await zones({ Filters: [{ Name: 'zone-name', Values: ['eu-west-2c'] }] }), 1)
  t.equal(await zones({ Filters: [{ Name: 'message', Values: ['*'] }] }), 0, 'no zone has a message')
  t.equal(await zones({ Filters: [{ Name: 'parent-zone-id', Values: ['*'] }] }), 0, 'no zone has a parent')
  t.equal(await zones({ Filters: [{ Name: 'state', Values: ['impaired'] }] }), 0)
})

t.test('DescribeAvailabilityZones - an unknown zone name → InvalidParameterValue naming the first unknown', async t => {
  await t.rejects(async () => await describeAvailabilityZones(fakeHive())({ ZoneNames: ['eu-west-2b', 'eu-west-2z', 'eu-west-2y'] }, ctx),
    { code: 'InvalidParameterValue', message: 'Invalid availability zone: [eu-west-2z]' })
})

t.test('DescribeAvailabilityZones - an unknown zone id → InvalidParameterValue', async t => {
  await t.rejects(async () => await describeAvailabilityZones(fakeHive())({ ZoneIds: ['euw2-az9'] }, ctx),
    { code: 'InvalidParameterValue', message: 'Invalid availability zone-id: [euw2-az9]' })
})

t.test('DescribeAvailabilityZones - an unknown filter → InvalidParameterValue', async t => {
  await t.rejects(async () => await describeAvailabilityZones(fakeHive())({ Filters: [{ Name: 'network-border-group', Values: ['x'] }] }, ctx),
    { code: 'InvalidParameterValue', message: "The filter 'network-border-group' is invalid" })
})

t.test('through a real node', async t => {
  const node = await startNode({ caps: ['ec2'], args: ['--region', 'eu-west-2', '--az', 'eu-west-2b'] })
  t.teardown(async () => { await node.stop() })
  const ec2 = new EC2Client(sdkConfig(node))
  t.teardown(() => { ec2.destroy() })

  t.test('aws ec2 describe-regions - the node\'s region and endpoint', async t => {
    const r = aws(node, ['ec2', 'describe-regions'])
    t.equal(r.status, 0, r.stderr)
    t.same(r.json, { Regions: [{ RegionName: 'eu-west-2', Endpoint: node.endpoint, OptInStatus: 'opt-in-not-required' }] })
  })

  t.test('aws ec2 describe-regions - --region-names, --filters, --all-regions', async t => {
    t.equal(aws(node, ['ec2', 'describe-regions', '--region-names', 'eu-west-2']).json?.Regions.length, 1)
    t.equal(aws(node, ['ec2', 'describe-regions', '--all-regions']).json?.Regions.length, 1)
    t.equal(aws(node, ['ec2', 'describe-regions', '--filters', 'Name=region-name,Values=eu-*']).json?.Regions.length, 1)
    t.equal(aws(node, ['ec2', 'describe-regions', '--filters', 'Name=region-name,Values=us-east-1']).json?.Regions.length, 0)
  })

  t.test('aws ec2 describe-regions - an unknown region → InvalidParameterValue', async t => {
    const r = aws(node, ['ec2', 'describe-regions', '--region-names', 'us-east-1'])
    t.not(r.status, 0)
    t.match(r.stderr, '(InvalidParameterValue) when calling the DescribeRegions operation')
    t.match(r.stderr, 'Invalid region: [us-east-1]')
  })

  t.test('aws ec2 describe-regions - a bad filter name → InvalidParameterValue', async t => {
    const r = aws(node, ['ec2', 'describe-regions', '--filters', 'Name=bogus,Values=x'])
    t.match(r.stderr, "(InvalidParameterValue) when calling the DescribeRegions operation")
    t.match(r.stderr, "The filter 'bogus' is invalid")
  })

  t.test('aws ec2 describe-regions --dry-run → DryRunOperation', async t => {
    const r = aws(node, ['ec2', 'describe-regions', '--dry-run'])
    t.not(r.status, 0)
    t.match(r.stderr, '(DryRunOperation)')
  })

  t.test('aws ec2 describe-availability-zones - the node\'s zone, with --zone-names, --zone-ids and --filters', async t => {
    const r = aws(node, ['ec2', 'describe-availability-zones'])
    t.equal(r.status, 0, r.stderr)
    t.match(r.json, { AvailabilityZones: [{ ZoneName: 'eu-west-2b', ZoneId: 'euw2-az2', State: 'available', RegionName: 'eu-west-2', Messages: [] }] })
    t.equal(aws(node, ['ec2', 'describe-availability-zones', '--zone-names', 'eu-west-2b']).json?.AvailabilityZones.length, 1)
    t.equal(aws(node, ['ec2', 'describe-availability-zones', '--zone-ids', 'euw2-az2']).json?.AvailabilityZones.length, 1)
    t.equal(aws(node, ['ec2', 'describe-availability-zones', '--all-availability-zones']).json?.AvailabilityZones.length, 1)
    t.equal(aws(node, ['ec2', 'describe-availability-zones', '--filters', 'Name=zone-name,Values=*b', 'Name=state,Values=available']).json?.AvailabilityZones.length, 1)
    t.equal(aws(node, ['ec2', 'describe-availability-zones', '--filters', 'Name=zone-type,Values=local-zone']).json?.AvailabilityZones.length, 0)
  })

  t.test('aws ec2 describe-availability-zones - an unknown zone → InvalidParameterValue', async t => {
    const r = aws(node, ['ec2', 'describe-availability-zones', '--zone-names', 'eu-west-2z'])
    t.match(r.stderr, '(InvalidParameterValue) when calling the DescribeAvailabilityZones operation')
    t.match(r.stderr, 'Invalid availability zone: [eu-west-2z]')
  })

  t.test('aws ec2 describe-availability-zones --dry-run → DryRunOperation', async t => {
    t.match(aws(node, ['ec2', 'describe-availability-zones', '--dry-run']).stderr, '(DryRunOperation)')
  })

  t.test('sdk DescribeRegions - region, endpoint, filters', async t => {
    const out = await ec2.send(new DescribeRegionsCommand({}))
    t.same(out.Regions, [{ RegionName: 'eu-west-2', Endpoint: node.endpoint, OptInStatus: 'opt-in-not-required' }])
    const filtered = await ec2.send(new DescribeRegionsCommand({ Filters: [{ Name: 'opt-in-status', Values: ['not-opted-in'] }] }))
    t.same(filtered.Regions, [])
  })

  t.test('sdk DescribeRegions - errors and DryRun', async t => {
    await t.rejects(ec2.send(new DescribeRegionsCommand({ RegionNames: ['zz-nowhere-1'] })), { name: 'InvalidParameterValue', message: 'Invalid region: [zz-nowhere-1]' })
    await t.rejects(ec2.send(new DescribeRegionsCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] })), { name: 'InvalidParameterValue' })
    await t.rejects(ec2.send(new DescribeRegionsCommand({ DryRun: true })), { name: 'DryRunOperation' })
  })

  t.test('sdk DescribeAvailabilityZones - zone, selection, errors and DryRun', async t => {
    const out = await ec2.send(new DescribeAvailabilityZonesCommand({ ZoneIds: ['euw2-az2'] }))
    t.match(out.AvailabilityZones, [{ ZoneName: 'eu-west-2b', ZoneId: 'euw2-az2', ZoneType: 'availability-zone', OptInStatus: 'opt-in-not-required', NetworkBorderGroup: 'eu-west-2', GroupName: 'eu-west-2' }])
    await t.rejects(ec2.send(new DescribeAvailabilityZonesCommand({ ZoneIds: ['euw2-az9'] })), { name: 'InvalidParameterValue', message: 'Invalid availability zone-id: [euw2-az9]' })
    await t.rejects(ec2.send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] })), { name: 'InvalidParameterValue' })
    await t.rejects(ec2.send(new DescribeAvailabilityZonesCommand({ DryRun: true })), { name: 'DryRunOperation' })
  })
})
