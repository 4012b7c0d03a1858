import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand,
  HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
  type CompletedPart
} from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import t from 'tap'
import { startNode } from '../helpers/node.js'
import { pattern, rawS3, rejectsWith, s3Client, xmlValue } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
t.teardown(async () => { await node.stop() })
const s3 = s3Client(node)
const B = 'multipart'
await s3.send(new CreateBucketCommand({ Bucket: B }))

const MIB5 = 5 * 1024 * 1024
const P1 = pattern(MIB5, 1)
const P2 = pattern(MIB5, 2)
const P3 = pattern(1024, 3)

function multipartEtag (parts: Buffer[]): string {
  const md5s = Buffer.concat(parts.map(p => createHash('md5').update(p).digest()))
  return `"${createHash('md5').update(md5s).digest('hex')}-${parts.length}"`
}

async function upload (Key: string, bodies: Buffer[]): Promise<{ UploadId: string, parts: CompletedPart[] }> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key }))
  const parts: CompletedPart[] = []
  for (const [i, Body] of bodies.entries()) {
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket: B, Key, UploadId, PartNumber: i + 1, Body }))
    parts.push({ PartNumber: i + 1, ETag })
  }
  return { UploadId: UploadId as string, parts }
}

async function bytesOf (Key: string, extra: { PartNumber?: number } = {}): Promise<{ body: Buffer, status: number | undefined, range: string | undefined, parts: number | undefined }> {
  const out = await s3.send(new GetObjectCommand({ Bucket: B, Key, ...extra }))
  return { body: Buffer.from(await out.Body?.transformToByteArray() ?? []), status: out.$metadata.httpStatusCode, range: out.ContentRange, parts: out.PartsCount }
}

t.test('upload, list parts, complete: the object is the parts in order with S3\'s md5-of-md5s ETag', async t => {
  const { UploadId, parts } = await upload('big', [P1, P2, P3])
  const page1 = await s3.send(new ListPartsCommand({ Bucket: B, Key: 'big', UploadId, MaxParts: 2 }))
  t.same(page1.Parts?.map(p => [p.PartNumber, p.Size]), [[1, MIB5], [2, MIB5]])
  t.equal(page1.IsTruncated, true)
  t.equal(page1.NextPartNumberMarker, '2')
  t.equal(page1.Initiator?.ID, node.accountId)
  const page2 = await s3.send(new ListPartsCommand({ Bucket: B, Key: 'big', UploadId, PartNumberMarker: '2' }))
  t.same(page2.Parts?.map(p => [p.PartNumber, p.ETag]), [[3, parts[2].ETag]])
  t.equal(page2.IsTruncated, false)

  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'big', UploadId, MultipartUpload: { Parts: parts } }))
  t.equal(done.ETag, multipartEtag([P1, P2, P3]))
  t.equal(done.Key, 'big')
  const whole = await bytesOf('big')
  t.ok(whole.body.equals(Buffer.concat([P1, P2, P3])), 'bytes match')
  const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'big' }))
  t.equal(head.ContentLength, 2 * MIB5 + 1024)
  t.equal(head.ETag, done.ETag)
  await rejectsWith(t, s3.send(new ListPartsCommand({ Bucket: B, Key: 'big', UploadId })), 'NoSuchUpload', 404)
})

t.test('GET with partNumber of a multipart object → that part, 206, with x-amz-mp-parts-count', async t => {
  const part2 = await bytesOf('big', { PartNumber: 2 })
  t.equal(part2.status, 206)
  t.equal(part2.range, `bytes ${MIB5}-${2 * MIB5 - 1}/${2 * MIB5 + 1024}`)
  t.equal(part2.parts, 3)
  t.ok(part2.body.equals(P2))
  const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'big', PartNumber: 3 }))
  t.equal(head.ContentLength, 1024)
  t.equal(head.PartsCount, 3)
  await rejectsWith(t, bytesOf('big', { PartNumber: 4 }), 'InvalidPartNumber', 416)
})

