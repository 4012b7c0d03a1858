import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand, type S3Client
} from '@aws-sdk/client-s3'
import t from 'tap'
import { signedFetch } from '../helpers/sign.js'
import { startNode } from '../helpers/node.js'
import { s3Client } from './helpers.js'

const MiB = 1024 * 1024

async function upload (s3: S3Client, bucket: string, key: string): Promise<{ id: string, parts: Array<{ PartNumber: number, ETag: string }> }> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))
  const id = UploadId as string
  const parts = []
  for (const n of [1, 2]) {
    const r = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: n, Body: Buffer.alloc(n === 1 ? 5 * MiB : 100, n) }))
    parts.push({ PartNumber: n, ETag: r.ETag as string })
  }
  return { id, parts }
}

async function settle<T> (p: Promise<T>): Promise<'ok' | string> {
  try { await p; return 'ok' } catch (e) { return (e as { name: string }).name }
}

t.test('concurrent requests on one upload or bucket', async t => {
  const node = await startNode({ caps: ['s3'] })
  t.teardown(async () => { await node.stop() })
  const s3 = s3Client(node)

  await t.test('two CompleteMultipartUploads of one upload: one completes, the other → NoSuchUpload; the object reads back', async t => {
    await s3.send(new CreateBucketCommand({ Bucket: 'race-complete' }))
    const { id, parts } = await upload(s3, 'race-complete', 'obj')
    const complete = (): Promise<unknown> => s3.send(new CompleteMultipartUploadCommand({ Bucket: 'race-complete', Key: 'obj', UploadId: id, MultipartUpload: { Parts: parts } }))
    const outcomes = await Promise.all([settle(complete()), settle(complete())])
    t.same(outcomes.sort(), ['NoSuchUpload', 'ok'])
    const got = await s3.send(new GetObjectCommand({ Bucket: 'race-complete', Key: 'obj' }))
    t.equal((await got.Body?.transformToByteArray())?.length, 5 * MiB + 100, 'the completed object is whole')
  })

  await t.test('Complete racing Abort: exactly one wins, and a completed object stays readable', async t => {
    await s3.send(new CreateBucketCommand({ Bucket: 'race-abort' }))
    const { id, parts } = await upload(s3, 'race-abort', 'obj')
    const [c, a] = await Promise.all([
      settle(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'race-abort', Key: 'obj', UploadId: id, MultipartUpload: { Parts: parts } }))),
      settle(s3.send(new AbortMultipartUploadCommand({ Bucket: 'race-abort', Key: 'obj', UploadId: id })))
    ])
    t.equal([c, a].filter(x => x === 'ok').length, 1, `one of Complete (${c}) and Abort (${a}) succeeds`)
    if (c === 'ok') {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'race-abort', Key: 'obj' }))
      t.equal((await got.Body?.transformToByteArray())?.length, 5 * MiB + 100, 'the completed object is whole')
    }
  })

  await t.test('a Complete naming a wrong ETag → InvalidPart, and the upload stays open for a right one', async t => {
    const { id, parts } = await upload(s3, 'race-complete', 'retry')
    const wrong = [{ ...parts[0], ETag: '"00000000000000000000000000000000"' }, parts[1]]
    t.equal(await settle(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'race-complete', Key: 'retry', UploadId: id, MultipartUpload: { Parts: wrong } }))), 'InvalidPart')
    t.equal(await settle(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'race-complete', Key: 'retry', UploadId: id, MultipartUpload: { Parts: parts } }))), 'ok')
  })

  await t.test('buckets whose names have dots list, and refuse deletion, by their own objects', async t => {
    await s3.send(new CreateBucketCommand({ Bucket: 'abc' }))
    await s3.send(new CreateBucketCommand({ Bucket: 'abc.zzz' }))
    await s3.send(new PutObjectCommand({ Bucket: 'abc.zzz', Key: 'only-in-dotted', Body: 'x' }))
    t.same((await s3.send(new ListObjectsV2Command({ Bucket: 'abc' }))).Contents ?? [], [], 'abc lists nothing of abc.zzz')
    t.same((await s3.send(new ListObjectsV2Command({ Bucket: 'abc.zzz' }))).Contents?.map(o => o.Key), ['only-in-dotted'])
    t.equal(await settle(s3.send(new DeleteBucketCommand({ Bucket: 'abc.zzz' }))), 'BucketNotEmpty')
    t.equal(await settle(s3.send(new DeleteBucketCommand({ Bucket: 'abc' }))), 'ok')
  })

  await t.test('a 304 Not Modified carries the ETag and Last-Modified, and no body', async t => {
    const put = await s3.send(new PutObjectCommand({ Bucket: 'race-complete', Key: 'cached', Body: 'cached body' }))
    const r = await signedFetch(node, { service: 's3', method: 'GET', path: '/race-complete/cached', headers: { 'if-none-match': put.ETag as string } })
    t.equal(r.status, 304)
    t.equal(r.headers.get('etag'), put.ETag)
    t.ok(r.headers.get('last-modified'), 'Last-Modified is there')
    t.equal(r.text, '')
  })
})
