import {
  CreateBucketCommand, DeleteBucketCommand, DeleteBucketTaggingCommand, GetBucketLocationCommand, GetBucketTaggingCommand,
  HeadBucketCommand, ListBucketsCommand, PutBucketTaggingCommand, PutObjectCommand, DeleteObjectCommand, ListObjectsV2Command,
  type BucketLocationConstraint
} from '@aws-sdk/client-s3'
import t from 'tap'
import { aws, startNode } from '../helpers/node.js'
import { isValidBucketName } from '../../plugins/s3/names.js'
import { rawS3, rejectsWith, s3Client, xmlValue } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
t.teardown(async () => { await node.stop() })
const s3 = s3Client(node)

t.test('bucket names - AWS\'s rules for new buckets', async t => {
  for (const ok of ['abc', 'a-b.c', '123', 'my.bucket.name', 'a'.repeat(63), 'xn-a', 'a-s3alias-b']) t.ok(isValidBucketName(ok), ok)
  for (const bad of ['ab', 'a'.repeat(64), 'Abc', 'a_b', '-abc', 'abc-', '.abc', 'abc.', 'a..b', '192.168.5.4', 'xn--abc',
    'sthree-abc', 'amzn-s3-demo-x', 'abc-s3alias', 'abc--ol-s3', 'abc.mrap', 'abc--x-s3', 'abc--table-s3', 'a b c', 'abç']) {
    t.notOk(isValidBucketName(bad), bad)
  }
})

t.test('CreateBucket with an invalid name → InvalidBucketName 400 naming the bucket', async t => {
  await rejectsWith(t, s3.send(new CreateBucketCommand({ Bucket: 'a..b' })), 'InvalidBucketName', 400)
  const res = await rawS3(node, { method: 'PUT', path: '/192.168.1.1' })
  t.equal(res.status, 400)
  t.equal(xmlValue(res.text, 'Code'), 'InvalidBucketName')
  t.equal(xmlValue(res.text, 'BucketName'), '192.168.1.1')
})

t.test('aws s3 mb / ls / rb round trip', async t => {
  t.equal(aws(node, ['s3', 'mb', 's3://cli-bucket']).status, 0)
  t.match(aws(node, ['s3', 'ls']).stdout, /cli-bucket/)
  t.equal(aws(node, ['s3', 'rb', 's3://cli-bucket']).status, 0)
  t.notMatch(aws(node, ['s3', 'ls']).stdout, /cli-bucket/)
})

t.test('ListBuckets lists the caller\'s buckets by name with their creation dates', async t => {
  await s3.send(new CreateBucketCommand({ Bucket: 'list-b' }))
  await s3.send(new CreateBucketCommand({ Bucket: 'list-a' }))
  t.teardown(async () => {
    await s3.send(new DeleteBucketCommand({ Bucket: 'list-a' }))
    await s3.send(new DeleteBucketCommand({ Bucket: 'list-b' }))
  })
  const out = await s3.send(new ListBucketsCommand({}))
  const names = (out.Buckets ?? []).map(b => b.Name)
  t.ok(names.indexOf('list-a') < names.indexOf('list-b') && names.includes('list-a'))
  t.ok(out.Buckets?.every(b => b.CreationDate instanceof Date))
  t.equal(out.Owner?.ID, node.accountId)
})

t.test('in us-east-1: re-creating your own bucket succeeds (S3\'s legacy behaviour)', async t => {
  await s3.send(new CreateBucketCommand({ Bucket: 'again' }))
  t.teardown(async () => { await s3.send(new DeleteBucketCommand({ Bucket: 'again' })) })
  const out = await s3.send(new CreateBucketCommand({ Bucket: 'again' }))
  t.equal(out.$metadata.httpStatusCode, 200)
  t.equal(out.Location, '/again')
})

t.test('in us-east-1: LocationConstraint us-east-1 → InvalidLocationConstraint 400', async t => {
  await rejectsWith(t, s3.send(new CreateBucketCommand({ Bucket: 'lc-east', CreateBucketConfiguration: { LocationConstraint: 'us-east-1' as BucketLocationConstraint } })),
    'InvalidLocationConstraint', 400)
})

