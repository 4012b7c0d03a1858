/**
 * AttachVolume and DetachVolume, and the calls through which ebs asks the ec2 capability about
 * instances. ebs owns a volume's attachment state; ec2 owns the instance and does the hot-plug.
 *
 * Internal bus calls ebs makes and ec2 serves (core/bus.ts serveInternal; subject
 * hive.int.<name>, queue group hive.act; empty bodies unless said; string headers). A failure
 * the client must see comes back as reply headers { code, message }: an EC2 error code and its
 * message, which ebs answers as that error (HTTP 400).
 *   ec2.volume.attach    { instanceId, volumeId, device, node, availabilityZone, accountId } → { device,
 *                        [deleteOnTermination] ('true' for the volumes an instance launches with
 *                        that its block device mapping says to delete; else false, as AWS's
 *                        AttachVolume) }. `device` is the one requested, empty to let ec2 pick (/dev/sdf … /dev/sdp);
 *                        `node` holds the volume's blocks; ec2 answers InvalidVolume.ZoneMismatch
 *                        when the instance is in another zone. Other codes: InvalidInstanceID.NotFound,
 *                        IncorrectInstanceState, AttachmentLimitExceeded, InvalidParameterValue (a
 *                        device in use or not valid).
 *   ec2.volume.detach    { instanceId, volumeId, force ('true'|'false'), accountId } → {}. ec2 refuses the root
 *                        device of a running instance (OperationNotPermitted). A forced detach from
 *                        an instance ec2 does not know (InvalidInstanceID.NotFound, or no ec2 node)
 *                        completes: the volume is available again.
 *   ec2.instance.volumes { instanceId, accountId } → body JSON [{ volumeId, device, root }]: for CreateSnapshots.
 *   ec2.snapshot.images  { snapshotId } → body JSON [imageId]: the registered AMIs that use the
 *                        snapshot, for DeleteSnapshot.
 * No node serving a call means no instance (or AMI) exists in the cluster: an instance is then not
 * found, and a snapshot used by no image.
 */
import { AwsError, NodeCallError, type ActionHandler, type ActionSpec, type Bus, type NodeMessage } from '../../core/index.js'
import { EbsErrors } from './errors.js'
import { attachmentOutput, checkInstanceId, checkVolumeId, type AttachmentRecord, type EbsDeps, type VolumeRecord } from './records.js'

/** Longer than a hot-plug takes, shorter than the action's own 60 s bound. */
const EC2_CALL_MS = 45_000
/** AWS's limit for a Multi-Attach volume. */
const MAX_MULTI_ATTACH = 16

/** A call to ec2; undefined when no node serves it. An answer with a code is thrown as that error. */
async function askEc2 (bus: Pick<Bus, 'callInternal'>, name: string, headers: Record<string, string>): Promise<NodeMessage | undefined> {
  let reply: NodeMessage
  try {
    reply = await bus.callInternal(name, { data: new Uint8Array(0), headers }, EC2_CALL_MS)
  } catch (e) {
    if (e instanceof NodeCallError && e.unreachable) return undefined
    throw e
  }
  const code = reply.headers?.code
  if (code !== undefined && code !== '') throw new AwsError(code, reply.headers?.message ?? code, 400)
  return reply
}

export interface InstanceVolume { volumeId: string, device: string, root: boolean }

/** The volumes attached to an instance, as ec2 knows them. */
export async function instanceVolumes (bus: Pick<Bus, 'callInternal'>, instanceId: string, accountId: string): Promise<InstanceVolume[]> {
  const reply = await askEc2(bus, 'ec2.instance.volumes', { instanceId, accountId })
  if (reply === undefined) throw EbsErrors.instanceNotFound(instanceId)
  return JSON.parse(Buffer.from(reply.data).toString('utf8')) as InstanceVolume[]
}

/** The registered images that use a snapshot. */
export async function imagesUsing (bus: Pick<Bus, 'callInternal'>, snapshotId: string): Promise<string[]> {
  const reply = await askEc2(bus, 'ec2.snapshot.images', { snapshotId })
  if (reply === undefined || reply.data.length === 0) return []
  return JSON.parse(Buffer.from(reply.data).toString('utf8')) as string[]
}

export const ATTACHMENT_ACTIONS: Record<string, ActionSpec> = {
  AttachVolume: {
    note: 'The ec2 capability hot-plugs the volume into the instance; an empty Device lets it pick /dev/sdf-/dev/sdp. Multi-Attach io1/io2 volumes attach to up to 16 instances.'
  },
  DetachVolume: {
    note: 'Force also completes the detach from an instance that no longer exists.'
  }
}

interface AttachInput { VolumeId: string, InstanceId: string, Device: string }
interface DetachInput { VolumeId: string, InstanceId?: string, Device?: string, Force?: boolean }

const without = (v: VolumeRecord, instanceId: string): VolumeRecord => {
  const attachments = v.attachments.filter(a => a.instanceId !== instanceId)
  return { ...v, attachments, state: attachments.length === 0 ? 'available' : 'in-use' }
}

