/** The ebs capability's errors, with EC2's codes and messages; every one is a client error (400). */
import { AwsError } from '../../core/index.js'

const invalid = (message: string): AwsError => new AwsError('InvalidParameterValue', message, 400)
const combination = (message: string): AwsError => new AwsError('InvalidParameterCombination', message, 400)

export const EbsErrors = {
  volumeNotFound: (ids: string[]) => ids.length === 1
    ? new AwsError('InvalidVolume.NotFound', `The volume '${ids[0]}' does not exist.`, 400)
    : new AwsError('InvalidVolume.NotFound', `The volumes '${ids.join(', ')}' do not exist.`, 400),
  volumeIdMalformed: (id: string) =>
    new AwsError('InvalidVolumeID.Malformed', id.startsWith('vol-') ? `Invalid id: "${id}"` : `Invalid id: "${id}" (expecting "vol-...")`, 400),
  snapshotNotFound: (ids: string[]) => ids.length === 1
    ? new AwsError('InvalidSnapshot.NotFound', `The snapshot '${ids[0]}' does not exist.`, 400)
    : new AwsError('InvalidSnapshot.NotFound', `The snapshots '${ids.join(', ')}' do not exist.`, 400),
  snapshotIdMalformed: (id: string) =>
    new AwsError('InvalidSnapshotID.Malformed', id.startsWith('snap-') ? `Invalid id: "${id}"` : `Invalid id: "${id}" (expecting "snap-...")`, 400),
  snapshotInUse: (snapshotId: string, imageId: string) =>
    new AwsError('InvalidSnapshot.InUse', `The snapshot ${snapshotId} is currently in use by ${imageId}`, 400),
  snapshotNotCompleted: (snapshotId: string, state: string) =>
    new AwsError('IncorrectState', `Snapshot '${snapshotId}' is in the '${state}' state.`, 400),
  instanceIdMalformed: (id: string) =>
    new AwsError('InvalidInstanceID.Malformed', `Invalid id: "${id}" (expecting "i-...")`, 400),
  instanceNotFound: (id: string) =>
    new AwsError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`, 400),
  zoneNotFound: (zone: string) =>
    new AwsError('InvalidZone.NotFound', `The zone '${zone}' does not exist.`, 400),
  unknownVolumeType: (type: string) =>
    new AwsError('UnknownVolumeType', `The volume type '${type}' is unsupported. The supported volume types are gp2, gp3, io1, io2, st1, sc1, and standard.`, 400),
  sizeOrSnapshotRequired: () =>
    new AwsError('MissingParameter', 'The request must contain the parameter size or snapshotId', 400),
  iopsRequired: (type: string) =>
    new AwsError('MissingParameter', `The request must contain the parameter iops for ${type} volumes`, 400),
  volumeTooSmall: (size: number, min: number) => invalid(`Volume of ${size}GiB is too small; minimum is ${min}GiB.`),
  volumeTooLarge: (size: number, max: number) => invalid(`Volume of ${size}GiB is too large; maximum is ${max}GiB.`),
  smallerThanSnapshot: (size: number, snapshotId: string, snapshotSize: number) =>
    invalid(`Volume of size ${size}GiB is smaller than snapshot '${snapshotId}', expect size >= ${snapshotSize}GiB`),
  sizeShrink: () => invalid('New size cannot be smaller than existing size'),
  iopsNotSupported: (type: string) => combination(`The parameter iops is not supported for ${type} volumes.`),
  iopsTooLow: (iops: number, min: number) => invalid(`Volume iops of ${iops} is too low; minimum is ${min}.`),
  iopsTooHigh: (iops: number, max: number) => invalid(`Volume iops of ${iops} is too high; maximum is ${max}.`),
  iopsRatio: (ratio: number, max: number) => invalid(`Iops to volume size ratio of ${ratio.toFixed(6)} is too high; maximum is ${max}`),
  throughputNotSupported: (type: string) => combination(`The parameter throughput is not supported for ${type} volumes.`),
  throughputTooLow: (t: number, min: number) => invalid(`Throughput of ${t} MiB/s is too low; minimum is ${min} MiB/s.`),
  throughputTooHigh: (t: number, max: number) => invalid(`Throughput of ${t} MiB/s is too high; maximum is ${max} MiB/s.`),
  throughputRatio: (ratio: number, max: number) =>
    invalid(`Throughput (MiBps) to iops ratio of ${ratio.toFixed(6)} is too high; maximum is ${max.toFixed(6)} MiBps per iops`),
  multiAttachNotSupported: (type: string) => combination(`Multi-Attach is not supported for ${type} volumes; only io1 and io2 volumes support it.`),
  kmsKeyNeedsEncrypted: () =>
    new AwsError('InvalidParameterDependency', 'The parameter KmsKeyId requires the parameter Encrypted to be set.', 400),
  invalidKmsKey: (id: string) => invalid(`Invalid KMS key ID: ${id}`),
  idempotentMismatch: () =>
    new AwsError('IdempotentParameterMismatch', 'Client token already used before with different parameters.', 400),
  volumeInUse: (volumeId: string, instanceId: string | undefined) =>
    new AwsError('VolumeInUse', instanceId === undefined ? `${volumeId} is already attached to an instance` : `Volume ${volumeId} is currently attached to ${instanceId}`, 400),
  volumeState: (volumeId: string, state: string) =>
    new AwsError('IncorrectState', `Volume '${volumeId}' is in the '${state}' state.`, 400),
  notAttachedTo: (volumeId: string, instanceId: string) =>
    new AwsError('InvalidAttachment.NotFound', `Volume '${volumeId}' is not attached to instance '${instanceId}'.`, 400),
  deviceMismatch: (volumeId: string, device: string) =>
    invalid(`Volume '${volumeId}' is not attached as device '${device}'.`),
  instanceIdRequired: (volumeId: string) =>
    new AwsError('MissingParameter', `Volume '${volumeId}' is attached to more than one instance: the request must contain the parameter instanceId`, 400),
  attachWhileModifying: (volumeId: string) =>
    new AwsError('OperationNotPermitted', `Cannot attach volume ${volumeId} when it is in modification state: MODIFYING`, 400),
  attachmentLimit: (volumeId: string) =>
    new AwsError('AttachmentLimitExceeded', `Volume ${volumeId} is attached to the maximum of 16 instances.`, 400),
  modificationInProgress: (volumeId: string, state: string) =>
    new AwsError('IncorrectModificationState', `Volume ${volumeId} cannot be modified in modification state ${state.toUpperCase()}`, 400),
  nothingToModify: () => combination('At least one of size, volumeType, iops, throughput or multiAttachEnabled must be specified.'),
  modificationNotFound: (volumeId: string) =>
    new AwsError('InvalidVolumeModification.NotFound', `Modification for volume '${volumeId}' does not exist.`, 400),
  noAttribute: () => combination('No attributes specified.'),
  invalidAttribute: (name: string) => invalid(`Value (${name}) for parameter attribute is invalid. Unknown attribute.`),
  attributeNotModifiable: (name: string) => invalid(`The attribute ${name} cannot be modified or reset.`),
  invalidGroup: (group: string) => invalid(`The group ${group} is not valid; only 'all' is.`),
  maxResultsWithIds: (ids: string) => combination(`The parameter ${ids} cannot be used with the parameter maxResults`),
  maxResultsTooSmall: (n: number, min: number) =>
    invalid(`Value ( ${n} ) for parameter maxResults is invalid. Expecting a value greater than ${min}.`),
  otherRegion: (region: string, own: string) =>
    invalid(`Invalid region: [${region}]. This Hive cluster is the region ${own}; snapshots are copied within it.`)
} as const
