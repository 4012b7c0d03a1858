/**
 * The s3 capability's errors, with S3's codes, messages, statuses and the extra members S3 puts in
 * its `<Error>` document (BucketName, Key, UploadId, …).
 */
import { AwsError } from '../../core/index.js'

const MIB5 = 5 * 1024 * 1024

export const S3Errors = {
  accessDenied: () =>
    new AwsError('AccessDenied', 'Access Denied', 403),
  noSuchBucket: (bucket: string) =>
    new AwsError('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket }),
  noSuchKey: (key: string) =>
    new AwsError('NoSuchKey', 'The specified key does not exist.', 404, { Key: key }),
  noSuchUpload: (uploadId: string) =>
    new AwsError('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404, { UploadId: uploadId }),
  noSuchTagSet: (bucket: string) =>
    new AwsError('NoSuchTagSet', 'The TagSet does not exist', 404, { BucketName: bucket }),
  bucketAlreadyOwnedByYou: (bucket: string) =>
    new AwsError('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, { BucketName: bucket }),
  bucketAlreadyExists: (bucket: string) =>
    new AwsError('BucketAlreadyExists', 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.', 409, { BucketName: bucket }),
  bucketNotEmpty: (bucket: string) =>
    new AwsError('BucketNotEmpty', 'The bucket you tried to delete is not empty', 409, { BucketName: bucket }),
  invalidBucketName: (bucket: string) =>
    new AwsError('InvalidBucketName', 'The specified bucket is not valid.', 400, { BucketName: bucket }),
  invalidLocationConstraint: (constraint: string) =>
    new AwsError('InvalidLocationConstraint', 'The specified location-constraint is not valid', 400, { LocationConstraint: constraint }),
  illegalLocationConstraint: (constraint: string | undefined) =>
    new AwsError('IllegalLocationConstraintException', constraint === undefined
      ? 'The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.'
      : `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`, 400),
  keyTooLong: (size: number) =>
    new AwsError('KeyTooLongError', 'Your key is too long', 400, { Size: String(size), MaxSizeAllowed: '1024' }),
  metadataTooLarge: (size: number) =>
    new AwsError('MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size', 400, { Size: String(size), MaxSizeAllowed: '2048' }),
  entityTooSmall: (size: number, partNumber: number, etag: string) =>
    new AwsError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', 400,
      { ProposedSize: String(size), MinSizeAllowed: String(MIB5), PartNumber: String(partNumber), ETag: etag }),
  invalidPart: (uploadId: string, partNumber: number, etag: string) =>
    new AwsError('InvalidPart', 'One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', 400,
      { UploadId: uploadId, PartNumber: String(partNumber), ETag: etag }),
  invalidPartOrder: (uploadId: string) =>
    new AwsError('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', 400, { UploadId: uploadId }),
  invalidPartNumber: (requested: number, count: number) =>
    new AwsError('InvalidPartNumber', 'The requested partnumber is not satisfiable', 416, { PartNumberRequested: String(requested), ActualPartCount: String(count) }),
  invalidRange: (range: string, size: number) =>
    new AwsError('InvalidRange', 'The requested range is not satisfiable', 416, { RangeRequested: range, ActualObjectSize: String(size) }),
  preconditionFailed: (condition: string) =>
    new AwsError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: condition }),
  /** A 304 carries no body; the code is what a HEAD-less client would see. */
  notModified: (etag: string, lastModified: Date) =>
    new AwsError('NotModified', 'Not Modified', 304, undefined, { etag, 'last-modified': lastModified.toUTCString() }),
  badDigest: (expected: string, calculated: string) =>
    new AwsError('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400, { ExpectedDigest: expected, CalculatedDigest: calculated }),
  invalidDigest: (given: string) =>
    new AwsError('InvalidDigest', 'The Content-MD5 you specified was invalid.', 400, { 'Content-MD5': given }),
  checksumMismatch: (algorithm: string) =>
    new AwsError('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`, 400),
  invalidChecksumValue: (header: string) =>
    new AwsError('InvalidRequest', `Value for ${header} header is invalid.`, 400),
  multipleChecksums: () =>
    new AwsError('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.', 400),
  checksumAlgorithmMismatch: (algorithm: string) =>
    new AwsError('InvalidRequest', `Value for x-amz-sdk-checksum-algorithm header is invalid: expected a x-amz-checksum-${algorithm.toLowerCase()} header.`, 400),
  invalidArgument: (message: string, name: string, value?: string) =>
    new AwsError('InvalidArgument', message, 400, value === undefined ? { ArgumentName: name } : { ArgumentName: name, ArgumentValue: value }),
  invalidRequest: (message: string) =>
    new AwsError('InvalidRequest', message, 400),
  malformedXml: () =>
    new AwsError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema', 400),
  invalidTag: (message: string, extra?: Record<string, string>) =>
    new AwsError('InvalidTag', message, 400, extra),
  tooManyObjectTags: () =>
    new AwsError('BadRequest', 'Object tags cannot be greater than 10', 400),
  invalidTaggingHeader: () =>
    new AwsError('InvalidArgument', 'The header \'x-amz-tagging\' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.', 400,
      { ArgumentName: 'x-amz-tagging' }),
  invalidStorageClass: () =>
    new AwsError('InvalidStorageClass', 'The storage class you specified is not valid', 400),
  invalidCopySource: () =>
    new AwsError('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 400, { ArgumentName: 'x-amz-copy-source' }),
  copyOntoItself: () =>
    new AwsError('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.', 400),
  invalidVersionId: (versionId: string) =>
    new AwsError('InvalidArgument', 'Invalid version id specified', 400, { ArgumentName: 'versionId', ArgumentValue: versionId }),
  invalidCopySourceRange: () =>
    new AwsError('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', 400,
      { ArgumentName: 'x-amz-copy-source-range' }),
  copySourceRangeOutside: (size: number) =>
    new AwsError('InvalidArgument', `Range specified is not valid for source object of size: ${size}`, 400, { ArgumentName: 'x-amz-copy-source-range' }),
  invalidPartNumberArgument: (value: number) =>
    new AwsError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 400, { ArgumentName: 'partNumber', ArgumentValue: String(value) }),
  invalidMaxArgument: (name: string, value: number) =>
    new AwsError('InvalidArgument', `Argument ${name} must be an integer between 0 and 2147483647`, 400, { ArgumentName: name, ArgumentValue: String(value) }),
  invalidContinuationToken: () =>
    new AwsError('InvalidArgument', 'The continuation token provided is incorrect', 400, { ArgumentName: 'continuation-token' }),
  invalidEncodingType: (value: string) =>
    new AwsError('InvalidArgument', 'Invalid Encoding Method specified in Request', 400, { ArgumentName: 'encoding-type', ArgumentValue: value })
} as const
