/**
 * Names S3 accepts: bucket names as AWS checks them when a general purpose bucket is created
 * (Amazon S3 User Guide, "General purpose bucket naming rules"), and object keys.
 * Existing-bucket requests are not name-checked: a bad name there is simply a bucket that does
 * not exist, as on AWS.
 */

/** Prefixes and suffixes AWS keeps for its own bucket kinds (access point aliases, directory buckets, …). */
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-']
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']

export const MAX_KEY_BYTES = 1024

/** Whether AWS would let a general purpose bucket be created with this name. */
export function isValidBucketName (name: string): boolean {
  if (name.length < 3 || name.length > 63) return false
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false
  if (name.includes('..')) return false
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return false
  if (RESERVED_PREFIXES.some(p => name.startsWith(p))) return false
  return !RESERVED_SUFFIXES.some(s => name.endsWith(s))
}

/** An object key's length as S3 limits it: UTF-8 bytes. */
export function keyBytes (key: string): number {
  return Buffer.byteLength(key, 'utf8')
}