t.test('ranged GET across a part boundary', async t => {
  const out = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'big', Range: `bytes=${MIB5 - 10}-${MIB5 + 9}` }))
  const body = Buffer.from(await out.Body?.transformToByteArray() ?? [])
  t.ok(body.equals(Buffer.concat([P1.subarray(MIB5 - 10), P2.subarray(0, 10)])))
})

t.test('a part other than the last under 5 MiB → EntityTooSmall 400', async t => {
  const { UploadId, parts } = await upload('small', [P3, P3])
  const res = await rawS3(node, {
    method: 'POST',
    path: `/${B}/small`,
    query: { uploadId: UploadId },
    body: `<CompleteMultipartUpload>${parts.map(p => `<Part><PartNumber>${p.PartNumber ?? 0}</PartNumber><ETag>${p.ETag ?? ''}</ETag></Part>`).join('')}</CompleteMultipartUpload>`
  })
  t.equal(res.status, 400)
  t.equal(xmlValue(res.text, 'Code'), 'EntityTooSmall')
  t.equal(xmlValue(res.text, 'ProposedSize'), '1024')
  t.equal(xmlValue(res.text, 'MinSizeAllowed'), String(MIB5))
  await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'small', UploadId }))
})

t.test('parts out of order → InvalidPartOrder 400; an unknown part or wrong ETag → InvalidPart 400', async t => {
  const { UploadId, parts } = await upload('order', [P1, P3])
  const complete = (Parts: CompletedPart[]): Promise<unknown> =>
    s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'order', UploadId, MultipartUpload: { Parts } }))
  await rejectsWith(t, complete([parts[1], parts[0]]), 'InvalidPartOrder', 400)
  await rejectsWith(t, complete([parts[0], parts[0]]), 'InvalidPartOrder', 400)
  await rejectsWith(t, complete([parts[0], { PartNumber: 2, ETag: '"00000000000000000000000000000000"' }]), 'InvalidPart', 400)
  await rejectsWith(t, complete([parts[0], { PartNumber: 7, ETag: parts[1].ETag }]), 'InvalidPart', 400)
  const done = await complete([parts[0], parts[1]])
  t.ok(done)
  t.ok((await bytesOf('order')).body.equals(Buffer.concat([P1, P3])))
})

t.test('completing with a subset of parts keeps only those; re-uploading a part replaces it', async t => {
  const { UploadId, parts } = await upload('subset', [P3, P3, P1])
  const { ETag } = await s3.send(new UploadPartCommand({ Bucket: B, Key: 'subset', UploadId, PartNumber: 1, Body: P2 }))
  const listed = await s3.send(new ListPartsCommand({ Bucket: B, Key: 'subset', UploadId }))
  t.equal(listed.Parts?.length, 3)
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'subset', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }, parts[2]] } }))
  t.ok((await bytesOf('subset')).body.equals(Buffer.concat([P2, P1])))
})

t.test('an unknown upload id → NoSuchUpload 404 on every upload operation', async t => {
  const UploadId = 'bm8tc3VjaC11cGxvYWQ'
  await rejectsWith(t, s3.send(new UploadPartCommand({ Bucket: B, Key: 'x', UploadId, PartNumber: 1, Body: 'x' })), 'NoSuchUpload', 404)
  await rejectsWith(t, s3.send(new ListPartsCommand({ Bucket: B, Key: 'x', UploadId })), 'NoSuchUpload', 404)
  await rejectsWith(t, s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'x', UploadId })), 'NoSuchUpload', 404)
  await rejectsWith(t, s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'x', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"x"' }] } })),
    'NoSuchUpload', 404)
  await rejectsWith(t, s3.send(new ListPartsCommand({ Bucket: B, Key: 'x', UploadId: 'has.dots*and>wildcards' })), 'NoSuchUpload', 404)
})

