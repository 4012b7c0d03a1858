import {
  CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, GetObjectTaggingCommand,
  HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type StorageClass
} from '@aws-sdk/client-s3'
import t from 'tap'
import { startNode } from '../helpers/node.js'
import { md5, pattern, rawS3, rejectsWith, s3Client, xmlValue } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
t.teardown(async () => { await node.stop() })
const s3 = s3Client(node)
const B = 'objects'
await s3.send(new CreateBucketCommand({ Bucket: B }))

const BODY = pattern(1000)
await s3.send(new PutObjectCommand({ Bucket: B, Key: 'data', Body: BODY }))

async function get (params: Omit<ConstructorParameters<typeof GetObjectCommand>[0], 'Bucket'>): Promise<{ status: number | undefined, body: Buffer, range: string | undefined, length: number | undefined }> {
  const out = await s3.send(new GetObjectCommand({ Bucket: B, ...params }))
  return { status: out.$metadata.httpStatusCode, body: Buffer.from(await out.Body?.transformToByteArray() ?? []), range: out.ContentRange, length: out.ContentLength }
}

t.test('PUT then GET returns the bytes, quoted MD5 ETag, metadata and content headers', async t => {
  const expires = new Date('2030-01-02T03:04:05Z')
  const put = await s3.send(new PutObjectCommand({
    Bucket: B,
    Key: 'meta.txt',
    Body: 'hello world',
    ContentType: 'text/plain; charset=utf-8',
    ContentEncoding: 'identity',
    ContentDisposition: 'attachment; filename="x.txt"',
    ContentLanguage: 'en-GB',
    CacheControl: 'max-age=60',
    Expires: expires,
    Metadata: { Colour: 'blue', 'two-words': 'a b' }
  }))
  t.equal(put.ETag, `"${md5(Buffer.from('hello world'))}"`)
  const out = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'meta.txt' }))
  t.equal(await out.Body?.transformToString(), 'hello world')
  t.equal(out.ETag, put.ETag)
  t.equal(out.ContentType, 'text/plain; charset=utf-8')
  t.equal(out.ContentEncoding, 'identity')
  t.equal(out.ContentDisposition, 'attachment; filename="x.txt"')
  t.equal(out.ContentLanguage, 'en-GB')
  t.equal(out.CacheControl, 'max-age=60')
  t.equal(out.Expires?.getTime(), expires.getTime())
  t.same(out.Metadata, { colour: 'blue', 'two-words': 'a b' })
  t.equal(out.ContentLength, 11)
  t.equal(out.AcceptRanges, 'bytes')
  t.ok(out.LastModified instanceof Date)
  const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'meta.txt' }))
  t.equal(head.ContentLength, 11)
  t.equal(head.ETag, put.ETag)
  t.same(head.Metadata, { colour: 'blue', 'two-words': 'a b' })
})

t.test('a PUT without Content-Type is stored as binary/octet-stream; an empty body is an empty object', async t => {
  const res = await rawS3(node, { method: 'PUT', path: `/${B}/empty` })
  t.equal(res.status, 200)
  t.equal(res.headers.get('etag'), '"d41d8cd98f00b204e9800998ecf8427e"')
  const out = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'empty' }))
  t.equal(out.ContentType, 'binary/octet-stream')
  t.equal(out.ContentLength, 0)
  t.equal((await out.Body?.transformToByteArray())?.length, 0)
})

t.test('response-* query parameters override the stored headers', async t => {
  const out = await s3.send(new GetObjectCommand({
    Bucket: B,
    Key: 'meta.txt',
    ResponseContentType: 'application/json',
    ResponseContentDisposition: 'inline',
    ResponseCacheControl: 'no-cache',
    ResponseContentLanguage: 'fr',
    ResponseContentEncoding: 'gzip2',
    ResponseExpires: new Date('2031-01-01T00:00:00Z')
  }))
  t.equal(out.ContentType, 'application/json')
  t.equal(out.ContentDisposition, 'inline')
  t.equal(out.CacheControl, 'no-cache')
  t.equal(out.ContentLanguage, 'fr')
  t.equal(out.ContentEncoding, 'gzip2')
  t.equal(out.Expires?.toISOString(), '2031-01-01T00:00:00.000Z')
})

t.test('GET of a missing key → NoSuchKey 404 naming the key', async t => {
  const err = await rejectsWith(t, s3.send(new GetObjectCommand({ Bucket: B, Key: 'missing/key' })), 'NoSuchKey', 404)
  t.equal(err.Key, 'missing/key')
})

