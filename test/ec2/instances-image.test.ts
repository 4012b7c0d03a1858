import t from 'tap'
import { skipVmTests } from '../helpers/guest.js'
import { aws, startNode } from '../helpers/node.js'
import { errorCode, expectOk, importTestImage, until, waitForConsoleLine, waitForState } from './helpers.js'

// Guests boot under TCG, slower still on a loaded CI machine: more than the suite's 300 s per file.
t.setTimeout(900_000)

t.test('create-image from a running instance (rebooted), then launch the new AMI: it has the instance\'s disks', { skip: skipVmTests }, async t => {
  const node = await startNode({ caps: ['ec2', 'ebs', 's3'] })
  t.teardown(async () => { await node.stop() })
  const ec2 = (...args: string[]): ReturnType<typeof aws> => aws(node, ['ec2', ...args])
  const imageId = await importTestImage(node)
  const id = expectOk(ec2('run-instances', '--image-id', imageId, '--instance-type', 't3.micro')).json.Instances[0].InstanceId as string
  const running = await waitForState(node, id, 'running')
  await waitForConsoleLine(node, id, /^HIVE-GUEST-READY/)

  // A blank data volume the guest marks: the image must carry it.
  const data = expectOk(ec2('create-volume', '--size', '1', '--availability-zone', running.Placement.AvailabilityZone)).json.VolumeId as string
  await until('the data volume', () => ec2('describe-volumes', '--volume-ids', data).json.Volumes[0].State === 'available' ? true : undefined)
  expectOk(ec2('attach-volume', '--volume-id', data, '--instance-id', id, '--device', '/dev/sdf'))
  await waitForConsoleLine(node, id, /^HIVE-DISK-WROTE vdb/)

  t.equal(errorCode(ec2('create-image', '--instance-id', 'i-0123456789abcdef0', '--name', 'x')), 'InvalidInstanceID.NotFound')
  const created = expectOk(ec2('create-image', '--instance-id', id, '--name', 'from-running', '--description', 'made by the test',
    '--tag-specifications', 'ResourceType=image,Tags=[{Key=made,Value=test}]')).json.ImageId as string
  t.equal(errorCode(ec2('create-image', '--instance-id', id, '--name', 'from-running', '--no-reboot')), 'InvalidAMIName.Duplicate')
  await waitForConsoleLine(node, id, /^HIVE-GUEST-READY/, 2)
  t.pass('without --no-reboot the instance was rebooted')
  const image = await until('the image', () => {
    const i = ec2('describe-images', '--image-ids', created).json.Images[0]
    return i.State === 'available' ? i : undefined
  })
  t.equal(image.Name, 'from-running')
  t.equal(image.Description, 'made by the test')
  t.same(image.Tags, [{ Key: 'made', Value: 'test' }])
  t.equal(image.RootDeviceName, running.RootDeviceName)
  t.same(image.BlockDeviceMappings.map((m: any) => m.DeviceName).sort(), [running.RootDeviceName, '/dev/sdf'].sort())
  t.equal(image.BlockDeviceMappings.find((m: any) => m.DeviceName === '/dev/sdf').Ebs.DeleteOnTermination, false)

  const copy = expectOk(ec2('run-instances', '--image-id', created, '--instance-type', 't3.micro')).json.Instances[0].InstanceId as string
  const launched = await waitForState(node, copy, 'running')
  t.equal(launched.BlockDeviceMappings.length, 2, 'launched with the image\'s two volumes')
  await waitForConsoleLine(node, copy, /^HIVE-GUEST-READY/)
  t.ok(await waitForConsoleLine(node, copy, /^HIVE-DISK-FOUND vdb HIVE-WROTE vdb/), 'the data volume holds what the first guest wrote')

  expectOk(ec2('terminate-instances', '--instance-ids', id, copy))
  const gone = await waitForState(node, copy, 'terminated')
  t.same(gone.BlockDeviceMappings, [])
  await waitForState(node, id, 'terminated')
  const leftover = launched.BlockDeviceMappings.find((b: any) => b.DeviceName === '/dev/sdf').Ebs.VolumeId as string
  t.equal(ec2('describe-volumes', '--volume-ids', leftover).json.Volumes[0].State, 'available', 'the mapping said keep it')
  expectOk(ec2('deregister-image', '--image-id', created))
  t.same(ec2('describe-images', '--image-ids', created).json.Images, [])
})
