/**
 * The ebs capability: the EC2 API's volumes, snapshots and EBS encryption settings. The control
 * plane is records.ts (JetStream KV); the blocks are the data plane's (volume-store.ts behind the
 * data.ts interface); attaching a volume to an instance is done with the ec2 capability over the
 * internal calls documented in attachments.ts.
 */
import { defineCapability, isAwsError, serveTaggedResources, type ActionHandler, type Hive, type NodeMessage } from '../../core/index.js'
import { ebsAdmin } from './admin.js'
import { ATTACHMENT_ACTIONS, attachmentHandlers } from './attachments.js'
import { DIRECT_ACTIONS, DirectApi, directSnapshots } from './direct.js'
import { ENCRYPTION_ACTIONS, encryptionHandlers } from './encryption.js'
import { EbsStore, type EbsDeps, type VolumeRecord } from './records.js'
import { SNAPSHOT_ACTIONS, snapshotHandlers, visibleTo } from './snapshots.js'
import { openVolumeStores, type VolumeStores } from './volume-store.js'
import { VOLUME_ACTIONS, volumeHandlers } from './volumes.js'

/** Every ebs action handler, by action name. */
export function ebsHandlers (deps: EbsDeps): Record<string, ActionHandler> {
  return {
    ...volumeHandlers(deps),
    ...attachmentHandlers(deps),
    ...snapshotHandlers(deps),
    ...encryptionHandlers(deps)
  }
}

export default defineCapability({
  name: 'hive-ebs',
  capability: 'ebs',
  // Volume blocks leave the WAL for chunk objects in the object store.
  dependsOn: ['s3'],
  services: {
    ec2: {
      actions: {
        ...VOLUME_ACTIONS,
        ...ATTACHMENT_ACTIONS,
        ...SNAPSHOT_ACTIONS,
        ...ENCRYPTION_ACTIONS
      }
    },
    ebs: { actions: DIRECT_ACTIONS }
  },
  admin: ebsAdmin,
  async register (app, hive) {
    const store = await EbsStore.open(hive.kv)
    const data = await openVolumeStores(hive)
    const running = new Set<Promise<void>>()
    const background = (work: () => Promise<void>): void => {
      const p: Promise<void> = work()
        .catch(err => { hive.log.error({ err }, 'ebs background work failed') })
        .finally(() => running.delete(p))
      running.add(p)
    }
    app.addHook('onClose', async () => {
      // A snapshot or resize under way finishes before its store closes.
      await Promise.all(running)
      await data.close()
    })
    for (const [action, handler] of Object.entries(ebsHandlers({ store, data, hive, log: hive.log, background }))) {
      hive.serve('ec2', action, handler)
    }
    serveVolumeNbd(hive, store, data)
    const direct = new DirectApi(data.chunks, ctx => directSnapshots(store, ctx))
    for (const [action, handler] of Object.entries(direct.handlers())) hive.serve('ebs', action, handler)
    // CreateTags and DeleteTags (the ec2 capability) ask whether the account has the volume or snapshot.
    serveTaggedResources(hive.bus, {
      vol: async (accountId, volumeId) => (await store.volumes.get(volumeId))?.value.ownerId === accountId,
      snap: async (accountId, snapshotId) => {
        const s = (await store.snapshots.get(snapshotId))?.value
        return s !== undefined && visibleTo(s, accountId)
      }
    })
  }
})

/**
 * Internal call (core/bus.ts serveInternal; subject hive.int.ebs.volume.nbd, any ebs node answers)
 * for capabilities that attach a volume's bytes elsewhere — the ec2 capability's instances, AMI
 * imports:
 *   ebs.volume.nbd  { volumeId, accountId } → { node, socket, export, [tcp] }: the volume's home
 *                   node and its NBD addresses (unix socket path on that node; HOST:PORT when it
 *                   listens on TCP). A volume the account does not have answers
 *                   { code, message }: InvalidVolume.NotFound or InvalidVolumeID.Malformed.
 */
function serveVolumeNbd (hive: Hive, store: EbsStore, data: VolumeStores): void {
  hive.bus.serveInternal('ebs.volume.nbd', async (msg): Promise<NodeMessage> => {
    let v: VolumeRecord
    try {
      v = await store.volume(msg.headers?.volumeId ?? '', msg.headers?.accountId ?? '')
    } catch (e) {
      if (!isAwsError(e)) throw e
      return { data: new Uint8Array(0), headers: { code: e.code, message: e.message } }
    }
    const where = await data.exportOf(v.volumeId, v.node)
    const headers: Record<string, string> = { node: v.node, ...where }
    return { data: new Uint8Array(0), headers }
  })
}