t.test('HEAD of a missing key → 404 with no body', async t => {
  await rejectsWith(t, s3.send(new HeadObjectCommand({ Bucket: B, Key: 'missing' })), 'NotFound', 404)
  const res = await rawS3(node, { method: 'HEAD', path: `/${B}/missing` })
  t.equal(res.status, 404)
  t.equal(res.text, '')
})

t.test('a key longer than 1024 UTF-8 bytes → KeyTooLongError 400', async t => {
  await rejectsWith(t, s3.send(new PutObjectCommand({ Bucket: B, Key: 'é'.repeat(513), Body: 'x' })), 'KeyTooLongError', 400)
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'é'.repeat(512), Body: 'x' }))
  await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'é'.repeat(512) }))
})

t.test('user metadata over 2 KB → MetadataTooLarge 400', async t => {
  await rejectsWith(t, s3.send(new PutObjectCommand({ Bucket: B, Key: 'fat', Body: 'x', Metadata: { big: 'v'.repeat(2100) } })), 'MetadataTooLarge', 400)
})

t.test('an unknown storage class → InvalidStorageClass 400; a known one is returned by HEAD', async t => {
  await rejectsWith(t, s3.send(new PutObjectCommand({ Bucket: B, Key: 'sc', Body: 'x', StorageClass: 'PLATINUM' as StorageClass })), 'InvalidStorageClass', 400)
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'sc', Body: 'x', StorageClass: 'STANDARD_IA' }))
  t.equal((await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'sc' }))).StorageClass, 'STANDARD_IA')
  t.equal((await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'data' }))).StorageClass, undefined, 'STANDARD is not named')
})

t.test('ranged GET - first-last → 206 with Content-Range', async t => {
  const r = await get({ Key: 'data', Range: 'bytes=10-19' })
  t.equal(r.status, 206)
  t.equal(r.range, 'bytes 10-19/1000')
  t.equal(r.length, 10)
  t.same(r.body, BODY.subarray(10, 20))
})

t.test('ranged GET - open-ended first- → to the end', async t => {
  const r = await get({ Key: 'data', Range: 'bytes=990-' })
  t.equal(r.status, 206)
  t.equal(r.range, 'bytes 990-999/1000')
  t.same(r.body, BODY.subarray(990))
})

t.test('ranged GET - suffix -N → the last N bytes, the whole object when N exceeds it', async t => {
  const r = await get({ Key: 'data', Range: 'bytes=-7' })
  t.equal(r.range, 'bytes 993-999/1000')
  t.same(r.body, BODY.subarray(993))
  const all = await get({ Key: 'data', Range: 'bytes=-5000' })
  t.equal(all.status, 206)
  t.equal(all.range, 'bytes 0-999/1000')
  t.same(all.body, BODY)
})

t.test('ranged GET - a last byte past the end is clamped', async t => {
  const r = await get({ Key: 'data', Range: 'bytes=995-5000' })
  t.equal(r.range, 'bytes 995-999/1000')
  t.same(r.body, BODY.subarray(995))
})

t.test('ranged GET - first byte past the end → InvalidRange 416 with ActualObjectSize', async t => {
  await rejectsWith(t, get({ Key: 'data', Range: 'bytes=1000-' }), 'InvalidRange', 416)
  const res = await rawS3(node, { path: `/${B}/data`, headers: { range: 'bytes=2000-3000' } })
  t.equal(res.status, 416)
  t.equal(xmlValue(res.text, 'Code'), 'InvalidRange')
  t.equal(xmlValue(res.text, 'ActualObjectSize'), '1000')
  t.equal(xmlValue(res.text, 'RangeRequested'), 'bytes=2000-3000')
  await rejectsWith(t, get({ Key: 'data', Range: 'bytes=-0' }), 'InvalidRange', 416)
  await rejectsWith(t, get({ Key: 'empty', Range: 'bytes=0-' }), 'InvalidRange', 416)
})

t.test('ranged GET - several ranges or a malformed header → the whole object, 200', async t => {
  for (const Range of ['bytes=0-1,5-6', 'bytes=5-2', 'items=0-1', 'bytes=abc']) {
    const r = await get({ Key: 'data', Range })
    t.equal(r.status, 200, Range)
    t.equal(r.body.length, 1000, Range)
  }
})

