import t, { type Test } from 'tap'
import { startNode } from '../helpers/node.js'
import { ec2Calls } from './helpers.js'
import { createVolume, qemuIo, snapshot, waitFor } from '../ebs/helpers.js'

const node = await startNode({ caps: ['ec2', 'ebs', 's3'] })
t.teardown(async () => { await node.stop() })

const { ec2, ok, fails } = ec2Calls(node)

const rootMapping = (snapshotId: string, device = '/dev/xvda'): string => `DeviceName=${device},Ebs={SnapshotId=${snapshotId}}`

function register (t: Test, name: string, snapshotId: string, extra: string[] = []): string {
  return ok(t, ['register-image', '--name', name, '--root-device-name', '/dev/xvda', '--block-device-mappings', rootMapping(snapshotId), ...extra]).ImageId
}

const describe = (args: string[]): any[] => ec2(['describe-images', ...args]).json?.Images ?? []
const image = (id: string): any => describe(['--image-ids', id])[0]

// One 1 GiB volume with a pattern, snapshotted: the disk every image here is made of.
const volume = await createVolume(node, 1)
const written = await qemuIo(node, volume, ['write -P 0x5a 0 1M', 'flush'])
if (written.status !== 0) throw new Error(written.stderr)
const snap = await snapshot(node, volume)

t.test('register-image from a snapshot → available, described with its mappings and defaults', async t => {
  const id = register(t, 'first-image', snap, ['--description', 'the first', '--ena-support', '--boot-mode', 'uefi'])
  t.match(id, /^ami-[0-9a-f]{17}$/)
  const i = image(id)
  t.match(i, {
    ImageId: id,
    Name: 'first-image',
    Description: 'the first',
    State: 'available',
    OwnerId: node.accountId,
    Architecture: 'x86_64',
    RootDeviceName: '/dev/xvda',
    RootDeviceType: 'ebs',
    VirtualizationType: 'hvm',
    ImageType: 'machine',
    Public: false,
    EnaSupport: true,
    BootMode: 'uefi',
    ImageLocation: `${node.accountId}/first-image`,
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snap, VolumeSize: 1, DeleteOnTermination: true, Encrypted: false } }]
  })
  t.ok(Date.parse(i.CreationDate) > 0, 'CreationDate is a date')
})

t.test('register-image refuses bad names, a taken name, bad mappings and unknown snapshots', async t => {
  fails(t, ['register-image', '--name', 'ab', '--block-device-mappings', rootMapping(snap)], 'InvalidAMIName.Malformed')
  fails(t, ['register-image', '--name', 'bad*name', '--block-device-mappings', rootMapping(snap)], 'InvalidAMIName.Malformed')
  fails(t, ['register-image', '--name', 'x'.repeat(129), '--block-device-mappings', rootMapping(snap)], 'InvalidAMIName.Malformed')
  fails(t, ['register-image', '--name', 'first-image', '--block-device-mappings', rootMapping(snap)], 'InvalidAMIName.Duplicate', /already in use by AMI ami-/)
  fails(t, ['register-image', '--name', 'no-mappings'], 'MissingParameter')
  fails(t, ['register-image', '--name', 'root-elsewhere', '--root-device-name', '/dev/sda1', '--block-device-mappings', rootMapping(snap)], 'InvalidBlockDeviceMapping')
  fails(t, ['register-image', '--name', 'two-roots', '--block-device-mappings', rootMapping(snap), rootMapping(snap)], 'InvalidBlockDeviceMapping')
  fails(t, ['register-image', '--name', 'too-small', '--block-device-mappings', `DeviceName=/dev/xvda,Ebs={SnapshotId=${snap},VolumeSize=0}`], 'InvalidBlockDeviceMapping')
  fails(t, ['register-image', '--name', 'ghost', '--block-device-mappings', rootMapping('snap-0123456789abcdef0')], 'InvalidSnapshot.NotFound')
  fails(t, ['register-image', '--name', 'malformed', '--block-device-mappings', rootMapping('snap-xyz')], 'InvalidSnapshotID.Malformed')
  fails(t, ['register-image', '--name', 'arch', '--architecture', 'sparc', '--block-device-mappings', rootMapping(snap)], 'InvalidParameterValue')
  fails(t, ['register-image', '--name', 'paravirtual-image', '--virtualization-type', 'paravirtual', '--block-device-mappings', rootMapping(snap)], 'InvalidParameterValue')
  t.equal(describe(['--owners', 'self', '--filters', 'Name=name,Values=ghost,two-roots,arch']).length, 0, 'nothing was registered')
})

