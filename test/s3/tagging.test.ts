import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectTaggingCommand, GetObjectCommand,
  GetObjectTaggingCommand, PutObjectCommand, PutObjectTaggingCommand, UploadPartCommand
} from '@aws-sdk/client-s3'
import t from 'tap'
import { startNode } from '../helpers/node.js'
import { rawS3, rejectsWith, s3Client, xmlValue } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
t.teardown(async () => { await node.stop() })
const s3 = s3Client(node)
const B = 'tagging'
await s3.send(new CreateBucketCommand({ Bucket: B }))

const tags = async (Key: string): Promise<unknown> => (await s3.send(new GetObjectTaggingCommand({ Bucket: B, Key }))).TagSet

t.test('x-amz-tagging on PutObject sets the tags (by key; a bare key has the empty value); GET counts them', async t => {
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'k', Body: 'x', Tagging: 'team=a%20b&env=prod+1&flag' }))
  t.same(await tags('k'), [{ Key: 'env', Value: 'prod 1' }, { Key: 'flag', Value: '' }, { Key: 'team', Value: 'a b' }])
  t.equal((await s3.send(new GetObjectCommand({ Bucket: B, Key: 'k' }))).TagCount, 3)
})

t.test('an untagged object has an empty TagSet and no tag count', async t => {
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'plain', Body: 'x' }))
  t.same(await tags('plain'), [])
  t.equal((await s3.send(new GetObjectCommand({ Bucket: B, Key: 'plain' }))).TagCount, undefined)
})

t.test('PutObjectTagging replaces the set; DeleteObjectTagging empties it with 204', async t => {
  await s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'k', Tagging: { TagSet: [{ Key: 'new', Value: 'one' }] } }))
  t.same(await tags('k'), [{ Key: 'new', Value: 'one' }])
  t.equal((await s3.send(new DeleteObjectTaggingCommand({ Bucket: B, Key: 'k' }))).$metadata.httpStatusCode, 204)
  t.same(await tags('k'), [])
})

t.test('tagging a missing key → NoSuchKey 404', async t => {
  await rejectsWith(t, s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'nope' })), 'NoSuchKey', 404)
  await rejectsWith(t, s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'nope', Tagging: { TagSet: [] } })), 'NoSuchKey', 404)
  await rejectsWith(t, s3.send(new DeleteObjectTaggingCommand({ Bucket: B, Key: 'nope' })), 'NoSuchKey', 404)
})

t.test('limits - 10 tags are fine; 11 → BadRequest 400 (as S3 answers)', async t => {
  const set = (n: number): Array<{ Key: string, Value: string }> => Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: 'v' }))
  await s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'k', Tagging: { TagSet: set(10) } }))
  await rejectsWith(t, s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'k', Tagging: { TagSet: set(11) } })), 'BadRequest', 400)
  const header = set(11).map(x => `${x.Key}=${x.Value}`).join('&')
  await rejectsWith(t, s3.send(new PutObjectCommand({ Bucket: B, Key: 'k11', Body: 'x', Tagging: header })), 'BadRequest', 400)
})

t.test('limits - a 129-character key or 257-character value, duplicates, aws: keys → InvalidTag 400', async t => {
  await s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'k', Tagging: { TagSet: [{ Key: 'k'.repeat(128), Value: 'v'.repeat(256) }] } }))
  const put = (TagSet: Array<{ Key: string, Value: string }>): Promise<unknown> => s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'k', Tagging: { TagSet } }))
  await rejectsWith(t, put([{ Key: 'k'.repeat(129), Value: 'v' }]), 'InvalidTag', 400)
  await rejectsWith(t, put([{ Key: 'k', Value: 'v'.repeat(257) }]), 'InvalidTag', 400)
  await rejectsWith(t, put([{ Key: 'd', Value: '1' }, { Key: 'd', Value: '2' }]), 'InvalidTag', 400)
  await rejectsWith(t, put([{ Key: 'aws:x', Value: '1' }]), 'InvalidTag', 400)
  await rejectsWith(t, put([{ Key: 'bad{char}', Value: '1' }]), 'InvalidTag', 400)
})

t.test('a malformed x-amz-tagging header (a repeated key, a pair with two =) → InvalidArgument 400', async t => {
  for (const header of ['a=1&a=2', 'a=b=c']) {
    const res = await rawS3(node, { method: 'PUT', path: `/${B}/hdr`, headers: { 'x-amz-tagging': header }, body: 'x' })
    t.equal(res.status, 400, header)
    t.equal(xmlValue(res.text, 'Code'), 'InvalidArgument', header)
  }
})

t.test('CreateMultipartUpload\'s x-amz-tagging lands on the completed object', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'mpu', Tagging: 'from=upload' }))
  const { ETag } = await s3.send(new UploadPartCommand({ Bucket: B, Key: 'mpu', UploadId, PartNumber: 1, Body: 'only part' }))
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'mpu', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }))
  t.same(await tags('mpu'), [{ Key: 'from', Value: 'upload' }])
})
