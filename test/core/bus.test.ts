import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, DiscardPolicy, type NatsConnection } from 'nats'
import pino from 'pino'
import { Bus } from '../../core/bus.js'
import { AwsError } from '../../core/errors.js'
import { KvStore, RevisionConflict } from '../../core/kv.js'
import { Requester } from '../../core/requester.js'
import { natsServerOptions, startEmbeddedNats } from '../../core/nats-server.js'

const log = pino({ level: 'silent' })
const ctx = { requestId: 'r-1', region: 'us-east-1', accountId: '123456789012', principalArn: 'arn:aws:iam::123456789012:root' }

async function natsFixture (t: Test): Promise<() => Promise<NatsConnection>> {
  const dir = mkdtempSync(join(tmpdir(), 'hive-bus-'))
  const nats = await startEmbeddedNats(dir, log)
  const conns: NatsConnection[] = []
  t.teardown(async () => {
    for (const c of conns) await c.close()
    await nats.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return async () => { const c = await connect(natsServerOptions(nats.url)); conns.push(c); return c }
}

function busOn (nc: NatsConnection, nodeId: string, servers = 1): Bus {
  return new Bus(nc, { nodeId, log, capabilityOf: async () => 'ebs', serversOf: async () => servers })
}

t.test('bus', async t => {
  const conn = await natsFixture(t)
  const a = busOn(await conn(), 'node-a', 2)
  const b = busOn(await conn(), 'node-b', 2)

  await t.test('request reaches the serving node with input, context and timestamps intact', async t => {
    b.serve('ec2', 'Echo', async (input, c) => ({ input, node: c.nodeId, requestId: c.requestId, at: input.at }))
    await b.nc.flush()
    const at = new Date('2026-01-02T03:04:05.678Z')
    const out = await a.request('ec2', 'Echo', { n: 1, at, blob: Buffer.from('hi') }, ctx) as Record<string, any>
    t.equal(out.node, 'node-b')
    t.equal(out.requestId, 'r-1')
    t.ok(out.at instanceof Date)
    t.equal(out.at.toISOString(), at.toISOString())
    t.same(out.input.blob, Buffer.from('hi'))
  })

  await t.test('a request larger than the bus carries → RequestEntityTooLarge 413; the bus lives on', async t => {
    await t.rejects(a.request('ec2', 'Echo', { pad: 'x'.repeat(a.maxPayload) }, ctx), { code: 'RequestEntityTooLarge', statusCode: 413 })
    t.equal((await a.request('ec2', 'Echo', { n: 2 }, ctx) as Record<string, any>).node, 'node-b')
  })

  await t.test('an action this node serves runs here, without NATS: objects pass as they are', async t => {
    const body = Buffer.alloc(a.maxPayload + 1)
    a.serve('s3', 'Local', async (input, c) => ({ same: input.body === body, node: c.nodeId }))
    t.same(await a.request('s3', 'Local', { body }, ctx), { same: true, node: 'node-a' })
  })

  await t.test('node calls reach one named node with bytes and headers; failures name the node', async t => {
    b.serveNode('test.echo', ({ data, headers }) => ({ data: Buffer.concat([Buffer.from(data), Buffer.from('!')]), headers: { seen: headers?.x ?? '' } }))
    b.serveNode('test.fail', () => { throw new Error('disk on fire') })
    await b.nc.flush()
    const r = await a.callNode('node-b', 'test.echo', { data: Buffer.from('hi'), headers: { x: 'y' } })
    t.equal(Buffer.from(r.data).toString(), 'hi!')
    t.equal(r.headers?.seen, 'y')
    await t.rejects(a.callNode('node-b', 'test.fail', { data: new Uint8Array(0) }), { name: 'NodeCallError', unreachable: false, message: 'disk on fire' })
    await t.rejects(a.callNode('node-gone', 'test.echo', { data: new Uint8Array(0) }), { name: 'NodeCallError', unreachable: true })
    const self = await b.callNode('node-b', 'test.echo', { data: Buffer.from('me') })
    t.equal(Buffer.from(self.data).toString(), 'me!', 'a call to this node runs in-process')
  })

  await t.test('an AwsError thrown by a handler crosses the bus as the same error', async t => {
    b.serve('ec2', 'Fail', async () => { throw new AwsError('InvalidVolume.NotFound', "The volume 'vol-1' does not exist.", 400) })
    await b.nc.flush()
    await t.rejects(a.request('ec2', 'Fail', {}, ctx), { code: 'InvalidVolume.NotFound', statusCode: 400, message: "The volume 'vol-1' does not exist." })
  })

  await t.test('a crash in a handler is InternalError, not a leak of its message', async t => {
    b.serve('ec2', 'Crash', async () => { throw new Error('secret detail') })
    await b.nc.flush()
    await t.rejects(a.request('ec2', 'Crash', {}, ctx), { code: 'InternalError', statusCode: 500 })
  })

  await t.test('an action no node serves → ServiceUnavailable naming the capability', async t => {
    const err = await a.request('ec2', 'CreateVolume', {}, ctx).catch(e => e)
    t.equal(err.code, 'ServiceUnavailable')
    t.equal(err.statusCode, 503)
    t.match(err.message, /ebs capability/)
    t.match(err.message, /--cap ebs/)
  })

  await t.test('gather collects one answer from every serving node', async t => {
    a.serve('ec2', 'DescribeThings', async (_i, c) => ({ node: c.nodeId }), { gather: true })
    b.serve('ec2', 'DescribeThings', async (_i, c) => ({ node: c.nodeId }), { gather: true })
    await a.nc.flush(); await b.nc.flush()
    const outs = await a.gather('ec2', 'DescribeThings', {}, ctx)
    t.same(outs.map(o => o?.node).sort(), ['node-a', 'node-b'])
  })
})

t.test('requester - a request waiting when its connection closes ends lost, not at its timeout', async t => {
  const conn = await natsFixture(t)
  const listener = await conn()
  listener.subscribe('hive.test.silent', { callback: () => {} })
  await listener.flush()
  const nc = await conn()
  const requester = new Requester(nc)
  const reply = requester.request('hive.test.silent', new Uint8Array(0), 60_000)
  await nc.flush()
  await nc.close()
  t.equal(await reply, 'lost')
})

t.test('kv', async t => {
  const conn = await natsFixture(t)
  const kv = new KvStore(await conn())
  const bucket = await kv.bucket<{ n: number }>('hive_test_things')

  await t.test('update with a stale revision → RevisionConflict', async t => {
    const rev = await bucket.put('thing.1', { n: 1 })
    await bucket.update('thing.1', { n: 2 }, rev)
    await t.rejects(bucket.update('thing.1', { n: 3 }, rev), RevisionConflict)
    t.same((await bucket.get('thing.1'))?.value, { n: 2 })
  })

  await t.test('create refuses an existing key', async t => {
    t.ok(await bucket.create('thing.2', { n: 1 }))
    t.equal(await bucket.create('thing.2', { n: 9 }), undefined)
  })

  await t.test('concurrent modify loses no increment', async t => {
    await Promise.all(Array.from({ length: 20 }, async () => await bucket.modify('counter', c => ({ n: (c?.n ?? 0) + 1 }))))
    t.same((await bucket.get('counter'))?.value, { n: 20 })
  })

  await t.test('keys and list filter by dotted prefix; deleted keys vanish', async t => {
    await bucket.delete('thing.2')
    t.same(await bucket.keys('thing'), ['thing.1'])
    t.same((await bucket.list('thing.')).map(e => e.key), ['thing.1'])
    t.equal(await bucket.get('thing.2'), undefined)
  })

  await t.test('a deleted key reads as absent, and create writes it again once', async t => {
    t.equal(await bucket.get('never.written'), undefined)
    await bucket.put('gone.1', { n: 1 })
    await bucket.delete('gone.1')
    t.equal(await bucket.get('gone.1'), undefined)
    t.ok(await bucket.create('gone.1', { n: 2 }))
    t.equal(await bucket.create('gone.1', { n: 3 }), undefined)
    t.same((await bucket.get('gone.1'))?.value, { n: 2 })
  })

  await t.test('delete at a stale revision → RevisionConflict, and the key stays', async t => {
    const rev = await bucket.put('gone.2', { n: 1 })
    await bucket.put('gone.2', { n: 2 })
    await t.rejects(bucket.delete('gone.2', rev), RevisionConflict)
    const cur = await bucket.get('gone.2')
    t.same(cur?.value, { n: 2 })
    await bucket.delete('gone.2', cur?.revision)
    t.equal(await bucket.get('gone.2'), undefined)
  })

  await t.test('a key JetStream KV does not allow is refused before it reaches the server, reads and writes', async t => {
    for (const key of ['a b', 'thing.*', 'thing.>', '.thing', 'thing.', 'line\r\nPUB x 1']) {
      await t.rejects(bucket.put(key, { n: 1 }), /invalid KV key/, `put ${JSON.stringify(key)}`)
      await t.rejects(bucket.get(key), /invalid KV key/, `get ${JSON.stringify(key)}`)
    }
    t.same((await bucket.get('thing.1'))?.value, { n: 2 }, 'the connection still serves')
  })

  await t.test('a bucket whose stream has no direct get reads and writes the same', async t => {
    const nc = await conn()
    const jsm = await nc.jetstreamManager()
    await jsm.streams.add({ name: 'KV_hive_test_nodirect', subjects: ['$KV.hive_test_nodirect.>'], max_msgs_per_subject: 1, allow_direct: false, allow_rollup_hdrs: true, deny_delete: true, discard: DiscardPolicy.New })
    const b = await new KvStore(nc).bucket<{ n: number }>('hive_test_nodirect')
    t.equal((await jsm.streams.info('KV_hive_test_nodirect')).config.allow_direct, false, 'opening left the stream as it was')
    const rev = await b.put('k', { n: 1 })
    t.same(await b.get('k'), { value: { n: 1 }, revision: rev })
    await b.delete('k')
    t.equal(await b.get('k'), undefined)
    t.ok(await b.create('k', { n: 2 }))
    t.same((await b.get('k'))?.value, { n: 2 })
  })

  await t.test('listing while keys are created, rewritten and deleted always ends, naming only live keys', async t => {
    // nats.js kv.keys() hung here within a few dozen listings.
    let stop = false
    const writer = (async () => {
      for (let n = 0; !stop; n++) {
        const key = `busy.t${n}`
        await bucket.create(key, { n: 0 })
        for (let i = 1; i <= 5; i++) await bucket.put(key, { n: i })
        await bucket.delete(key)
      }
    })()
    const wrong: string[] = []
    try {
      for (let i = 0; i < 300; i++) {
        let timer: NodeJS.Timeout | undefined
        const keys = await Promise.race([bucket.keys('busy'), new Promise<'hung'>(resolve => { timer = setTimeout(() => resolve('hung'), 5000) })])
        clearTimeout(timer)
        if (keys === 'hung') {
          wrong.push(`listing ${i} did not end`)
          break
        }
        // At most the key being written when the listing began, and the next one.
        if (keys.length > 2 || !keys.every(k => k.startsWith('busy.t'))) wrong.push(`listing ${i}: ${keys.join(' ')}`)
      }
    } finally {
      stop = true
      await writer
    }
    t.same(wrong, [])
  })
})
