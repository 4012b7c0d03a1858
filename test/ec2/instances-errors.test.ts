import t from 'tap'
import { skipVmTests } from '../helpers/guest.js'
import { aws, startNode } from '../helpers/node.js'
import { errorCode, expectOk, importTestImage, waitForConsoleLine, waitForState } from './helpers.js'

// Guests boot under TCG, slower still on a loaded CI machine: more than the suite's 300 s per file.
t.setTimeout(900_000)

// The instance actions' error cases from the matrix (and AWS), through the aws CLI. One guest is
// launched: for ClientToken idempotency and a metadata service that is switched off.
t.test('instance actions refuse what EC2 refuses', { skip: skipVmTests }, async t => {
  const node = await startNode({ caps: ['ec2', 'ebs', 's3'] })
  t.teardown(async () => { await node.stop() })
  const imageId = await importTestImage(node)
  const ec2 = (...args: string[]): ReturnType<typeof aws> => aws(node, ['ec2', ...args])
  const run = (...args: string[]): ReturnType<typeof aws> => ec2('run-instances', '--image-id', imageId, '--instance-type', 't3.micro', ...args)

  t.test('RunInstances', async t => {
    t.equal(errorCode(ec2('run-instances', '--image-id', 'ami-nope', '--instance-type', 't3.micro')), 'InvalidAMIID.Malformed')
    t.equal(errorCode(ec2('run-instances', '--image-id', 'ami-0123456789abcdef0', '--instance-type', 't3.micro')), 'InvalidAMIID.NotFound')
    t.equal(errorCode(run('--instance-type', 't9.huge')), 'InvalidParameterValue', 'an instance type EC2 does not have')
    t.equal(errorCode(run('--instance-type', 't4g.micro')), 'InvalidParameterValue', 'an arm64 type for an x86_64 image')
    t.equal(errorCode(run('--key-name', 'no-such-key')), 'InvalidKeyPair.NotFound')
    t.equal(errorCode(run('--count', '3:2')), 'InvalidParameterValue', 'MinCount above MaxCount')
    t.equal(errorCode(run('--count', '1000')), 'InsufficientInstanceCapacity', 'beyond the node\'s allocation ratios')
    t.equal(errorCode(run('--placement', 'AvailabilityZone=nowhere-1z')), 'InvalidParameterValue')
    t.equal(errorCode(run('--user-data', 'x'.repeat(17 * 1024))), 'InvalidParameterValue', 'user data over 16 KB')
    t.equal(errorCode(run('--block-device-mappings', 'DeviceName=/dev/sda1,Ebs={VolumeSize=1,VolumeType=gp3}', 'DeviceName=bad,Ebs={VolumeSize=1}')),
      'InvalidBlockDeviceMapping', 'a device name EC2 does not take')
    t.equal(errorCode(run('--metadata-options', 'HttpTokens=sometimes')), 'InvalidParameterValue')
    t.equal(errorCode(run('--dry-run')), 'DryRunOperation')
    t.equal(expectOk(ec2('describe-instances')).json.Reservations.length, 0, 'nothing was launched by the refused calls')
  })

  t.test('unknown and malformed instance ids', async t => {
    t.equal(errorCode(ec2('describe-instances', '--instance-ids', 'i-nope')), 'InvalidInstanceID.Malformed')
    for (const action of ['describe-instances', 'start-instances', 'stop-instances', 'reboot-instances', 'terminate-instances']) {
      t.equal(errorCode(ec2(action, '--instance-ids', 'i-0123456789abcdef0')), 'InvalidInstanceID.NotFound', action)
    }
    t.equal(errorCode(ec2('get-console-output', '--instance-id', 'i-0123456789abcdef0')), 'InvalidInstanceID.NotFound')
    t.equal(errorCode(ec2('describe-instance-attribute', '--instance-id', 'i-0123456789abcdef0', '--attribute', 'instanceType')), 'InvalidInstanceID.NotFound')
    t.equal(errorCode(ec2('describe-instances', '--instance-ids', 'i-0123456789abcdef0', '--max-results', '5')), 'InvalidParameterCombination')
  })

  t.test('ClientToken: the same request answers the same reservation; other arguments are refused', async t => {
    const first = expectOk(run('--client-token', 'once', '--metadata-options', 'HttpEndpoint=disabled')).json
    const again = expectOk(run('--client-token', 'once', '--metadata-options', 'HttpEndpoint=disabled')).json
    t.equal(again.ReservationId, first.ReservationId)
    t.same(again.Instances.map((i: any) => i.InstanceId), first.Instances.map((i: any) => i.InstanceId))
    t.equal(errorCode(run('--client-token', 'once', '--instance-type', 't3.small')), 'IdempotentParameterMismatch')
    const id = first.Instances[0].InstanceId as string
    t.equal(expectOk(ec2('describe-instances', '--filters', 'Name=client-token,Values=once')).json.Reservations[0].Instances.length, 1)

    t.equal(errorCode(ec2('modify-instance-attribute', '--instance-id', id, '--attribute', 'instanceType', '--value', 't3.small', '--disable-api-termination')),
      'InvalidParameterCombination', 'one attribute per call')
    t.equal(errorCode(ec2('modify-instance-attribute', '--instance-id', id, '--instance-type', 'Value=t9.huge')), 'InvalidInstanceAttributeValue')

    await waitForState(node, id, 'running')
    t.equal(await waitForConsoleLine(node, id, /^HIVE-IMDS-(UNREACHABLE|INSTANCE-ID)/), 'HIVE-IMDS-UNREACHABLE', 'HttpEndpoint=disabled switches the metadata service off')
    const options = expectOk(ec2('modify-instance-metadata-options', '--instance-id', id, '--http-tokens', 'required', '--http-endpoint', 'enabled')).json.InstanceMetadataOptions
    t.same([options.HttpTokens, options.HttpEndpoint], ['required', 'enabled'])
    expectOk(ec2('reboot-instances', '--instance-ids', id))
    await waitForConsoleLine(node, id, /^HIVE-IMDS-INSTANCE-ID /, 1)
    t.match(await waitForConsoleLine(node, id, /^HIVE-IMDS-TOKEN /), /^HIVE-IMDS-TOKEN \S+/, 'with HttpTokens=required the guest still reads through a token')

    const monitored = expectOk(ec2('monitor-instances', '--instance-ids', id)).json.InstanceMonitorings[0]
    t.equal(monitored.Monitoring.State, 'pending')
    t.equal(expectOk(ec2('describe-instances', '--instance-ids', id)).json.Reservations[0].Instances[0].Monitoring.State, 'enabled')
    expectOk(ec2('unmonitor-instances', '--instance-ids', id))

    expectOk(ec2('terminate-instances', '--instance-ids', id))
    await waitForState(node, id, 'terminated')
    t.equal(errorCode(ec2('stop-instances', '--instance-ids', id)), 'IncorrectInstanceState', 'a terminated instance cannot be stopped')
    t.equal(ec2('reboot-instances', '--instance-ids', id).status, 0, 'a reboot of a terminated instance is ignored, as EC2 does')
  })
})