t.test('an upload id used with another key → NoSuchUpload 404', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'mine' }))
  await rejectsWith(t, s3.send(new UploadPartCommand({ Bucket: B, Key: 'other', UploadId, PartNumber: 1, Body: 'x' })), 'NoSuchUpload', 404)
  await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'mine', UploadId }))
})

t.test('a part number outside 1–10000 → InvalidArgument 400', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'pn' }))
  for (const PartNumber of [0, 10001]) {
    await rejectsWith(t, s3.send(new UploadPartCommand({ Bucket: B, Key: 'pn', UploadId, PartNumber, Body: 'x' })), 'InvalidArgument', 400)
  }
  await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'pn', UploadId }))
})

t.test('AbortMultipartUpload answers 204; the upload is gone', async t => {
  const { UploadId } = await upload('aborted', [P3])
  t.equal((await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'aborted', UploadId }))).$metadata.httpStatusCode, 204)
  await rejectsWith(t, s3.send(new ListPartsCommand({ Bucket: B, Key: 'aborted', UploadId })), 'NoSuchUpload', 404)
  await rejectsWith(t, s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'aborted', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"x"' }] } })),
    'NoSuchUpload', 404)
  await rejectsWith(t, s3.send(new HeadObjectCommand({ Bucket: B, Key: 'aborted' })), 'NotFound', 404)
})

t.test('ListMultipartUploads - by key then initiation, prefix, delimiter, and paging by key-marker/upload-id-marker', async t => {
  const made: Array<[string, string]> = []
  for (const Key of ['a/1', 'a/2', 'b', 'b', 'c d']) {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key }))
    made.push([Key, UploadId as string])
  }
  t.teardown(async () => { for (const [Key, UploadId] of made) await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key, UploadId })) })
  const all = await s3.send(new ListMultipartUploadsCommand({ Bucket: B }))
  t.same(all.Uploads?.map(u => [u.Key, u.UploadId]), made)
  t.ok(all.Uploads?.every(u => u.Initiated instanceof Date && u.Owner?.ID === node.accountId))

  const rolled = await s3.send(new ListMultipartUploadsCommand({ Bucket: B, Delimiter: '/' }))
  t.same(rolled.CommonPrefixes?.map(p => p.Prefix), ['a/'])
  t.same(rolled.Uploads?.map(u => u.Key), ['b', 'b', 'c d'])
  t.same((await s3.send(new ListMultipartUploadsCommand({ Bucket: B, Prefix: 'a/' }))).Uploads?.map(u => u.Key), ['a/1', 'a/2'])

  const seen: Array<[string, string]> = []
  let KeyMarker: string | undefined
  let UploadIdMarker: string | undefined
  for (;;) {
    const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: B, MaxUploads: 2, KeyMarker, UploadIdMarker }))
    seen.push(...(out.Uploads ?? []).map(u => [u.Key, u.UploadId] as [string, string]))
    if (out.IsTruncated !== true) break
    KeyMarker = out.NextKeyMarker
    UploadIdMarker = out.NextUploadIdMarker
  }
  t.same(seen, made)
  const afterB = await s3.send(new ListMultipartUploadsCommand({ Bucket: B, KeyMarker: 'b' }))
  t.same(afterB.Uploads?.map(u => u.Key), ['c d'])
})

t.test('UploadPartCopy copies byte ranges of an object into parts', async t => {
  const source = Buffer.concat([P1, P3])
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'copy-src', Body: source }))
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'copy-dst' }))
  const first = await s3.send(new UploadPartCopyCommand({ Bucket: B, Key: 'copy-dst', UploadId, PartNumber: 1, CopySource: `${B}/copy-src`, CopySourceRange: `bytes=0-${MIB5 - 1}` }))
  const second = await s3.send(new UploadPartCopyCommand({ Bucket: B, Key: 'copy-dst', UploadId, PartNumber: 2, CopySource: `${B}/copy-src`, CopySourceRange: `bytes=${MIB5}-${MIB5 + 99}` }))
  t.ok(first.CopyPartResult?.LastModified instanceof Date)
  await s3.send(new CompleteMultipartUploadCommand({
    Bucket: B, Key: 'copy-dst', UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.CopyPartResult?.ETag }, { PartNumber: 2, ETag: second.CopyPartResult?.ETag }] }
  }))
  t.ok((await bytesOf('copy-dst')).body.equals(source.subarray(0, MIB5 + 100)))
})

