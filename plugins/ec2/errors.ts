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
    new AwsError('InvalidParameterValue', `Invalid availability zone-id: [${id}]`, 400),
  keyPairDuplicate: (name: string) =>
    new AwsError('InvalidKeyPair.Duplicate', `The keypair '${name}' already exists.`, 400),
  keyPairNotFound: (name: string) =>
    new AwsError('InvalidKeyPair.NotFound', `The key pair '${name}' does not exist`, 400),
  keyPairIdNotFound: (id: string) =>
    new AwsError('InvalidKeyPair.NotFound', `The key pair ID '${id}' does not exist`, 400),
  /** EC2 says this of any ImportKeyPair material it cannot take, whatever the format tried. */
  keyFormat: () =>
    new AwsError('InvalidKey.Format', 'Key is not in valid OpenSSH public key format', 400),
  invalidKeyName: (name: string, reason: string) =>
    new AwsError('InvalidParameterValue', `Value (${name}) for parameter keyName is invalid. ${reason}`, 400),
  invalidEnum: (parameter: string, value: string, valid: string[]) =>
    new AwsError('InvalidParameterValue', `Value (${value}) for parameter ${parameter} is invalid. Valid values are: ${valid.join(', ')}`, 400)
} as const