t.test('in us-east-1: another region\'s constraint → IllegalLocationConstraintException 400', async t => {
  await rejectsWith(t, s3.send(new CreateBucketCommand({ Bucket: 'lc-west', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })),
    'IllegalLocationConstraintException', 400)
})

t.test('a constraint that is no region → InvalidLocationConstraint 400', async t => {
  await rejectsWith(t, s3.send(new CreateBucketCommand({ Bucket: 'lc-bogus', CreateBucketConfiguration: { LocationConstraint: 'moon-base' as BucketLocationConstraint } })),
    'InvalidLocationConstraint', 400)
})

t.test('GetBucketLocation of a us-east-1 bucket is empty (null)', async t => {
  await s3.send(new CreateBucketCommand({ Bucket: 'where' }))
  t.teardown(async () => { await s3.send(new DeleteBucketCommand({ Bucket: 'where' })) })
  const out = await s3.send(new GetBucketLocationCommand({ Bucket: 'where' }))
  t.notOk(out.LocationConstraint)
  t.same(aws(node, ['s3api', 'get-bucket-location', '--bucket', 'where']).json, { LocationConstraint: null })
})

t.test('HeadBucket of a missing bucket → 404 without a body', async t => {
  await rejectsWith(t, s3.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' })), 'NotFound', 404)
  const res = await rawS3(node, { method: 'HEAD', path: '/no-such-bucket' })
  t.equal(res.status, 404)
  t.equal(res.text, '')
})

t.test('operations on a missing bucket → NoSuchBucket 404 with BucketName', async t => {
  await rejectsWith(t, s3.send(new ListObjectsV2Command({ Bucket: 'no-such-bucket' })), 'NoSuchBucket', 404)
  await rejectsWith(t, s3.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'k', Body: 'x' })), 'NoSuchBucket', 404)
  await rejectsWith(t, s3.send(new DeleteBucketCommand({ Bucket: 'no-such-bucket' })), 'NoSuchBucket', 404)
  const res = await rawS3(node, { path: '/no-such-bucket/key' })
  t.equal(res.status, 404)
  t.equal(xmlValue(res.text, 'Code'), 'NoSuchBucket')
  t.equal(xmlValue(res.text, 'BucketName'), 'no-such-bucket')
})

t.test('ExpectedBucketOwner of another account → AccessDenied 403', async t => {
  await s3.send(new CreateBucketCommand({ Bucket: 'owned' }))
  t.teardown(async () => { await s3.send(new DeleteBucketCommand({ Bucket: 'owned' })) })
  await s3.send(new HeadBucketCommand({ Bucket: 'owned', ExpectedBucketOwner: node.accountId }))
  await rejectsWith(t, s3.send(new ListObjectsV2Command({ Bucket: 'owned', ExpectedBucketOwner: '999999999999' })), 'AccessDenied', 403)
})

t.test('DeleteBucket of a bucket holding objects → BucketNotEmpty 409; empty → 204', async t => {
  await s3.send(new CreateBucketCommand({ Bucket: 'full' }))
  await s3.send(new PutObjectCommand({ Bucket: 'full', Key: 'k', Body: 'x' }))
  const err = await rejectsWith(t, s3.send(new DeleteBucketCommand({ Bucket: 'full' })), 'BucketNotEmpty', 409)
  t.equal(err.BucketName, 'full')
  await s3.send(new DeleteObjectCommand({ Bucket: 'full', Key: 'k' }))
  const out = await s3.send(new DeleteBucketCommand({ Bucket: 'full' }))
  t.equal(out.$metadata.httpStatusCode, 204)
  await rejectsWith(t, s3.send(new HeadBucketCommand({ Bucket: 'full' })), 'NotFound', 404)
})