t.test('HEAD with a Range → 206 with the range\'s length; unsatisfiable → 416', async t => {
  const res = await rawS3(node, { method: 'HEAD', path: `/${B}/data`, headers: { range: 'bytes=0-99' } })
  t.equal(res.status, 206)
  t.equal(res.headers.get('content-length'), '100')
  t.equal((await rawS3(node, { method: 'HEAD', path: `/${B}/data`, headers: { range: 'bytes=5000-' } })).status, 416)
})

t.test('partNumber 1 of a single-PUT object is the object; 2 → InvalidPartNumber 416; with a Range → InvalidRequest', async t => {
  const r = await get({ Key: 'data', PartNumber: 1 })
  t.equal(r.status, 200)
  t.same(r.body, BODY)
  await rejectsWith(t, get({ Key: 'data', PartNumber: 2 }), 'InvalidPartNumber', 416)
  await rejectsWith(t, get({ Key: 'data', PartNumber: 1, Range: 'bytes=0-1' }), 'InvalidRequest', 400)
})

t.test('conditional GET - If-Match', async t => {
  const { ETag } = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'data' }))
  t.equal((await get({ Key: 'data', IfMatch: ETag })).status, 200)
  t.equal((await get({ Key: 'data', IfMatch: '*' })).status, 200)
  t.equal((await get({ Key: 'data', IfMatch: (ETag ?? '').replace(/"/g, '') })).status, 200, 'unquoted')
  t.equal((await get({ Key: 'data', IfMatch: `"nope", ${ETag ?? ''}` })).status, 200, 'in a list')
  await rejectsWith(t, get({ Key: 'data', IfMatch: '"0123"' }), 'PreconditionFailed', 412)
})

t.test('conditional GET - If-None-Match matching → 304 Not Modified; otherwise 200', async t => {
  const { ETag } = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'data' }))
  await rejectsWith(t, get({ Key: 'data', IfNoneMatch: ETag }), undefined, 304)
  t.equal((await get({ Key: 'data', IfNoneMatch: '"other"' })).status, 200)
  const res = await rawS3(node, { path: `/${B}/data`, headers: { 'if-none-match': ETag ?? '' } })
  t.equal(res.status, 304)
  t.equal(res.text, '')
})

t.test('conditional GET - If-Modified-Since and If-Unmodified-Since', async t => {
  const past = new Date(Date.now() - 3600_000)
  const future = new Date(Date.now() + 3600_000)
  t.equal((await get({ Key: 'data', IfModifiedSince: past })).status, 200)
  await rejectsWith(t, get({ Key: 'data', IfModifiedSince: future }), undefined, 304)
  t.equal((await get({ Key: 'data', IfUnmodifiedSince: future })).status, 200)
  await rejectsWith(t, get({ Key: 'data', IfUnmodifiedSince: past }), 'PreconditionFailed', 412)
  const { LastModified } = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'data' }))
  await rejectsWith(t, get({ Key: 'data', IfModifiedSince: LastModified }), undefined, 304)
  t.equal((await get({ Key: 'data', IfUnmodifiedSince: LastModified })).status, 200, 'compared at the second')
})

t.test('conditional GET - precedence: If-Match true wins over If-Unmodified-Since false; If-None-Match over If-Modified-Since', async t => {
  const { ETag } = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'data' }))
  const past = new Date(Date.now() - 3600_000)
  const future = new Date(Date.now() + 3600_000)
  t.equal((await get({ Key: 'data', IfMatch: ETag, IfUnmodifiedSince: past })).status, 200)
  await rejectsWith(t, get({ Key: 'data', IfNoneMatch: ETag, IfModifiedSince: past }), undefined, 304)
  t.equal((await get({ Key: 'data', IfNoneMatch: '"other"', IfModifiedSince: future })).status, 200)
  await rejectsWith(t, get({ Key: 'data', IfMatch: '"other"', IfNoneMatch: ETag }), 'PreconditionFailed', 412)
})

t.test('conditional HEAD - 412 and 304 without a body', async t => {
  const { ETag } = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'data' }))
  const failed = await rawS3(node, { method: 'HEAD', path: `/${B}/data`, headers: { 'if-match': '"x"' } })
  t.equal(failed.status, 412)
  t.equal(failed.text, '')
  t.equal((await rawS3(node, { method: 'HEAD', path: `/${B}/data`, headers: { 'if-none-match': ETag ?? '' } })).status, 304)
})