t.test('register-image from a snapshot still pending → the image is available once the snapshot completes', async t => {
  const fresh = ok(t, ['create-snapshot', '--volume-id', volume]).SnapshotId
  const id = register(t, 'from-pending', fresh)
  t.match(image(id).State, /^(pending|available)$/)
  await waitFor(() => image(id)?.State === 'available', `${id} available`)
  t.equal(ec2(['describe-snapshots', '--snapshot-ids', fresh]).json.Snapshots[0].State, 'completed')
  ok(t, ['deregister-image', '--image-id', id])
  ok(t, ['delete-snapshot', '--snapshot-id', fresh])
})

t.test('register-image keeps extra mappings: an empty volume and a suppressed device', async t => {
  const id = register(t, 'with-data-disk', snap, ['--block-device-mappings', rootMapping(snap),
    'DeviceName=/dev/sdf,Ebs={VolumeSize=5,VolumeType=gp3,DeleteOnTermination=false}', 'DeviceName=/dev/sdg,NoDevice=""'])
  const i = image(id)
  t.equal(i.BlockDeviceMappings.length, 3)
  t.match(i.BlockDeviceMappings[1], { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 5, VolumeType: 'gp3', DeleteOnTermination: false } })
  t.notOk(i.BlockDeviceMappings[1].Ebs.SnapshotId)
  t.match(i.BlockDeviceMappings[2], { DeviceName: '/dev/sdg', NoDevice: '' })
})

t.test('describe-images: ids, owners and their errors', async t => {
  const mine = describe(['--owners', 'self']).map(i => i.ImageId)
  t.ok(mine.length >= 2)
  t.same(describe(['--owners', node.accountId]).map(i => i.ImageId), mine, 'an account id is self')
  t.same(describe(['--owners', 'amazon']), [], 'no AWS-owned images in Hive')
  t.same(describe(['--owners', '111122223333']), [], 'another account owns nothing visible')
  t.same(describe([]).map(i => i.ImageId), mine, 'no owners: every visible image')
  fails(t, ['describe-images', '--owners', 'nobody'], 'InvalidUserID.Malformed')
  fails(t, ['describe-images', '--image-ids', 'ami-0123456789abcdef0'], 'InvalidAMIID.NotFound', /\[ami-0123456789abcdef0\]/)
  fails(t, ['describe-images', '--image-ids', 'ami-xyz'], 'InvalidAMIID.Malformed')
  fails(t, ['describe-images', '--image-ids', 'vol-0123456789abcdef0'], 'InvalidAMIID.Malformed')
  t.same(describe(['--executable-users', 'all']), [], 'nothing is public yet')
  t.same(describe(['--executable-users', 'self']).map(i => i.ImageId), mine, 'self may run its own images')
  t.same(describe(['--include-deprecated']).map(i => i.ImageId), mine)
})

t.test('describe-images filters', async t => {
  const first = describe(['--filters', 'Name=name,Values=first-image'])[0].ImageId
  const ids = (filters: string[]): string[] => describe(['--filters', ...filters]).map(i => i.ImageId)
  t.same(ids(['Name=name,Values=first-*']), [first], 'name with a wildcard')
  t.same(ids([`Name=image-id,Values=${first}`]), [first])
  t.same(ids(['Name=description,Values=the first']), [first])
  t.equal(ids(['Name=state,Values=available']).length, describe([]).length)
  t.same(ids(['Name=state,Values=pending']), [])
  t.equal(ids(['Name=architecture,Values=x86_64']).length, describe([]).length)
  t.same(ids(['Name=architecture,Values=arm64']), [])
  t.equal(ids([`Name=block-device-mapping.snapshot-id,Values=${snap}`]).length, 2)
  t.equal(ids(['Name=block-device-mapping.volume-size,Values=5']).length, 1)
  t.equal(ids(['Name=block-device-mapping.device-name,Values=/dev/sdf']).length, 1)
  t.equal(ids(['Name=root-device-name,Values=/dev/xvda']).length, 2)
  t.equal(ids(['Name=root-device-type,Values=ebs']).length, 2)
  t.same(ids(['Name=root-device-type,Values=instance-store']), [])
  t.equal(ids(['Name=is-public,Values=false']).length, 2)
  t.equal(ids(['Name=image-type,Values=machine']).length, 2)
  t.equal(ids(['Name=virtualization-type,Values=hvm']).length, 2)
  t.equal(ids([`Name=owner-id,Values=${node.accountId}`]).length, 2)
  t.same(ids(['Name=name,Values=first-image', 'Name=state,Values=pending']), [], 'filters AND together')
  ok(t, ['create-tags', '--resources', first, '--tags', 'Key=role,Value=base', 'Key=team,Value=core'])
  t.same(ids(['Name=tag:role,Values=base']), [first])
  t.same(ids(['Name=tag-key,Values=team']), [first])
  t.same(ids(['Name=tag:role,Values=other']), [])
  t.same(image(first).Tags.sort((a: any, b: any) => a.Key.localeCompare(b.Key)), [{ Key: 'role', Value: 'base' }, { Key: 'team', Value: 'core' }])
  fails(t, ['describe-images', '--filters', 'Name=no-such-filter,Values=x'], 'InvalidParameterValue')
})

