import { AttachVolumeCommand, CreateVolumeCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2'
import { connect } from 'nats'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { Bus, type NodeMessage } from '../../core/bus.js'
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

const newVolume = async (extra: Record<string, unknown> = {}): Promise<string> =>
  (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: az, Size: 4, ...extra }))).VolumeId as string
const volume = async (t: Test, id: string): Promise<any> => (await ok(t, ['describe-volumes', '--volume-ids', id])).Volumes[0]

const RUNNING = 'i-0123456789abcdef0'
const STOPPED = 'i-0fedcba9876543210'
const FULL = 'i-00000000000000001'
const GHOST = 'i-0aaaaaaaaaaaaaaaa'

t.test('attach-volume - with no ec2 instances in the cluster → InvalidInstanceID.NotFound, and the volume stays available', async t => {
  const id = await newVolume()
  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdf'], 'InvalidInstanceID.NotFound', new RegExp(RUNNING))
  t.match(await volume(t, id), { State: 'available', Attachments: [] })
})

/**
 * A stand-in for the ec2 capability's side of attach and detach, until plugins/ec2 serves these
 * calls itself: a running instance (whose /dev/sda1 is its root volume), a stopped one, and one
 * with every device slot taken. `hold` makes the next attach wait until released.
 */
const devices = new Map<string, Map<string, string>>([[RUNNING, new Map()], [STOPPED, new Map()], [FULL, new Map()]])
const calls: Array<Record<string, string>> = []
let hold: { reached: () => void, release: Promise<void> } | undefined
const error = (code: string, message: string): NodeMessage => ({ data: new Uint8Array(0), headers: { code, message } })
const standIn = new Bus(nc, { nodeId: 'ec2-stand-in', log: pino({ level: 'silent' }), capabilityOf: async () => 'ec2', serversOf: async () => 1 })
t.teardown(async () => { await standIn.close() })

t.test('the ec2 stand-in serves the attach calls', async () => {
  standIn.serveInternal('ec2.volume.attach', async ({ headers = {} }) => {
    calls.push(headers)
    if (hold !== undefined) {
      const h = hold
      hold = undefined
      h.reached()
      await h.release
    }
    const used = devices.get(headers.instanceId)
    if (used === undefined) return error('InvalidInstanceID.NotFound', `The instance ID '${headers.instanceId}' does not exist`)
    if (headers.instanceId === STOPPED) return error('IncorrectInstanceState', `The instance '${headers.instanceId}' is not 'running'.`)
    if (headers.instanceId === FULL) return error('AttachmentLimitExceeded', 'No device slot is free.')
    const free = 'fghijklmnop'.split('').map(c => `/dev/sd${c}`).find(d => !used.has(d))
    const device = headers.device === '' ? free as string : headers.device
    if (used.has(device)) return error('InvalidParameterValue', `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`)
    used.set(device, headers.volumeId)
    return { data: new Uint8Array(0), headers: { device } }
  })
  standIn.serveInternal('ec2.volume.detach', async ({ headers = {} }) => {
    const used = devices.get(headers.instanceId)
    if (used === undefined) return error('InvalidInstanceID.NotFound', `The instance ID '${headers.instanceId}' does not exist`)
    const device = [...used].find(([, v]) => v === headers.volumeId)?.[0]
    if (device === '/dev/sda1') return error('OperationNotPermitted', `The volume '${headers.volumeId}' can't be detached from '${headers.instanceId}' because it is the root device volume.`)
    if (device !== undefined) used.delete(device)
    return { data: new Uint8Array(0) }
  })
  await nc.flush()
})

