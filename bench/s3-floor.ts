// A reference target of `npm run bench:s3`: what any S3 built in Hive's shape costs at least per
// 4 KiB request on this machine. Fastify with the edge's body parser, and per request only what no
// S3 of that shape can leave out, each through the core's own code. Per object request:
//   PUT: SigV4 verified (payload hash included), the body's MD5 (the ETag), the body appended to a
//        write-ahead log and fdatasync'd before the answer (core Wal, group commit), and one object
//        record naming where it landed written to JetStream KV (the commit point of Hive's PUT)
//   GET: SigV4 verified, the record read from KV, the body read back from the log
// No model, no erasure code or placement, no shard index, no listing view; one access key (`floor`,
// its secret `floor` too). Creating a bucket answers 200 and does nothing.
// Usage: tsx bench/s3-floor.ts <dir>; starts its own nats-server there as Hive's single node does,
// prints its URL on stdout.
import Fastify, { type FastifyRequest } from 'fastify'
import { connect } from 'nats'
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { toHttpRequest } from '../core/edge.js'
import { AwsError } from '../core/errors.js'
import { KvStore } from '../core/kv.js'
import { readWalRecord, Wal, type WalLocation } from '../core/native.js'
import { natsServerOptions, startEmbeddedNats } from '../core/nats-server.js'
import { verifySigV4 } from '../core/sigv4.js'

interface FloorRecord { etag: string, size: number, lastModified: string, at: WalLocation }

/** The log's record type for an object's body. */
const OBJECT_RECORD = 1

const dir = process.argv[2]
if (dir === undefined) {
  process.stderr.write('usage: tsx bench/s3-floor.ts <dir>\n')
  process.exit(2)
}
mkdirSync(dir, { recursive: true })
const nats = await startEmbeddedNats(join(dir, 'nats'), pino({ level: 'warn' }))
const nc = await connect({ ...natsServerOptions(nats.url), noAsyncTraces: true })
const objects = await new KvStore(nc).bucket<FloorRecord>('bench_floor_objects')
const log = join(dir, 'log')
const wal = Wal.open(log)
const key = { accessKeyId: 'floor', secretAccessKey: 'floor', principal: { accountId: '000000000000', arn: 'arn:aws:iam::000000000000:root', isRoot: true } }
const credentials = { lookup: async (id: string) => id === key.accessKeyId ? key : undefined }
// The path names the object; the SDK adds a query (?x-id=PutObject) that must not.
const keyOf = (url: string): string => Buffer.from(url.split('?')[0], 'utf8').toString('base64url')

async function verify (request: FastifyRequest): Promise<Buffer> {
  const req = toHttpRequest(request)
  await verifySigV4(req, credentials, { protocol: 'rest-xml', region: 'us-east-1' })
  return req.body
}

const app = Fastify()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, b, done) => done(null, b))
app.setErrorHandler(async (err, _req, reply) => await reply.code(err instanceof AwsError ? err.statusCode : 500).send((err as Error).message))
app.put('/:bucket', async (_req, reply) => await reply.send())
app.put('/:bucket/*', async (req, reply) => {
  const data = await verify(req)
  const landed = wal.appendLocated(OBJECT_RECORD, data)
  const etag = `"${createHash('md5').update(data).digest('hex')}"`
  await objects.put(keyOf(req.url), { etag, size: data.length, lastModified: new Date().toISOString(), at: await landed })
  return await reply.header('etag', etag).send()
})
app.get('/:bucket/*', async (req, reply) => {
  await verify(req)
  const rec = (await objects.get(keyOf(req.url)))?.value
  if (rec === undefined) return await reply.code(404).send()
  return await reply.header('etag', rec.etag).type('binary/octet-stream').send(await readWalRecord(log, rec.at))
})

const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`floor listening on ${url}\n`)
process.once('SIGTERM', () => {
  void (async () => {
    await app.close()
    await wal.close()
    await nc.close()
    await nats.stop()
    process.exit(0)
  })()
})