const withAttachment = (v: VolumeRecord, instanceId: string, change: Partial<AttachmentRecord>): VolumeRecord =>
  ({ ...v, attachments: v.attachments.map(a => a.instanceId === instanceId ? { ...a, ...change } : a) })

export function attachmentHandlers (deps: EbsDeps): Record<string, ActionHandler> {
  const { store, hive } = deps
  return {
    /**
     * The volume is claimed first ('in-use', attachment 'attaching': a compare-and-set, so of two
     * racing attaches one wins), then ec2 plugs it in; a refusal gives the volume back.
     */
    AttachVolume: async (raw, ctx) => {
      const input = raw as unknown as AttachInput
      checkVolumeId(input.VolumeId)
      checkInstanceId(input.InstanceId)
      const attachment: AttachmentRecord = {
        instanceId: input.InstanceId, device: input.Device ?? '', state: 'attaching', attachTime: new Date().toISOString(), deleteOnTermination: false
      }
      const v = await store.modifyVolume(input.VolumeId, ctx.accountId, cur => {
        if (cur.state === 'in-use' && (!cur.multiAttachEnabled || cur.attachments.some(a => a.instanceId === input.InstanceId))) {
          throw EbsErrors.volumeInUse(cur.volumeId, undefined)
        }
        if (cur.state !== 'available' && cur.state !== 'in-use') throw EbsErrors.volumeState(cur.volumeId, cur.state)
        if (cur.modification?.state === 'modifying') throw EbsErrors.attachWhileModifying(cur.volumeId)
        if (cur.attachments.length >= MAX_MULTI_ATTACH) throw EbsErrors.attachmentLimit(cur.volumeId)
        return { ...cur, state: 'in-use', attachments: [...cur.attachments, attachment] }
      })
      let device: string
      let deleteOnTermination = false
      try {
        const reply = await askEc2(hive.bus, 'ec2.volume.attach', {
          instanceId: input.InstanceId, volumeId: v.volumeId, device: attachment.device, node: v.node, availabilityZone: v.availabilityZone, accountId: ctx.accountId
        })
        if (reply === undefined) throw EbsErrors.instanceNotFound(input.InstanceId)
        device = reply.headers?.device ?? attachment.device
        deleteOnTermination = reply.headers?.deleteOnTermination === 'true'
      } catch (e) {
        await store.modifyVolume(v.volumeId, ctx.accountId, cur => without(cur, input.InstanceId))
        throw e
      }
      await store.modifyVolume(v.volumeId, ctx.accountId, cur => withAttachment(cur, input.InstanceId, { state: 'attached', device, deleteOnTermination }))
      return attachmentOutput(v.volumeId, { ...attachment, device, deleteOnTermination })
    },

    /** 'detaching', then ec2 unplugs it; a refusal leaves it attached. */
    DetachVolume: async (raw, ctx) => {
      const input = raw as unknown as DetachInput
      checkVolumeId(input.VolumeId)
      if (input.InstanceId !== undefined) checkInstanceId(input.InstanceId)
      const force = input.Force === true
      let detaching: AttachmentRecord | undefined
      const v = await store.modifyVolume(input.VolumeId, ctx.accountId, cur => {
        if (cur.attachments.length === 0) throw EbsErrors.volumeState(cur.volumeId, cur.state)
        if (input.InstanceId === undefined && cur.attachments.length > 1) throw EbsErrors.instanceIdRequired(cur.volumeId)
        const a = cur.attachments.find(x => input.InstanceId === undefined || x.instanceId === input.InstanceId)
        if (a === undefined) throw EbsErrors.notAttachedTo(cur.volumeId, input.InstanceId ?? '')
        if (input.Device !== undefined && input.Device !== a.device) throw EbsErrors.deviceMismatch(cur.volumeId, input.Device)
        // Force is for a detach that did not finish cleanly: it may start again from 'detaching'.
        if (a.state !== 'attached' && !(force && a.state === 'detaching')) throw EbsErrors.volumeState(cur.volumeId, a.state)
        detaching = { ...a, state: 'detaching' }
        return withAttachment(cur, a.instanceId, { state: 'detaching' })
      })
      const a = detaching as AttachmentRecord
      try {
        const reply = await askEc2(hive.bus, 'ec2.volume.detach', { instanceId: a.instanceId, volumeId: v.volumeId, force: String(force), accountId: ctx.accountId })
        if (reply === undefined) throw EbsErrors.instanceNotFound(a.instanceId)
      } catch (e) {
        // Forced, a detach from an instance that no longer exists completes: nothing holds the volume.
        const gone = e instanceof AwsError && e.code === 'InvalidInstanceID.NotFound'
        if (!(force && gone)) {
          await store.modifyVolume(v.volumeId, ctx.accountId, cur => withAttachment(cur, a.instanceId, { state: 'attached' }))
          throw e
        }
      }
      await store.modifyVolume(v.volumeId, ctx.accountId, cur => without(cur, a.instanceId))
      return attachmentOutput(v.volumeId, a)
    }
  }
}