t.test('attach-volume - attaches: answers attaching, then the volume is in-use and attached', async t => {
  const id = await newVolume()
  const a = await ok(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdg'])
  t.match(a, { VolumeId: id, InstanceId: RUNNING, Device: '/dev/sdg', State: 'attaching', DeleteOnTermination: false })
  t.match(calls.at(-1), { instanceId: RUNNING, volumeId: id, device: '/dev/sdg', availabilityZone: az }, 'ec2 is told the volume, device, zone')
  t.ok(calls.at(-1)?.node, 'and the node holding its blocks')
  const v = await volume(t, id)
  t.match(v, { State: 'in-use', Attachments: [{ InstanceId: RUNNING, Device: '/dev/sdg', State: 'attached', VolumeId: id }] })
  const filtered = (await ok(t, ['describe-volumes', '--filters', `Name=attachment.instance-id,Values=${RUNNING}`, 'Name=attachment.device,Values=/dev/sdg',
    'Name=attachment.status,Values=attached', 'Name=attachment.delete-on-termination,Values=false', 'Name=status,Values=in-use'])).Volumes
  t.same(filtered.map((x: any) => x.VolumeId), [id])

  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdh'], 'VolumeInUse', /already attached/)
  await fails(t, ['delete-volume', '--volume-id', id], 'VolumeInUse')
  await fails(t, ['modify-volume-attribute', '--volume-id', 'vol-0123456789abcdef0', '--auto-enable-io'], 'InvalidVolume.NotFound')

  const d = await ok(t, ['detach-volume', '--volume-id', id, '--instance-id', RUNNING])
  t.match(d, { VolumeId: id, InstanceId: RUNNING, Device: '/dev/sdg', State: 'detaching' })
  t.match(await volume(t, id), { State: 'available', Attachments: [] })
  await fails(t, ['detach-volume', '--volume-id', id], 'IncorrectState', /'available'/)

  t.match(await ok(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdg']), { State: 'attaching' }, 'a detached volume attaches again')
  t.match(await ok(t, ['detach-volume', '--volume-id', id]), { InstanceId: RUNNING }, 'detach finds the instance when none is named')
})

t.test('attach-volume - an empty device lets ec2 pick one', async t => {
  const id = await newVolume()
  const a = await ec2.send(new AttachVolumeCommand({ VolumeId: id, InstanceId: RUNNING, Device: '' }))
  t.match(a.Device, /^\/dev\/sd[f-p]$/)
  const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes?.[0]
  t.equal(v?.Attachments?.[0].Device, a.Device, 'the record keeps the device ec2 chose')
  t.ok(v?.Attachments?.[0].AttachTime instanceof Date)
})

t.test('attach-volume - ec2\'s refusals come back with their codes, and the volume is given back', async t => {
  const id = await newVolume()
  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', GHOST, '--device', '/dev/sdf'], 'InvalidInstanceID.NotFound')
  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', STOPPED, '--device', '/dev/sdf'], 'IncorrectInstanceState')
  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', FULL, '--device', '/dev/sdf'], 'AttachmentLimitExceeded')
  const taken = [...(devices.get(RUNNING) as Map<string, string>).keys()][0]
  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', taken], 'InvalidParameterValue', /already in use/)
  t.match(await volume(t, id), { State: 'available', Attachments: [] })
  await fails(t, ['attach-volume', '--volume-id', 'vol-0123456789abcdef0', '--instance-id', RUNNING, '--device', '/dev/sdf'], 'InvalidVolume.NotFound')
  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', 'instance-1', '--device', '/dev/sdf'], 'InvalidInstanceID.Malformed')
})

t.test('detach-volume - errors: device mismatch, another instance, unknown volume; the root device is ec2\'s to refuse', async t => {
  const id = await newVolume()
  await ok(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdo'])
  await fails(t, ['detach-volume', '--volume-id', id, '--device', '/dev/sdp'], 'InvalidParameterValue', /not attached as device/)
  await fails(t, ['detach-volume', '--volume-id', id, '--instance-id', STOPPED], 'InvalidAttachment.NotFound')
  await fails(t, ['detach-volume', '--volume-id', 'vol-0123456789abcdef0'], 'InvalidVolume.NotFound')
  t.match(await ok(t, ['detach-volume', '--volume-id', id, '--device', '/dev/sdo']), { State: 'detaching' }, 'the right device detaches')

  const root = await newVolume()
  await ok(t, ['attach-volume', '--volume-id', root, '--instance-id', RUNNING, '--device', '/dev/sda1'])
  await fails(t, ['detach-volume', '--volume-id', root], 'OperationNotPermitted', /root device/)
  t.match(await volume(t, root), { State: 'in-use', Attachments: [{ State: 'attached' }] }, 'a refused detach leaves it attached')
})

t.test('detach-volume --force - completes from an instance that no longer exists', async t => {
  const id = await newVolume()
  await ok(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdn'])
  devices.delete(RUNNING)
  t.teardown(() => { devices.set(RUNNING, new Map()) })
  await fails(t, ['detach-volume', '--volume-id', id], 'InvalidInstanceID.NotFound')
  t.match(await volume(t, id), { State: 'in-use' })
  await ok(t, ['detach-volume', '--volume-id', id, '--force'])
  t.match(await volume(t, id), { State: 'available', Attachments: [] })
})

t.test('attach-volume - two attaches of one volume at once: exactly one wins', async t => {
  const id = await newVolume()
  let reached = (): void => {}
  const atEc2 = new Promise<void>(resolve => { reached = resolve })
  let release = (): void => {}
  hold = { reached, release: new Promise<void>(resolve => { release = resolve }) }
  const first = ec2.send(new AttachVolumeCommand({ VolumeId: id, InstanceId: RUNNING, Device: '/dev/sdj' }))
  await atEc2
  await t.rejects(ec2.send(new AttachVolumeCommand({ VolumeId: id, InstanceId: RUNNING, Device: '/dev/sdk' })), { name: 'VolumeInUse' })
  release()
  t.match(await first, { State: 'attaching', Device: '/dev/sdj' })
  t.match((await volume(t, id)).Attachments, [{ Device: '/dev/sdj', State: 'attached' }])
})

t.test('Multi-Attach - an io2 volume attaches to two instances; detach must then name one', async t => {
  devices.set('i-0bbbbbbbbbbbbbbbb', new Map())
  const id = await newVolume({ VolumeType: 'io2', Iops: 100, MultiAttachEnabled: true })
  await ok(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdl'])
  await ok(t, ['attach-volume', '--volume-id', id, '--instance-id', 'i-0bbbbbbbbbbbbbbbb', '--device', '/dev/sdl'])
  t.equal((await volume(t, id)).Attachments.length, 2)
  await fails(t, ['attach-volume', '--volume-id', id, '--instance-id', RUNNING, '--device', '/dev/sdm'], 'VolumeInUse')
  await fails(t, ['detach-volume', '--volume-id', id], 'MissingParameter', /instanceId/)
  await ok(t, ['detach-volume', '--volume-id', id, '--instance-id', RUNNING])
  t.match(await volume(t, id), { State: 'in-use', Attachments: [{ InstanceId: 'i-0bbbbbbbbbbbbbbbb' }] })
})
