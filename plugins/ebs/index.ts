/**
 * The ebs capability: the EC2 API's volumes, snapshots and EBS encryption settings. The control
 * plane is records.ts (JetStream KV); the blocks are the data plane's (volume-store.ts behind the
 * data.ts interface); attaching a volume to an instance is done with the ec2 capability over the
 * internal calls documented in attachments.ts.
 */
import { defineCapability, type ActionHandler } from '../../core/index.js'
import { ebsAdmin } from './admin.js'
import { ATTACHMENT_ACTIONS, attachmentHandlers } from './attachments.js'
import { DIRECT_ACTIONS, DirectApi, directSnapshots } from './direct.js'
import { ENCRYPTION_ACTIONS, encryptionHandlers } from './encryption.js'
import { EbsStore, type EbsDeps } from './records.js'
import { SNAPSHOT_ACTIONS, snapshotHandlers } from './snapshots.js'
import { openVolumeStores } from './volume-store.js'
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
    const direct = new DirectApi(data.chunks, ctx => directSnapshots(store, ctx))
    for (const [action, handler] of Object.entries(direct.handlers())) hive.serve('ebs', action, handler)
  }
})