t.test('UploadPartCopy - a malformed or out-of-bounds x-amz-copy-source-range → InvalidArgument 400', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'copy-bad' }))
  for (const CopySourceRange of ['bytes=10-5', 'bytes=0-', 'items=0-1', `bytes=0-${MIB5 + 1024}`]) {
    await rejectsWith(t, s3.send(new UploadPartCopyCommand({ Bucket: B, Key: 'copy-bad', UploadId, PartNumber: 1, CopySource: `${B}/copy-src`, CopySourceRange })),
      'InvalidArgument', 400)
  }
  await rejectsWith(t, s3.send(new UploadPartCopyCommand({ Bucket: B, Key: 'copy-bad', UploadId, PartNumber: 1, CopySource: `${B}/absent` })), 'NoSuchKey', 404)
  await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'copy-bad', UploadId }))
})

t.test('an upload with a checksum algorithm gets a composite checksum: checksum of the part checksums, -N', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'summed', ChecksumAlgorithm: 'SHA256' }))
  const parts: CompletedPart[] = []
  for (const [i, Body] of [P1, P3].entries()) {
    const out = await s3.send(new UploadPartCommand({ Bucket: B, Key: 'summed', UploadId, PartNumber: i + 1, Body, ChecksumAlgorithm: 'SHA256' }))
    t.equal(out.ChecksumSHA256, createHash('sha256').update(Body).digest('base64'))
    parts.push({ PartNumber: i + 1, ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256 })
  }
  const listed = await s3.send(new ListPartsCommand({ Bucket: B, Key: 'summed', UploadId }))
  t.equal(listed.ChecksumAlgorithm, 'SHA256')
  t.equal(listed.Parts?.[0].ChecksumSHA256, parts[0].ChecksumSHA256)
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'summed', UploadId, MultipartUpload: { Parts: parts } }))
  const raw = Buffer.concat(parts.map(p => Buffer.from(p.ChecksumSHA256 ?? '', 'base64')))
  const expected = `${createHash('sha256').update(raw).digest('base64')}-2`
  t.equal(done.ChecksumSHA256, expected)
  t.equal((await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'summed', ChecksumMode: 'ENABLED' }))).ChecksumSHA256, expected)
})

t.test('a part whose checksum in CompleteMultipartUpload differs from the uploaded one → InvalidPart 400', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'summed2', ChecksumAlgorithm: 'CRC32' }))
  const out = await s3.send(new UploadPartCommand({ Bucket: B, Key: 'summed2', UploadId, PartNumber: 1, Body: P3, ChecksumAlgorithm: 'CRC32' }))
  await rejectsWith(t, s3.send(new CompleteMultipartUploadCommand({
    Bucket: B, Key: 'summed2', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: out.ETag, ChecksumCRC32: 'AAAAAA==' }] }
  })), 'InvalidPart', 400)
  await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'summed2', UploadId }))
})

t.test('CompleteMultipartUpload without parts → MalformedXML 400', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'none' }))
  const res = await rawS3(node, { method: 'POST', path: `/${B}/none`, query: { uploadId: UploadId ?? '' }, body: '<CompleteMultipartUpload></CompleteMultipartUpload>' })
  t.equal(res.status, 400)
  t.equal(xmlValue(res.text, 'Code'), 'MalformedXML')
  await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'none', UploadId }))
})
