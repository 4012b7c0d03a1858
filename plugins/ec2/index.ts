/**
 * The ec2 capability: Hive's EC2 API. Each resource family has its own file; this one declares the
 * actions and wires their handlers.
 */
import { defineCapability } from '../../core/index.js'
import { describeAccountAttributes } from './account-attributes.js'
import { describeInstanceTypes } from './instance-types.js'
import { KEY_PAIR_ACTIONS, keyPairHandlers } from './keypairs.js'
import { describeAvailabilityZones, describeRegions } from './regions.js'

export default defineCapability({
  name: 'hive-ec2',
  capability: 'ec2',
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
        ...KEY_PAIR_ACTIONS
      }
    }
  },
  async register (_app, hive) {
    hive.serve('ec2', 'DescribeRegions', describeRegions(hive))
    hive.serve('ec2', 'DescribeAvailabilityZones', describeAvailabilityZones(hive))
    hive.serve('ec2', 'DescribeAccountAttributes', describeAccountAttributes)
    hive.serve('ec2', 'DescribeInstanceTypes', describeInstanceTypes)
    for (const [action, handler] of Object.entries(keyPairHandlers(hive.kv))) hive.serve('ec2', action, handler)
  }
})