t.test('Content-MD5 - a wrong digest → BadDigest 400; a malformed one → InvalidDigest 400; the right one is accepted', async t => {
  const body = 'checked body'
  const good = Buffer.from(md5(Buffer.from(body)), 'hex').toString('base64')
  const ok = await rawS3(node, { method: 'PUT', path: `/${B}/md5`, headers: { 'content-md5': good }, body })
  t.equal(ok.status, 200)
  const bad = await rawS3(node, { method: 'PUT', path: `/${B}/md5`, headers: { 'content-md5': Buffer.alloc(16).toString('base64') }, body })
  t.equal(bad.status, 400)
  t.equal(xmlValue(bad.text, 'Code'), 'BadDigest')
  const invalid = await rawS3(node, { method: 'PUT', path: `/${B}/md5`, headers: { 'content-md5': 'not-md5' }, body })
  t.equal(invalid.status, 400)
  t.equal(xmlValue(invalid.text, 'Code'), 'InvalidDigest')
})

t.test('checksums - each algorithm is stored, returned on PUT and by GET/HEAD with ChecksumMode ENABLED', async t => {
  for (const algo of ['CRC32', 'CRC32C', 'SHA1', 'SHA256'] as const) {
    const key = `sum-${algo}`
    const put = await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: BODY, ChecksumAlgorithm: algo }))
    const member = `Checksum${algo}` as const
    t.ok(put[member], `${algo} on PUT`)
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: key, ChecksumMode: 'ENABLED' }))
    t.equal(head[member], put[member], `${algo} on HEAD`)
    const got = await s3.send(new GetObjectCommand({ Bucket: B, Key: key, ChecksumMode: 'ENABLED' }))
    t.equal(got[member], put[member], `${algo} on GET`)
    t.same(Buffer.from(await got.Body?.transformToByteArray() ?? []), BODY)
    t.equal((await s3.send(new HeadObjectCommand({ Bucket: B, Key: key })))[member], undefined, 'not without ChecksumMode')
  }
})

t.test('checksums - a mismatching x-amz-checksum-* → BadDigest 400; a malformed one or two → InvalidRequest 400', async t => {
  const body = 'some bytes'
  const mismatch = await rawS3(node, { method: 'PUT', path: `/${B}/sum-bad`, headers: { 'x-amz-checksum-crc32': 'AAAAAA==' }, body })
  t.equal(mismatch.status, 400)
  t.equal(xmlValue(mismatch.text, 'Code'), 'BadDigest')
  t.equal(xmlValue(mismatch.text, 'Message'), 'The CRC32 you specified did not match the calculated checksum.')
  const sha = await rawS3(node, { method: 'PUT', path: `/${B}/sum-bad`, headers: { 'x-amz-checksum-sha256': Buffer.alloc(32).toString('base64') }, body })
  t.equal(xmlValue(sha.text, 'Code'), 'BadDigest')
  const malformed = await rawS3(node, { method: 'PUT', path: `/${B}/sum-bad`, headers: { 'x-amz-checksum-crc32c': 'zz' }, body })
  t.equal(malformed.status, 400)
  t.equal(xmlValue(malformed.text, 'Code'), 'InvalidRequest')
  const two = await rawS3(node, { method: 'PUT', path: `/${B}/sum-bad`, headers: { 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-checksum-crc32c': 'AAAAAA==' }, body })
  t.equal(xmlValue(two.text, 'Code'), 'InvalidRequest')
  await rejectsWith(t, s3.send(new HeadObjectCommand({ Bucket: B, Key: 'sum-bad' })), 'NotFound', 404)
})

t.test('DeleteObject answers 204, also for a key that does not exist', async t => {
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'doomed', Body: 'x' }))
  t.equal((await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'doomed' }))).$metadata.httpStatusCode, 204)
  await rejectsWith(t, s3.send(new GetObjectCommand({ Bucket: B, Key: 'doomed' })), 'NoSuchKey', 404)
  t.equal((await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'doomed' }))).$metadata.httpStatusCode, 204)
})

t.test('DeleteObjects - reports every key deleted (missing ones too), nothing in Quiet mode, per-key errors', async t => {
  for (const k of ['del-1', 'del-2', 'del-3']) await s3.send(new PutObjectCommand({ Bucket: B, Key: k, Body: k }))
  const out = await s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: 'del-1' }, { Key: 'del-2' }, { Key: 'never' }, { Key: 'del-3', VersionId: 'v123' }] } }))
  t.same((out.Deleted ?? []).map(d => d.Key).sort(), ['del-1', 'del-2', 'never'])
  t.same(out.Errors?.map(e => [e.Key, e.Code]), [['del-3', 'NoSuchVersion']])
  const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: 'del-3' }], Quiet: true } }))
  t.equal(quiet.Deleted, undefined)
  t.equal(quiet.Errors, undefined)
  const left = await s3.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'del-' }))
  t.equal(left.KeyCount, 0)
})

