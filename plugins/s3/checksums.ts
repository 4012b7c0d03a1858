/**
 * Integrity of uploaded bytes: Content-MD5 and the flexible checksums (x-amz-checksum-crc32,
 * -crc32c, -sha1, -sha256), verified against the body as S3 does, and the checksums S3 stores and
 * returns. A checksum is the base64 of the digest's bytes (CRC32 and CRC32C big-endian); a
 * multipart object's is composite: the checksum of the parts' raw checksums concatenated, then
 * `-<part count>`.
 */
import { createHash, type Hash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { crc32c } from '../../core/index.js'
import { S3Errors } from './errors.js'
import type { Md5Stream } from './md5-worker.js'

export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256'

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'SHA1', 'SHA256']

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, SHA1: 20, SHA256: 32 }

export interface Checksum { algorithm: ChecksumAlgorithm, value: string }

/** The members that carry checksums in S3's inputs and outputs. */
export interface ChecksumMembers {
  ChecksumCRC32?: string
  ChecksumCRC32C?: string
  ChecksumSHA1?: string
  ChecksumSHA256?: string
}

function u32 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

/** Streams bytes into one checksum algorithm; for bodies read back in pieces (copies). */
export class ChecksumHasher {
  private crc = 0
  private readonly hash: Hash | undefined

  constructor (readonly algorithm: ChecksumAlgorithm) {
    this.hash = algorithm === 'SHA1' ? createHash('sha1') : algorithm === 'SHA256' ? createHash('sha256') : undefined
  }

  update (data: Uint8Array): void {
    if (this.hash !== undefined) this.hash.update(data)
    else this.crc = this.algorithm === 'CRC32' ? crc32(data, this.crc) : crc32c(data, this.crc)
  }

  digest (): Buffer {
    return this.hash !== undefined ? this.hash.digest() : u32(this.crc)
  }
}

export function digestOf (algorithm: ChecksumAlgorithm, data: Uint8Array): Buffer {
  const h = new ChecksumHasher(algorithm)
  h.update(data)
  return h.digest()
}

export function checksumOf (algorithm: ChecksumAlgorithm, data: Uint8Array): string {
  return digestOf(algorithm, data).toString('base64')
}

/** MD5 on the event loop, for bodies in memory. */
class LocalMd5 implements Md5Stream {
  private readonly hash = createHash('md5')

  async update (data: Uint8Array): Promise<void> {
    this.hash.update(data)
  }

  async digest (): Promise<string> {
    return this.hash.digest('hex')
  }

  discard (): void {}
}

export function md5Hex (data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex')
}

/** Strict base64 of exactly `bytes` bytes, or undefined. */
function decodeBase64 (value: string, bytes: number): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return undefined
  const b = Buffer.from(value, 'base64')
  return b.length === bytes ? b : undefined
}

/** Checks Content-MD5 when present: InvalidDigest when it is no MD5, BadDigest when it is another body's. */
export function verifyContentMd5 (given: string | undefined, md5hex: string): void {
  if (given === undefined) return
  const sent = decodeBase64(given.trim(), 16)
  if (sent === undefined) throw S3Errors.invalidDigest(given)
  if (sent.toString('hex') !== md5hex) throw S3Errors.badDigest(given, Buffer.from(md5hex, 'hex').toString('base64'))
}

function memberOf (algorithm: ChecksumAlgorithm): keyof ChecksumMembers {
  return `Checksum${algorithm}` as keyof ChecksumMembers
}

export function isChecksumAlgorithm (v: unknown): v is ChecksumAlgorithm {
  return typeof v === 'string' && (CHECKSUM_ALGORITHMS as readonly string[]).includes(v)
}

/**
 * The checksum sent with an upload (x-amz-checksum-*), well-formed or an error. With several →
 * InvalidRequest, as S3 allows one.
 */
export function sentChecksum (input: ChecksumMembers): Checksum | undefined {
  const sent = CHECKSUM_ALGORITHMS.filter(a => input[memberOf(a)] !== undefined)
  if (sent.length > 1) throw S3Errors.multipleChecksums()
  if (sent.length === 0) return undefined
  const algorithm = sent[0]
  const value = (input[memberOf(algorithm)] as string).trim()
  if (decodeBase64(value, DIGEST_BYTES[algorithm]) === undefined) throw S3Errors.invalidChecksumValue(`x-amz-checksum-${algorithm.toLowerCase()}`)
  return { algorithm, value }
}

/**
 * An upload's digests, fed the body as it arrives (whole, or chunk by chunk when it streams): its
 * MD5 (the ETag) and the checksum to store — the one sent, verified, else one computed for
 * `algorithm` (x-amz-sdk-checksum-algorithm, or the multipart upload's), which is also how a
 * checksum sent as an aws-chunked trailer is kept, since trailers do not reach handlers. A sent
 * checksum that is malformed fails at construction, before the body is read.
 */
export class UploadDigest {
  size = 0
  private readonly md5: Md5Stream
  private readonly sent: Checksum | undefined
  private readonly hasher: ChecksumHasher | undefined

  /** `md5`: where the MD5 is computed (md5-worker.ts, for streamed bodies); by default here. */
  constructor (private readonly input: ChecksumMembers & { ContentMD5?: string }, algorithm?: ChecksumAlgorithm, md5?: Md5Stream) {
    this.sent = sentChecksum(input)
    const a = this.sent?.algorithm ?? algorithm
    this.hasher = a === undefined ? undefined : new ChecksumHasher(a)
    this.md5 = md5 ?? new LocalMd5()
  }

  /** Feeds the next bytes; resolves once the MD5 is done with them (they may be reused then). */
  async update (chunk: Uint8Array): Promise<void> {
    this.size += chunk.length
    this.hasher?.update(chunk)
    await this.md5.update(chunk)
  }

  /** Gives up on an upload that failed before its end. */
  discard (): void {
    this.md5.discard()
  }

  /** The MD5 (hex) and checksum of everything fed; BadDigest, InvalidDigest or a checksum mismatch when they disagree with what was sent. */
  async finish (): Promise<{ md5: string, checksum: Checksum | undefined }> {
    const md5 = await this.md5.digest()
    verifyContentMd5(this.input.ContentMD5, md5)
    if (this.hasher === undefined) return { md5, checksum: undefined }
    const value = this.hasher.digest().toString('base64')
    if (this.sent === undefined) return { md5, checksum: { algorithm: this.hasher.algorithm, value } }
    if (value !== this.sent.value) throw S3Errors.checksumMismatch(this.sent.algorithm)
    return { md5, checksum: this.sent }
  }
}

/** The output member for a checksum (`{ ChecksumCRC32: '…' }`), or nothing. */
export function checksumMembers (c: { algorithm: ChecksumAlgorithm, value: string } | undefined): ChecksumMembers {
  return c === undefined ? {} : { [memberOf(c.algorithm)]: c.value }
}

/** The checksum a CompleteMultipartUpload's part entry names for `algorithm`, if any. */
export function memberChecksum (members: ChecksumMembers, algorithm: ChecksumAlgorithm): string | undefined {
  return members[memberOf(algorithm)]
}

/** A multipart object's checksum from its parts', in order. */
export function compositeChecksum (algorithm: ChecksumAlgorithm, parts: string[]): string {
  const raw = Buffer.concat(parts.map(p => Buffer.from(p, 'base64')))
  return `${checksumOf(algorithm, raw)}-${parts.length}`
}
