/**
 * The ec2 capability: Hive's EC2 API. Each resource family has its own file; this one declares the
 * actions and wires their handlers.
 */
import { defineCapability, serveTaggedResources, TagStore } from '../../core/index.js'
import { describeAccountAttributes } from './account-attributes.js'
import { ec2Admin } from './admin.js'
import { IMAGE_ACTIONS, imageForLaunch, imageHandlers, registerImage, serveImageHooks } from './images.js'
import { InstanceStore } from './instance-records.js'
import { InstanceRunner } from './instance-runner.js'
import { serveVolumeHooks } from './instance-volumes.js'
import { INSTANCE_ACTIONS, instanceHandlers } from './instances.js'
import { describeInstanceTypes } from './instance-types.js'
import { KEY_PAIR_ACTIONS, keyPairHandlers, serveKeyPairTags } from './keypairs.js'
import { describeAvailabilityZones, describeRegions } from './regions.js'
import { TAG_ACTIONS, tagHandlers } from './tags.js'

export default defineCapability({
  name: 'hive-ec2',
  capability: 'ec2',
  admin: ec2Admin,
  services: {
    ec2: {
      actions: {
        DescribeRegions: {
          note: 'A Hive cluster is one region: the answering node\'s. Its Endpoint is that node\'s edge URL.'
        },
        DescribeAvailabilityZones: {
          note: 'The zones of the region\'s live nodes (each node sits in the zone given by --az).'
        },
        DescribeAccountAttributes: {},
        DescribeInstanceTypes: {
          note: 'A catalogue of current x86_64 and Graviton families (t2, t3, t3a, t4g, m5-m7, c5-c7, r5-r7) with AWS\'s specifications.'
        },
        ...KEY_PAIR_ACTIONS,
        ...TAG_ACTIONS,
        ...IMAGE_ACTIONS,
        ...INSTANCE_ACTIONS
      }
    }
  },
  async register (app, hive) {
    hive.serve('ec2', 'DescribeRegions', describeRegions(hive))
    hive.serve('ec2', 'DescribeAvailabilityZones', describeAvailabilityZones(hive))
    hive.serve('ec2', 'DescribeAccountAttributes', describeAccountAttributes)
    hive.serve('ec2', 'DescribeInstanceTypes', describeInstanceTypes)
    for (const [action, handler] of Object.entries(keyPairHandlers(hive.kv))) hive.serve('ec2', action, handler)
    serveKeyPairTags(hive)
    for (const [action, handler] of Object.entries(tagHandlers(hive))) hive.serve('ec2', action, handler)
    for (const [action, handler] of Object.entries(imageHandlers(hive))) hive.serve('ec2', action, handler)
    serveImageHooks(hive)

    const store = await InstanceStore.open(hive.kv)
    const tags = new TagStore(hive.kv)
    store.onExpired = async r => { await tags.drop(r.ownerId, r.instanceId) }
    const runner = new InstanceRunner(hive, store, tags)
    app.addHook('onClose', async () => { await runner.close() })
    const instances = instanceHandlers({
      hive,
      store,
      tags,
      imageForLaunch: async (ctx, imageId) => await imageForLaunch(hive, ctx, imageId),
      registerImage: async (ctx, spec, imageTags) => (await registerImage(hive, ctx, spec, { tags: imageTags })).imageId
    })
    for (const [action, handler] of Object.entries(instances)) hive.serve('ec2', action, handler)
    serveVolumeHooks(hive, store)
    serveTaggedResources(hive.bus, { i: async (accountId, id) => (await store.get(id))?.ownerId === accountId })
    await runner.start()
  }
})
