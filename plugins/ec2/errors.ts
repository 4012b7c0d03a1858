/** The ec2 capability's errors, with EC2's codes, messages and statuses. */
import { AwsError } from '../../core/index.js'

export const Ec2Errors = {
  invalidAttributeName: (name: string) =>
    new AwsError('InvalidParameterValue', `Value (${name}) for parameter attributeName is invalid.`, 400),
  invalidInstanceTypes: (types: string[]) =>
    new AwsError('InvalidInstanceType', `The following supplied instance types do not exist: [${types.join(', ')}]`, 400),
  invalidRegion: (name: string) =>
    new AwsError('InvalidParameterValue', `Invalid region: [${name}]`, 400),
  invalidZoneName: (name: string) =>
    new AwsError('InvalidParameterValue', `Invalid availability zone: [${name}]`, 400),
  invalidZoneId: (id: string) =>
    new AwsError('InvalidParameterValue', `Invalid availability zone-id: [${id}]`, 400)
} as const
