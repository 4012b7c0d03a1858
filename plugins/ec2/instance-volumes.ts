/**
 * The ec2 side of attaching volumes: the internal calls the ebs capability makes while it runs
 * AttachVolume, DetachVolume, CreateSnapshots (their subjects and bodies are defined in
 * plugins/ebs/attachments.ts). ebs owns the volume's attachment state; this side owns the
 * instance's block device mapping and does the hot-plug on the instance's node.
 */
import { isAwsError, type AwsError, type Hive, type NodeMessage } from '../../core/index.js'
import { InstanceErrors, type InstanceRecord, type InstanceStore } from './instance-records.js'
import { checkAnswer } from './instance-runner.js'

const EMPTY = new Uint8Array(0)
/** The devices AttachVolume picks from when none is named, as the EC2 console suggests them. */
const PICKABLE = 'fghijklmnop'.split('').map(c => `/dev/sd${c}`)
const DEVICE = /^\/dev\/(sd[b-z]\d{0,2}|xvd[b-z]{1,2}\d{0,2}|hd[b-z]\d{0,2})$|^xvd[b-z]{1,2}$/
/** EC2's limit for most Nitro instance types: 28 attachments less the network interface. */
const MAX_VOLUMES = 27

const refuse = (e: AwsError): NodeMessage => ({ data: EMPTY, headers: { code: e.code, message: e.message } })

