import { GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { connect } from 'nats'
import pino from 'pino'
import t from 'tap'
import { Bus } from '../../core/bus.js'
import { crc32c } from '../../core/index.js'
import { natsServerOptions } from '../../core/nats-server.js'
import { startNode } from '../helpers/node.js'
import { s3Client } from './helpers.js'

t.test('the internal object API: other capabilities store objects in reserved buckets users cannot reach', async t => {
  const node = await startNode({ caps: ['s3'] })
  t.teardown(async () => { await node.stop() })
  const nc = await connect(natsServerOptions(node.natsUrl))
  t.teardown(async () => { await nc.close() })
  // Another capability's node: it serves no s3, so its calls cross the bus.
  const bus = new Bus(nc, { nodeId: 'ebs-node', log: pino({ level: 'silent' }), capabilityOf: async () => 's3', serversOf: async () => 1 })
  t.teardown(async () => { await bus.close() })
  const call = async (name: string, headers: Record<string, string>, data: Uint8Array = new Uint8Array(0)): Promise<{ data: Uint8Array, headers?: Record<string, string> }> =>
    await bus.callInternal(name, { data, headers })

  const chunk = Buffer.alloc(4 * 1024 * 1024 + 3, 0xab)
  const put = await call('s3.object.put', { bucket: '_ebs', key: 'vol-1/chunk-0' }, chunk)
  t.equal(put.headers?.etag, `"${crc32c(chunk).toString(16).padStart(8, '0')}"`, 'a put answers the ETag (CRC32C) once durable')
  await call('s3.object.put', { bucket: '_ebs', key: 'vol-1/chunk-1' }, Buffer.from('tail'))

  const got = await call('s3.object.get', { bucket: '_ebs', key: 'vol-1/chunk-0' })
  t.ok(Buffer.from(got.data).equals(chunk), 'get returns the object')
  const part = await call('s3.object.get', { bucket: '_ebs', key: 'vol-1/chunk-0', start: '10', end: '20' })
  t.ok(Buffer.from(part.data).equals(chunk.subarray(10, 20)), 'a range returns its bytes')
  const listed = JSON.parse(Buffer.from((await call('s3.object.list', { bucket: '_ebs', prefix: 'vol-1/' })).data).toString()) as Array<{ key: string }>
  t.same(listed.map(o => o.key), ['vol-1/chunk-0', 'vol-1/chunk-1'], 'list returns keys in order')
  t.equal((await call('s3.object.delete', { bucket: '_ebs', key: 'vol-1/chunk-1' })).headers?.state, 'deleted')
  t.equal((await call('s3.object.get', { bucket: '_ebs', key: 'vol-1/chunk-1' })).headers?.state, 'missing', 'a deleted object is missing')
  await t.rejects(call('s3.object.put', { bucket: 'users-bucket', key: 'k' }, Buffer.from('x')), { name: 'NodeCallError' }, 'only reserved buckets take internal objects')

  const s3 = s3Client(node)
  const buckets = await s3.send(new ListBucketsCommand({}))
  t.notOk((buckets.Buckets ?? []).some(b => b.Name === '_ebs'), 'ListBuckets does not show a reserved bucket')
  await t.rejects(s3.send(new GetObjectCommand({ Bucket: '_ebs', Key: 'vol-1/chunk-0' })), { name: 'NoSuchBucket' }, 'GET through the S3 API → NoSuchBucket')
  await t.rejects(s3.send(new PutObjectCommand({ Bucket: '_ebs', Key: 'x', Body: 'x' })), { name: 'NoSuchBucket' }, 'PUT through the S3 API → NoSuchBucket')
})
