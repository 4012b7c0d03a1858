/**
 * DescribeAccountAttributes: the account's EC2 limits and platform, in the order AWS lists them.
 * Every Hive account gets the same values; default-vpc is none because no capability creates a
 * default VPC.
 */
import { type ActionHandler } from '../../core/index.js'
import { Ec2Errors } from './errors.js'

const ATTRIBUTES = new Map<string, string[]>([
  ['vpc-max-security-groups-per-interface', ['5']],
  ['max-instances', ['100']],
  ['supported-platforms', ['VPC']],
  ['default-vpc', ['none']],
  ['max-elastic-ips', ['5']],
  ['vpc-max-elastic-ips', ['20']]
])

export const describeAccountAttributes: ActionHandler = input => {
  const names = (input as { AttributeNames?: string[] }).AttributeNames ?? []
  const unknown = names.find(name => !ATTRIBUTES.has(name))
  if (unknown !== undefined) throw Ec2Errors.invalidAttributeName(unknown)
  return {
    AccountAttributes: [...ATTRIBUTES]
      .filter(([name]) => names.length === 0 || names.includes(name))
      .map(([name, values]) => ({ AttributeName: name, AttributeValues: values.map(value => ({ AttributeValue: value })) }))
  }
}
