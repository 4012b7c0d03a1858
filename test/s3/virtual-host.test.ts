import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import http from 'node:http'
import t from 'tap'
import { virtualHostBucket } from '../../core/edge.js'
import { sdkConfig, startNode } from '../helpers/node.js'

t.test('the bucket in Host: <bucket>.s3.<domain>, <bucket>.s3-<region>.<domain>, <bucket>.localhost', async t => {
  t.equal(virtualHostBucket('photos.s3.example.com'), 'photos')
  t.equal(virtualHostBucket('my.dotted.bucket.s3.us-east-1.amazonaws.com'), 'my.dotted.bucket')
  t.equal(virtualHostBucket('logs.s3-eu-west-1.example.net:9999'), 'logs')
  t.equal(virtualHostBucket('photos.localhost:9999'), 'photos')
  t.equal(virtualHostBucket('127.0.0.1:9999'), undefined, 'an IP address is path-style')
  t.equal(virtualHostBucket('localhost:9999'), undefined, 'a bare name is path-style')
  t.equal(virtualHostBucket('s3.example.com'), undefined, 'the service endpoint itself is path-style')
})

t.test('virtual-hosted-style requests through the SDK (forcePathStyle off) reach the same buckets', async t => {
  const node = await startNode({ caps: ['s3'] })
  t.teardown(async () => { await node.stop() })
  const port = new URL(node.endpoint).port
  // *.localhost is loopback (RFC 6761); resolve it here rather than rely on the system resolver.
  const agent = new http.Agent({ keepAlive: true, lookup: (_host, opts, cb) => { (opts as { all?: boolean }).all === true ? cb(null, [{ address: '127.0.0.1', family: 4 }] as never) : cb(null, '127.0.0.1', 4) } })
  t.teardown(() => { agent.destroy() })
  const vhost = new S3Client({ ...sdkConfig(node), endpoint: `http://localhost:${port}`, forcePathStyle: false, requestHandler: new NodeHttpHandler({ httpAgent: agent }) })
  const path = new S3Client({ ...sdkConfig(node), forcePathStyle: true })
  const hosts: string[] = []
  vhost.middlewareStack.add(next => async args => {
    hosts.push(String((args.request as { hostname?: string }).hostname))
    return await next(args)
  }, { step: 'finalizeRequest', name: 'recordHost' })

  await vhost.send(new CreateBucketCommand({ Bucket: 'vhosted' }))
  await vhost.send(new PutObjectCommand({ Bucket: 'vhosted', Key: 'dir/a b.txt', Body: 'through the host name' }))
  t.ok(hosts.every(h => h === 'vhosted.localhost'), `the SDK addressed the bucket by host name (${[...new Set(hosts)].join(', ')})`)
  const got = await path.send(new GetObjectCommand({ Bucket: 'vhosted', Key: 'dir/a b.txt' }))
  t.equal(await got.Body?.transformToString(), 'through the host name', 'a path-style GET sees the virtual-hosted PUT')
  const listed = await vhost.send(new ListObjectsV2Command({ Bucket: 'vhosted' }))
  t.same(listed.Contents?.map(o => o.Key), ['dir/a b.txt'], 'a virtual-hosted listing')
})