t.test('describe-images pages with MaxResults and NextToken', async t => {
  for (const n of [1, 2, 3]) register(t, `paged-${n}`, snap)
  const all = describe(['--filters', 'Name=name,Values=paged-*']).map(i => i.ImageId)
  t.equal(all.length, 3)
  const first = ec2(['describe-images', '--filters', 'Name=name,Values=paged-*', '--max-results', '2', '--no-paginate']).json
  t.equal(first.Images.length, 2)
  t.ok(first.NextToken, 'a token for the rest')
  const second = ec2(['describe-images', '--filters', 'Name=name,Values=paged-*', '--max-results', '2', '--next-token', first.NextToken, '--no-paginate']).json
  t.equal(second.Images.length, 1)
  t.notOk(second.NextToken)
  t.same([...first.Images, ...second.Images].map((i: any) => i.ImageId).sort(), [...all].sort())
  fails(t, ['describe-images', '--next-token', 'garbage!', '--max-results', '5', '--no-paginate'], 'InvalidPaginationToken')
})

t.test('image attributes: describe, modify and reset', async t => {
  const id = describe(['--filters', 'Name=name,Values=first-image'])[0].ImageId
  const attr = (name: string): any => ok(t, ['describe-image-attribute', '--image-id', id, '--attribute', name])
  t.same(attr('description').Description, { Value: 'the first' })
  t.same(attr('launchPermission').LaunchPermissions, [])
  t.same(attr('bootMode').BootMode, { Value: 'uefi' })
  t.same(attr('kernel').KernelId, {})
  t.same(attr('productCodes').ProductCodes, [])
  t.equal(attr('blockDeviceMapping').BlockDeviceMappings[0].Ebs.SnapshotId, snap)
  fails(t, ['describe-image-attribute', '--image-id', id, '--attribute', 'colour'], 'InvalidParameterValue')
  fails(t, ['describe-image-attribute', '--image-id', 'ami-0123456789abcdef0', '--attribute', 'description'], 'InvalidAMIID.NotFound')

  ok(t, ['modify-image-attribute', '--image-id', id, '--description', 'Value=changed'])
  t.same(attr('description').Description, { Value: 'changed' })
  t.equal(image(id).Description, 'changed')

  ok(t, ['modify-image-attribute', '--image-id', id, '--launch-permission', 'Add=[{UserId=111122223333},{UserId=444455556666}]'])
  t.same(attr('launchPermission').LaunchPermissions, [{ UserId: '111122223333' }, { UserId: '444455556666' }])
  ok(t, ['modify-image-attribute', '--image-id', id, '--attribute', 'launchPermission', '--operation-type', 'remove', '--user-ids', '444455556666'])
  t.same(attr('launchPermission').LaunchPermissions, [{ UserId: '111122223333' }])
  ok(t, ['modify-image-attribute', '--image-id', id, '--launch-permission', 'Add=[{Group=all}]'])
  t.same(attr('launchPermission').LaunchPermissions, [{ Group: 'all' }, { UserId: '111122223333' }])
  t.equal(image(id).Public, true)
  t.same(describe(['--filters', 'Name=is-public,Values=true']).map(i => i.ImageId), [id])
  t.same(describe(['--executable-users', 'all']).map(i => i.ImageId), [id])
  t.same(describe(['--executable-users', '111122223333']).map(i => i.ImageId), [id], 'shared with that account')

  ok(t, ['reset-image-attribute', '--image-id', id, '--attribute', 'launchPermission'])
  t.same(attr('launchPermission').LaunchPermissions, [], 'reset: private again')
  t.equal(image(id).Public, false)

  ok(t, ['modify-image-attribute', '--image-id', id, '--attribute', 'imdsSupport', '--value', 'v2.0'])
  t.same(attr('imdsSupport').ImdsSupport, { Value: 'v2.0' })
  t.equal(image(id).ImdsSupport, 'v2.0')

  fails(t, ['modify-image-attribute', '--image-id', id, '--launch-permission', 'Add=[{UserId=12345}]'], 'InvalidAMIAttributeItemValue')
  fails(t, ['modify-image-attribute', '--image-id', id, '--attribute', 'launchPermission', '--operation-type', 'add', '--user-groups', 'everyone'], 'InvalidAMIAttributeItemValue')
  fails(t, ['modify-image-attribute', '--image-id', id, '--attribute', 'bootMode', '--value', 'legacy-bios'], 'InvalidParameterValue')
  fails(t, ['modify-image-attribute', '--image-id', id], 'InvalidParameterCombination')
  fails(t, ['modify-image-attribute', '--image-id', 'ami-0123456789abcdef0', '--description', 'Value=x'], 'InvalidAMIID.NotFound')
  fails(t, ['reset-image-attribute', '--image-id', 'ami-0123456789abcdef0', '--attribute', 'launchPermission'], 'InvalidAMIID.NotFound')
  fails(t, ['reset-image-attribute', '--image-id', 'ami-xyz', '--attribute', 'launchPermission'], 'InvalidAMIID.Malformed')
})