t.test('DeleteObjects of more than 1000 keys → MalformedXML 400', async t => {
  const Objects = Array.from({ length: 1001 }, (_, i) => ({ Key: `k${i}` }))
  await rejectsWith(t, s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects } })), 'MalformedXML', 400)
})

t.test('CopyObject - COPY keeps metadata and content headers; the copy has its own bytes', async t => {
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'src', Body: BODY, ContentType: 'image/png', Metadata: { a: '1' }, Tagging: 'k=v' }))
  const out = await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'dst', CopySource: `${B}/src` }))
  t.equal(out.CopyObjectResult?.ETag, `"${md5(BODY)}"`)
  t.ok(out.CopyObjectResult?.LastModified instanceof Date)
  await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'src' }))
  const got = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'dst' }))
  t.equal(got.ContentType, 'image/png')
  t.same(got.Metadata, { a: '1' })
  t.equal(got.TagCount, 1)
  t.same(Buffer.from(await got.Body?.transformToByteArray() ?? []), BODY)
})

t.test('CopyObject - REPLACE takes the request\'s metadata; TaggingDirective REPLACE its tags', async t => {
  await s3.send(new CopyObjectCommand({
    Bucket: B, Key: 'dst2', CopySource: `${B}/dst`, MetadataDirective: 'REPLACE', ContentType: 'text/csv', Metadata: { b: '2' },
    TaggingDirective: 'REPLACE', Tagging: 'x=1&y=2'
  }))
  const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'dst2' }))
  t.equal(head.ContentType, 'text/csv')
  t.same(head.Metadata, { b: '2' })
  t.same((await s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'dst2' }))).TagSet, [{ Key: 'x', Value: '1' }, { Key: 'y', Value: '2' }])
})

t.test('CopyObject - onto itself without a change → InvalidRequest 400; with REPLACE it updates the metadata', async t => {
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'dst', CopySource: `${B}/dst` })), 'InvalidRequest', 400)
  await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'dst', CopySource: `/${B}/dst`, MetadataDirective: 'REPLACE', Metadata: { fresh: 'yes' } }))
  const got = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'dst' }))
  t.same(got.Metadata, { fresh: 'yes' })
  t.same(Buffer.from(await got.Body?.transformToByteArray() ?? []), BODY)
})

t.test('CopyObject - a URL-encoded source key with unicode, spaces and ?versionId=null', async t => {
  const key = 'dir/ünï cødé+&?.txt'
  await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: 'unicode' }))
  await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'uni-copy', CopySource: `${B}/${encodeURIComponent(key)}?versionId=null` }))
  t.equal(await (await s3.send(new GetObjectCommand({ Bucket: B, Key: 'uni-copy' }))).Body?.transformToString(), 'unicode')
})

t.test('CopyObject - errors: missing source key, missing source bucket, no key, a version id, failed source conditions', async t => {
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: `${B}/nothing-here` })), 'NoSuchKey', 404)
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: 'no-such-bucket/k' })), 'NoSuchBucket', 404)
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: B })), 'InvalidArgument', 400)
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: `${B}/dst?versionId=abc` })), 'InvalidArgument', 400)
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: `${B}/dst`, CopySourceIfMatch: '"nope"' })), 'PreconditionFailed', 412)
  const { ETag } = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'dst' }))
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: `${B}/dst`, CopySourceIfNoneMatch: ETag })), 'PreconditionFailed', 412)
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: `${B}/dst`, CopySourceIfModifiedSince: new Date(Date.now() + 3600_000) })),
    'PreconditionFailed', 412)
  await rejectsWith(t, s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: `${B}/dst`, MetadataDirective: 'MERGE' as 'COPY' })), 'InvalidArgument', 400)
  const ok = await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'c', CopySource: `${B}/dst`, CopySourceIfMatch: ETag, CopySourceIfUnmodifiedSince: new Date(Date.now() - 3600_000) }))
  t.equal(ok.$metadata.httpStatusCode, 200, 'If-Match true wins over If-Unmodified-Since false')
})

t.test('GET with a version id other than null → InvalidArgument 400', async t => {
  await rejectsWith(t, get({ Key: 'data', VersionId: '3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY' }), 'InvalidArgument', 400)
  t.equal((await get({ Key: 'data', VersionId: 'null' })).status, 200)
})
