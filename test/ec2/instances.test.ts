import t from 'tap'
import { skipVmTests } from '../helpers/guest.js'
import { aws, startNode } from '../helpers/node.js'
import { errorCode, expectOk, importTestImage, instance, until, waitForConsoleLine, waitForState } from './helpers.js'

// Guests boot under TCG, slower still on a loaded CI machine: more than the suite's 300 s per file.
t.setTimeout(900_000)

// The life of one real guest through the aws CLI: launch with user data and a key, the metadata
// service from inside, hot attach and detach, reboot, stop and start with the same volumes,
// terminate. The guest (scripts/build-test-guest.sh) prints what it sees on its serial console.
t.test('an instance from launch to termination', { skip: skipVmTests }, async t => {
  const node = await startNode({ caps: ['ec2', 'ebs', 's3'] })
  t.teardown(async () => { await node.stop() })
  const imageId = await importTestImage(node)
  const key = expectOk(aws(node, ['ec2', 'create-key-pair', '--key-name', 'life', '--key-type', 'ed25519'])).json
  const publicKey = expectOk(aws(node, ['ec2', 'describe-key-pairs', '--key-names', 'life', '--include-public-key'])).json.KeyPairs[0].PublicKey as string

  const run = expectOk(aws(node, ['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't3.micro', '--key-name', 'life',
    '--user-data', 'HIVE-USER-DATA-MARKER 42', '--tag-specifications', 'ResourceType=instance,Tags=[{Key=Name,Value=life}]'])).json
  const id = run.Instances[0].InstanceId as string
  t.equal(run.Instances[0].State.Name, 'pending', 'RunInstances answers pending')
  t.equal(run.OwnerId, node.accountId)
  t.same(run.Instances[0].Tags, [{ Key: 'Name', Value: 'life' }])

  const running = await waitForState(node, id, 'running')
  t.equal(running.KeyName, 'life')
  t.equal(running.ImageId, imageId)
  t.equal(running.RootDeviceName, expectOk(aws(node, ['ec2', 'describe-images', '--image-ids', imageId])).json.Images[0].RootDeviceName)
  t.equal(running.BlockDeviceMappings.length, 1, 'the root volume is attached')
  t.equal(running.BlockDeviceMappings[0].Ebs.DeleteOnTermination, true)
  const rootVolume = running.BlockDeviceMappings[0].Ebs.VolumeId as string
  t.match(running.PrivateIpAddress, /^169\.254\.\d+\.\d+$/)
  t.equal(key.KeyName, 'life')

  t.test('the guest got its user data and key, and reads its instance id from IMDSv2', async t => {
    await waitForConsoleLine(node, id, /^HIVE-IMDS-INSTANCE-ID /)
    const out = expectOk(aws(node, ['ec2', 'get-console-output', '--instance-id', id])).json.Output as string
    t.match(out, /HIVE-GUEST-READY/)
    t.match(out, /HIVE-SEED-BEGIN user-data\r?\nHIVE-USER-DATA-MARKER 42/, 'the user data reached the guest')
    t.ok(out.includes(publicKey.split(' ').slice(0, 2).join(' ')), 'the key pair\'s public key reached the guest')
    t.match(out, /^HIVE-IMDS-TOKEN \S+/m, 'an IMDSv2 token')
    t.match(out, new RegExp(`^HIVE-IMDS-INSTANCE-ID ${id}\\r?$`, 'm'), 'its own instance id from 169.254.169.254')
  })

  t.test('describe with filters and status', async t => {
    const ids = (filters: string[]): string[] => expectOk(aws(node, ['ec2', 'describe-instances', '--filters', ...filters])).json.Reservations
      .flatMap((r: any) => r.Instances.map((i: any) => i.InstanceId))
    t.same(ids(['Name=instance-state-name,Values=running']), [id])
    t.same(ids(['Name=tag:Name,Values=life']), [id])
    t.same(ids(['Name=key-name,Values=life', `Name=image-id,Values=${imageId}`]), [id])
    t.same(ids(['Name=instance-type,Values=t3.small']), [])
    t.same(ids([`Name=block-device-mapping.volume-id,Values=${rootVolume}`]), [id])
    const status = expectOk(aws(node, ['ec2', 'describe-instance-status', '--instance-ids', id])).json.InstanceStatuses[0]
    t.equal(status.InstanceState.Name, 'running')
    t.equal(status.InstanceStatus.Status, 'ok')
    t.equal(expectOk(aws(node, ['ec2', 'start-instances', '--instance-ids', id])).json.StartingInstances[0].CurrentState.Name, 'running',
      'starting a running instance answers its state')
    t.equal(errorCode(aws(node, ['ec2', 'modify-instance-attribute', '--instance-id', id, '--instance-type', 'Value=t3.small'])), 'IncorrectInstanceState',
      'the instance type changes only while stopped')
  })

  const dataVolume = expectOk(aws(node, ['ec2', 'create-volume', '--size', '1', '--availability-zone', running.Placement.AvailabilityZone])).json.VolumeId as string
  await until('the data volume', () => aws(node, ['ec2', 'describe-volumes', '--volume-ids', dataVolume]).json.Volumes[0].State === 'available' ? true : undefined)

  t.test('attach: the guest sees the new disk and writes to it; detach', async t => {
    const attached = expectOk(aws(node, ['ec2', 'attach-volume', '--volume-id', dataVolume, '--instance-id', id, '--device', '/dev/sdf'])).json
    t.equal(attached.State, 'attaching', 'AttachVolume answers attaching, as EC2 does')
    t.equal(await waitForConsoleLine(node, id, /^HIVE-DISK-WROTE /), 'HIVE-DISK-WROTE vdb', 'the guest wrote to the hot-plugged disk')
    const v = aws(node, ['ec2', 'describe-volumes', '--volume-ids', dataVolume]).json.Volumes[0]
    t.equal(v.State, 'in-use')
    t.equal(v.Attachments[0].InstanceId, id)
    t.equal(instance(node, id).BlockDeviceMappings.length, 2)
    t.equal(errorCode(aws(node, ['ec2', 'detach-volume', '--volume-id', rootVolume])), 'OperationNotPermitted', 'the root volume stays while running')
    expectOk(aws(node, ['ec2', 'detach-volume', '--volume-id', dataVolume]))
    t.equal(aws(node, ['ec2', 'describe-volumes', '--volume-ids', dataVolume]).json.Volumes[0].State, 'available')
    t.equal(instance(node, id).BlockDeviceMappings.length, 1)
    await waitForConsoleLine(node, id, /^HIVE-DISKS vda( sr0)?\r?$/, 2)
    // Attached again for the stop/start below: it must come back with the instance.
    expectOk(aws(node, ['ec2', 'attach-volume', '--volume-id', dataVolume, '--instance-id', id, '--device', '/dev/sdg']))
    await waitForConsoleLine(node, id, /^HIVE-DISK-FOUND vdb HIVE-WROTE/)
  })

  t.test('reboot resets the guest and it stays running', async t => {
    expectOk(aws(node, ['ec2', 'reboot-instances', '--instance-ids', id]))
    await waitForConsoleLine(node, id, /^HIVE-GUEST-READY/, 2)
    t.equal(instance(node, id).State.Name, 'running')
  })

  t.test('stop, change the user data, start: running again with the same volumes', async t => {
    const stopping = expectOk(aws(node, ['ec2', 'stop-instances', '--instance-ids', id])).json.StoppingInstances[0]
    t.same([stopping.PreviousState.Name, stopping.CurrentState.Name], ['running', 'stopping'])
    t.equal(errorCode(aws(node, ['ec2', 'reboot-instances', '--instance-ids', id])), 'IncorrectInstanceState')
    const stopped = await waitForState(node, id, 'stopped')
    t.equal(stopped.StateReason.Code, 'Client.UserInitiatedShutdown')
    t.match(await waitForConsoleLine(node, id, /^HIVE-POWER-BUTTON/), /HIVE-POWER-BUTTON/, 'a clean ACPI shutdown')
    t.equal(expectOk(aws(node, ['ec2', 'stop-instances', '--instance-ids', id])).json.StoppingInstances[0].CurrentState.Name, 'stopped',
      'stopping a stopped instance answers its state')
    expectOk(aws(node, ['ec2', 'modify-instance-attribute', '--instance-id', id, '--user-data', `Value=${Buffer.from('HIVE-USER-DATA-MARKER second').toString('base64')}`]))
    t.equal(Buffer.from(expectOk(aws(node, ['ec2', 'describe-instance-attribute', '--instance-id', id, '--attribute', 'userData'])).json.UserData.Value, 'base64').toString(),
      'HIVE-USER-DATA-MARKER second')
    expectOk(aws(node, ['ec2', 'start-instances', '--instance-ids', id]))
    const again = await waitForState(node, id, 'running')
    t.same(again.BlockDeviceMappings.map((b: any) => b.Ebs.VolumeId).sort(), [rootVolume, dataVolume].sort())
    // The console log runs on across boots: launch, reboot, and now this start.
    await waitForConsoleLine(node, id, /^HIVE-GUEST-READY/, 3)
    await waitForConsoleLine(node, id, /^HIVE-USER-DATA-MARKER second/)
    t.ok(await waitForConsoleLine(node, id, /^HIVE-DISK-FOUND vdb HIVE-WROTE vdb/, 3), 'the data disk came back with what the guest wrote')
  })

  t.test('terminate: the root volume (DeleteOnTermination) is deleted, the data volume is available', async t => {
    expectOk(aws(node, ['ec2', 'modify-instance-attribute', '--instance-id', id, '--disable-api-termination']))
    t.equal(errorCode(aws(node, ['ec2', 'terminate-instances', '--instance-ids', id])), 'OperationNotPermitted')
    expectOk(aws(node, ['ec2', 'modify-instance-attribute', '--instance-id', id, '--no-disable-api-termination']))
    const term = expectOk(aws(node, ['ec2', 'terminate-instances', '--instance-ids', id])).json.TerminatingInstances[0]
    t.same([term.PreviousState.Name, term.CurrentState.Name], ['running', 'shutting-down'])
    const gone = await waitForState(node, id, 'terminated')
    t.same(gone.BlockDeviceMappings, [])
    t.equal(errorCode(aws(node, ['ec2', 'describe-volumes', '--volume-ids', rootVolume])), 'InvalidVolume.NotFound')
    t.equal(aws(node, ['ec2', 'describe-volumes', '--volume-ids', dataVolume]).json.Volumes[0].State, 'available')
    t.equal(errorCode(aws(node, ['ec2', 'start-instances', '--instance-ids', id])), 'IncorrectInstanceState')
    t.equal(expectOk(aws(node, ['ec2', 'terminate-instances', '--instance-ids', id])).json.TerminatingInstances[0].CurrentState.Name, 'terminated',
      'terminating again answers terminated')
  })
})
