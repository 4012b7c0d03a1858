// A reference target of `npm run bench:s3`: what any S3 built in Hive's shape costs at least per
// 4 KiB request on this machine. Fastify with the edge's body parser, and per request only what
// Hive cannot leave out: a PUT takes the body's MD5 (the ETag) and writes one object record to
// JetStream KV through the core's KvStore (the commit point of Hive's PUT); a GET reads that record
// back and answers 4 KiB from memory. No SigV4, no model, no shard store, no listing view.
// Starts its own nats-server as Hive's single node does; prints its URL on stdout.
import Fastify from 'fastify'
import { connect } from 'nats'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { KvStore } from '../core/kv.js'
import { natsServerOptions, startEmbeddedNats } from '../core/nats-server.js'

interface FloorRecord { etag: string, size: number, lastModified: string }

const dir = mkdtempSync(join(tmpdir(), 'hive-kv-floor-'))
const nats = await startEmbeddedNats(dir, pino({ level: 'warn' }))
const nc = await connect({ ...natsServerOptions(nats.url), noAsyncTraces: true })
const objects = await new KvStore(nc).bucket<FloorRecord>('bench_floor_objects')
const body = Buffer.alloc(4096, 120)
// The path names the object; the SDK adds a query (?x-id=PutObject) that must not.
const keyOf = (url: string): string => Buffer.from(url.split('?')[0], 'utf8').toString('base64url')

const app = Fastify()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, b, done) => done(null, b))
app.put('/:bucket', async (_req, reply) => await reply.send())
app.put('/:bucket/*', async (req, reply) => {
  const data = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
  const etag = `"${createHash('md5').update(data).digest('hex')}"`
  await objects.put(keyOf(req.url), { etag, size: data.length, lastModified: new Date().toISOString() })
  return await reply.header('etag', etag).send()
})
app.get('/:bucket/*', async (req, reply) => {
  const rec = (await objects.get(keyOf(req.url)))?.value
  if (rec === undefined) return await reply.code(404).send()
  return await reply.header('etag', rec.etag).type('binary/octet-stream').send(body)
})

const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`kv floor listening on ${url}\n`)
process.once('SIGTERM', () => {
  void (async () => {
    await app.close()
    await nc.close()
    await nats.stop()
    rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  })()
})
