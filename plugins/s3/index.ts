/**
 * The s3 capability: Hive's S3 API over an erasure-coded object store. The API's resource families
 * each have their file (actions.ts gathers them); the store is catalog.ts (what exists), blobs.ts
 * (the bytes, striped and RS-coded), shards.ts (one node's shards on disk) and ring.ts (placement).
 */
import { join, resolve } from 'node:path'
import { defineCapability } from '../../core/index.js'
import { S3_ACTIONS, s3Handlers } from './actions.js'
import { s3Admin } from './admin.js'
import { BlobStore, parseCode } from './blobs.js'
import { Catalog } from './catalog.js'
import { Md5Worker } from './md5-worker.js'
import { Healer } from './heal.js'
import { serveInternal } from './internal.js'
import { followClusterCode, Ring } from './ring.js'
import { ShardStore } from './shards.js'

export default defineCapability({
  name: 'hive-s3',
  capability: 's3',
  services: {
    s3: { actions: S3_ACTIONS }
  },
  admin: s3Admin,
  async register (app, hive) {
    const { node } = hive
    const explicit = node.settings['s3-code']
    if (explicit !== undefined) parseCode(explicit)
    const dirs = (node.settings['s3-dirs'] ?? '').split(',').map(d => d.trim()).filter(d => d !== '').map(d => resolve(d))
    if (dirs.length === 0) dirs.push(join(node.dataDir, 's3', 'shards'))

    const shards = await ShardStore.open(node.dataDir, dirs)
    shards.serve(hive.bus)
    const ring = await Ring.join(hive.kv, { nodeId: node.nodeId, dirs: dirs.length, joinedAt: new Date().toISOString() })
    const code = await followClusterCode(hive.kv, ring, explicit)
    const catalog = await Catalog.open(hive.kv, node.dataDir, hive.log)

    const blobs = new BlobStore(hive.bus, ring, () => parseCode(code.current()), { nodeId: node.nodeId, get: async (id, room) => await shards.get(id, room) })
    const healer = new Healer(node.nodeId, catalog, blobs, shards, hive.log)
    healer.start(hive.bus)
    const md5 = new Md5Worker()
    app.addHook('onClose', async () => {
      await healer.close()
      await md5.close()
      ring.close()
      code.stop()
      await catalog.close()
      await shards.close()
    })
    serveInternal(hive.bus, catalog, blobs, old => {
      blobs.free(old.blobs).catch(err => { hive.log.warn({ err }, 'freeing a replaced internal object failed') })
    })
    for (const [action, handler] of Object.entries(s3Handlers({ catalog, blobs, md5, node, log: hive.log }))) {
      hive.serve('s3', action, handler)
    }
  }
})