export function serveVolumeHooks (hive: Hive, store: InstanceStore): void {
  const instanceOf = async (h: Record<string, string>): Promise<InstanceRecord | undefined> => {
    const r = await store.get(h.instanceId ?? '')
    if (r === undefined || r.state === 'terminated' || r.ownerId !== h.accountId) return undefined
    return r
  }

  hive.bus.serveInternal('ec2.volume.attach', async ({ headers: h = {} }) => {
    const r = await instanceOf(h)
    const volumeId = h.volumeId ?? ''
    if (r === undefined) return refuse(InstanceErrors.notFound([h.instanceId ?? '']))
    if (h.availabilityZone !== r.availabilityZone) {
      return refuse(InstanceErrors.fromNode('InvalidVolume.ZoneMismatch', `The volume '${volumeId}' is not in the same availability zone as instance '${r.instanceId}'`))
    }
    // The volumes an instance launches with are attached by its own launch, while it is pending.
    const launching = r.blockDevices.find(b => b.volumeId === volumeId && b.attachTime === undefined)
    if (r.state === 'pending' && launching !== undefined) {
      return { data: EMPTY, headers: { device: launching.deviceName, deleteOnTermination: String(launching.deleteOnTermination) } }
    }
    if (r.state !== 'running' && r.state !== 'stopped') return refuse(InstanceErrors.incorrectState(`Instance '${r.instanceId}' is not 'running'.`))
    const requested = h.device ?? ''
    let device = requested
    try {
      const claimed = await store.modify(r.instanceId, cur => {
        if (cur.state !== 'running' && cur.state !== 'stopped') throw InstanceErrors.incorrectState(`Instance '${cur.instanceId}' is not 'running'.`)
        const used = new Set(cur.blockDevices.map(b => b.deviceName))
        if (cur.blockDevices.length >= MAX_VOLUMES) throw InstanceErrors.fromNode('AttachmentLimitExceeded', `Instance '${cur.instanceId}' already has the maximum number of volumes attached.`)
        // Chosen afresh on every attempt: a retried compare-and-set must see the other attach's device.
        device = requested
        if (device === '') {
          const free = PICKABLE.find(d => !used.has(d))
          if (free === undefined) throw InstanceErrors.fromNode('AttachmentLimitExceeded', `Instance '${cur.instanceId}' has no free device name in /dev/sdf-/dev/sdp.`)
          device = free
        } else if (!DEVICE.test(device)) {
          throw InstanceErrors.invalidValue(`Invalid value '${device}' for unixDevice. Attachment point ${device} is not valid.`)
        } else if (used.has(device)) {
          throw InstanceErrors.invalidValue(`Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`)
        }
        return { ...cur, blockDevices: [...cur.blockDevices, { deviceName: device, volumeId, deleteOnTermination: false }] }
      })
      const release = async (): Promise<void> => {
        await store.modify(r.instanceId, cur => ({ ...cur, blockDevices: cur.blockDevices.filter(b => b.volumeId !== volumeId) }))
      }
      const unplug = async (): Promise<void> => {
        await hive.bus.callNode(claimed.node, 'ec2.instance.disk.detach', { data: EMPTY, headers: { instanceId: r.instanceId, volumeId, force: 'true' } }, 40_000).catch(() => {})
      }
      if (claimed.state === 'running') {
        try {
          checkAnswer(await hive.bus.callNode(claimed.node, 'ec2.instance.disk.attach', { data: EMPTY, headers: { instanceId: r.instanceId, volumeId } }, 40_000))
        } catch (e) {
          // A timed-out hot-plug may still complete: unplug before the volume is handed back.
          if (!isAwsError(e)) await unplug()
          await release()
          throw e
        }
      }
      const at = new Date().toISOString()
      try {
        await store.modify(r.instanceId, cur => {
          // Stopped or terminated meanwhile (or claimed for another launch): the attach did not happen.
          if ((cur.state !== 'running' && cur.state !== 'stopped') || !cur.blockDevices.some(b => b.volumeId === volumeId)) {
            throw InstanceErrors.incorrectState(`Instance '${cur.instanceId}' is not 'running'.`)
          }
          return { ...cur, blockDevices: cur.blockDevices.map(b => b.volumeId === volumeId ? { ...b, attachTime: at } : b) }
        })
      } catch (e) {
        await unplug()
        await release()
        throw e
      }
      return { data: EMPTY, headers: { device, deleteOnTermination: 'false' } }
    } catch (e) {
      if (isAwsError(e)) return refuse(e)
      throw e
    }
  })

  hive.bus.serveInternal('ec2.volume.detach', async ({ headers: h = {} }) => {
    const r = await instanceOf(h)
    const volumeId = h.volumeId ?? ''
    if (r === undefined) return refuse(InstanceErrors.notFound([h.instanceId ?? '']))
    const b = r.blockDevices.find(x => x.volumeId === volumeId)
    if (b === undefined) return { data: EMPTY }
    const poweredOn = r.state === 'running' || r.state === 'pending' || r.state === 'stopping'
    if (b.deviceName === r.rootDeviceName && poweredOn) {
      return refuse(InstanceErrors.notPermitted(`The volume '${volumeId}' is the root device of instance '${r.instanceId}', which is not stopped; stop the instance before detaching it.`))
    }
    // Any state but stopped may have a QEMU holding the disk (a launch, a stop under way): the
    // instance's node unplugs it, or says there is no VM.
    if (r.state !== 'stopped') {
      try {
        checkAnswer(await hive.bus.callNode(r.node, 'ec2.instance.disk.detach', { data: EMPTY, headers: { instanceId: r.instanceId, volumeId, force: h.force ?? 'false' } }, 40_000))
      } catch (e) {
        if (isAwsError(e)) return refuse(e)
        throw e
      }
    }
    await store.modify(r.instanceId, cur => ({ ...cur, blockDevices: cur.blockDevices.filter(x => x.volumeId !== volumeId) }))
    return { data: EMPTY }
  })

  hive.bus.serveInternal('ec2.instance.volumes', async ({ headers: h = {} }) => {
    const r = await instanceOf(h)
    if (r === undefined) return refuse(InstanceErrors.notFound([h.instanceId ?? '']))
    const volumes = r.blockDevices.filter(b => b.volumeId !== undefined && b.attachTime !== undefined)
      .map(b => ({ volumeId: b.volumeId, device: b.deviceName, root: b.deviceName === r.rootDeviceName }))
    return { data: Buffer.from(JSON.stringify(volumes)) }
  })
}