t.test('bucket tagging - none → NoSuchTagSet 404; put, get, replace, delete', async t => {
  await s3.send(new CreateBucketCommand({ Bucket: 'tagged' }))
  t.teardown(async () => { await s3.send(new DeleteBucketCommand({ Bucket: 'tagged' })) })
  await rejectsWith(t, s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged' })), 'NoSuchTagSet', 404)
  await s3.send(new PutBucketTaggingCommand({ Bucket: 'tagged', Tagging: { TagSet: [{ Key: 'team', Value: 'storage' }, { Key: 'env', Value: '' }] } }))
  t.same((await s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged' }))).TagSet, [{ Key: 'env', Value: '' }, { Key: 'team', Value: 'storage' }])
  await s3.send(new PutBucketTaggingCommand({ Bucket: 'tagged', Tagging: { TagSet: [{ Key: 'only', Value: 'one' }] } }))
  t.same((await s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged' }))).TagSet, [{ Key: 'only', Value: 'one' }])
  t.equal((await s3.send(new DeleteBucketTaggingCommand({ Bucket: 'tagged' }))).$metadata.httpStatusCode, 204)
  await rejectsWith(t, s3.send(new GetBucketTaggingCommand({ Bucket: 'tagged' })), 'NoSuchTagSet', 404)
})

t.test('bucket tagging - duplicate keys, long keys, aws: keys and 51 tags → InvalidTag 400', async t => {
  await s3.send(new CreateBucketCommand({ Bucket: 'badtags' }))
  t.teardown(async () => { await s3.send(new DeleteBucketCommand({ Bucket: 'badtags' })) })
  const put = (TagSet: Array<{ Key: string, Value: string }>): Promise<unknown> => s3.send(new PutBucketTaggingCommand({ Bucket: 'badtags', Tagging: { TagSet } }))
  await rejectsWith(t, put([{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }]), 'InvalidTag', 400)
  await rejectsWith(t, put([{ Key: 'k'.repeat(129), Value: '1' }]), 'InvalidTag', 400)
  await rejectsWith(t, put([{ Key: 'k', Value: 'v'.repeat(257) }]), 'InvalidTag', 400)
  await rejectsWith(t, put([{ Key: 'aws:owner', Value: 'me' }]), 'InvalidTag', 400)
  await rejectsWith(t, put(Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }))), 'InvalidTag', 400)
  await put(Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })))
  t.equal((await s3.send(new GetBucketTaggingCommand({ Bucket: 'badtags' }))).TagSet?.length, 50)
})

t.test('outside us-east-1', async t => {
  const west = await startNode({ caps: ['s3'], args: ['--region', 'eu-west-2'] })
  t.teardown(async () => { await west.stop() })
  const w = s3Client(west)

  t.test('aws s3 mb sends the region as constraint; GetBucketLocation answers it', async t => {
    t.equal(aws(west, ['s3', 'mb', 's3://west-bucket']).status, 0)
    t.equal((await w.send(new GetBucketLocationCommand({ Bucket: 'west-bucket' }))).LocationConstraint, 'eu-west-2')
  })

  t.test('re-creating your own bucket → BucketAlreadyOwnedByYou 409', async t => {
    const err = await rejectsWith(t, w.send(new CreateBucketCommand({ Bucket: 'west-bucket', CreateBucketConfiguration: { LocationConstraint: 'eu-west-2' } })),
      'BucketAlreadyOwnedByYou', 409)
    t.equal(err.BucketName, 'west-bucket')
  })

  t.test('no constraint → IllegalLocationConstraintException 400', async t => {
    const res = await rawS3(west, { method: 'PUT', path: '/west-unconstrained' })
    t.equal(res.status, 400)
    t.equal(xmlValue(res.text, 'Code'), 'IllegalLocationConstraintException')
    t.match(xmlValue(res.text, 'Message'), /unspecified location constraint is incompatible/)
  })

  t.test('another region\'s constraint → IllegalLocationConstraintException 400', async t => {
    await rejectsWith(t, w.send(new CreateBucketCommand({ Bucket: 'west-other', CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } })),
      'IllegalLocationConstraintException', 400)
  })
})