t.test('copy-image: a new image on copies of the snapshots, pending until they complete', async t => {
  const source = describe(['--filters', 'Name=name,Values=first-image'])[0]
  const id = ok(t, ['copy-image', '--source-image-id', source.ImageId, '--source-region', node.region, '--name', 'first-copy', '--copy-image-tags']).ImageId
  t.not(id, source.ImageId)
  await waitFor(() => image(id)?.State === 'available', `${id} available`)
  const copy = image(id)
  t.match(copy, { Name: 'first-copy', Description: 'changed', Architecture: 'x86_64', RootDeviceName: '/dev/xvda', BootMode: 'uefi', Public: false })
  const copied = copy.BlockDeviceMappings[0].Ebs.SnapshotId
  t.not(copied, snap, 'the copy has its own snapshot')
  t.equal(ec2(['describe-snapshots', '--snapshot-ids', copied]).json.Snapshots[0].State, 'completed')
  t.same(copy.Tags.map((x: any) => x.Key).sort(), ['role', 'team'], 'CopyImageTags copies the tags')
  t.same(describe(['--filters', `Name=source-image-id,Values=${source.ImageId}`]).map(i => i.ImageId), [id])

  const token = ['copy-image', '--source-image-id', source.ImageId, '--source-region', node.region, '--name', 'token-copy', '--client-token', 'tok-1']
  const once = ok(t, token).ImageId
  t.equal(ok(t, token).ImageId, once, 'the same ClientToken answers the same image')
  fails(t, ['copy-image', '--source-image-id', source.ImageId, '--source-region', node.region, '--name', 'other-name', '--client-token', 'tok-1'], 'IdempotentParameterMismatch')

  fails(t, ['copy-image', '--source-image-id', source.ImageId, '--source-region', node.region, '--name', 'first-copy'], 'InvalidAMIName.Duplicate')
  fails(t, ['copy-image', '--source-image-id', 'ami-0123456789abcdef0', '--source-region', node.region, '--name', 'nothing'], 'InvalidAMIID.NotFound')
  fails(t, ['copy-image', '--source-image-id', source.ImageId, '--source-region', 'mars-north-1', '--name', 'far-away'], 'InvalidParameterValue')
  fails(t, ['copy-image', '--source-image-id', source.ImageId, '--source-region', node.region, '--name', '!!'], 'InvalidAMIName.Malformed')
})

t.test('deregister-image: gone from describes, snapshots kept, name free again', async t => {
  const id = describe(['--filters', 'Name=name,Values=first-copy'])[0].ImageId
  const copied = image(id).BlockDeviceMappings[0].Ebs.SnapshotId
  fails(t, ['delete-snapshot', '--snapshot-id', copied], 'InvalidSnapshot.InUse', new RegExp(id))
  ok(t, ['deregister-image', '--image-id', id])
  t.same(describe(['--image-ids', id]), [], 'not described by id')
  t.notOk(describe([]).some(i => i.ImageId === id), 'not listed')
  t.equal(ec2(['describe-snapshots', '--snapshot-ids', copied]).json.Snapshots[0].State, 'completed', 'its snapshot is kept')
  fails(t, ['deregister-image', '--image-id', id], 'InvalidAMIID.Unavailable')
  fails(t, ['deregister-image', '--image-id', 'ami-0123456789abcdef0'], 'InvalidAMIID.NotFound')
  fails(t, ['deregister-image', '--image-id', 'ami-nope'], 'InvalidAMIID.Malformed')
  fails(t, ['modify-image-attribute', '--image-id', id, '--description', 'Value=x'], 'InvalidAMIID.Unavailable')
  t.same(ec2(['describe-tags', '--filters', `Name=resource-id,Values=${id}`]).json?.Tags ?? [], [], 'its tags went with it')
  const again = register(t, 'first-copy', copied)
  t.not(again, id, 'the name can be used again')
  ok(t, ['deregister-image', '--image-id', again])
  ok(t, ['delete-snapshot', '--snapshot-id', copied])
})
