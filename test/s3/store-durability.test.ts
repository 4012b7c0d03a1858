import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'nats'
import pino from 'pino'
import t from 'tap'
import { Bus } from '../../core/bus.js'
import { natsServerOptions } from '../../core/nats-server.js'
import { flipByte } from '../helpers/files.js'
import { ROOT, sdkConfig, startNode, type TestNode } from '../helpers/node.js'

const MiB = 1024 * 1024

function client (node: TestNode): S3Client {
  return new S3Client({ ...sdkConfig(node), forcePathStyle: true })
}

/** The content every PUT of `key` carries, so a read can tell an intact object from anything else. */
function content (key: string, size: number): Buffer {
  const seed = createHash('sha256').update(key).digest()
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i += 32) seed.copy(b, i, 0, Math.min(32, size - i))
  return b
}

function sizeOf (key: string): number {
  return [100, 4096, 300_000, 2 * MiB + 1][Number(key.split('/')[1]) % 4]
}

function admin (node: TestNode, args: string[]): { status: number, out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/hive.js'), 'admin', 's3', ...args, '--data-dir', node.dataDir], { encoding: 'utf8', timeout: 120_000 })
  return { status: r.status ?? -1, out: r.stdout + r.stderr }
}

function diskBytes (dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(e => e.isFile() && e.name.endsWith('.wal')).reduce((n, e) => n + statSync(join(e.parentPath ?? e.path, e.name)).size, 0)
}

function adminHeal (node: TestNode, deep: boolean): { status: number, out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/hive.js'), 'admin', 's3', 'heal', '--data-dir', node.dataDir, ...(deep ? ['--deep'] : [])],
    { encoding: 'utf8', timeout: 120_000 })
  return { status: r.status ?? -1, out: r.stdout + r.stderr }
}

function flipShardByte (dir: string, offset: number): void {
  const log = join(dir, 'log')
  flipByte(join(log, readdirSync(log).filter(f => f.endsWith('.wal')).sort()[0]), offset, 0x5a)
}

t.test('a flipped byte in a shard file: heal rewrites the shard, GET still returns the exact object', async t => {
  const home = mkdtempSync(join(tmpdir(), 'hive-dirs-'))
  const dirs = [0, 1, 2].map(i => join(home, `disk${i}`))
  const node = await startNode({ caps: ['s3'], args: ['--s3-code', '2+1', '--s3-dirs', dirs.join(',')] })
  t.teardown(async () => { await node.stop(); rmSync(home, { recursive: true, force: true }) })
  const s3 = client(node)
  await s3.send(new CreateBucketCommand({ Bucket: 'flip' }))
  const data = content('k', 3 * MiB + 5)
  await s3.send(new PutObjectCommand({ Bucket: 'flip', Key: 'k', Body: data }))

  flipShardByte(dirs[1], 1000)
  const healed = adminHeal(node, true)
  t.equal(healed.status, 0, `deep heal succeeds:\n${healed.out}`)
  t.match(healed.out, /repaired 1\b/, 'deep heal rebuilt the one corrupt shard')
  const again = adminHeal(node, true)
  t.match(again.out, /repaired 0\b/, 'a second deep heal finds nothing to repair')

  flipShardByte(dirs[0], 1000)
  const got = await s3.send(new GetObjectCommand({ Bucket: 'flip', Key: 'k' }))
  t.ok(Buffer.from(await got.Body?.transformToByteArray() ?? []).equals(data), 'GET with a corrupt shard returns the exact object')
})

t.test('SIGKILL during a stream of PUTs (and the shard locations lost): every acknowledged PUT survives, no partial object is visible', async t => {
  let node = await startNode({ caps: ['s3'], nodeId: 'crash-node' })
  t.teardown(async () => { await node.stop('SIGKILL') })
  let s3 = client(node)
  await s3.send(new CreateBucketCommand({ Bucket: 'crash' }))
  const acked = new Map<string, number>()
  let stop = false
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const key = `w${w}/${i}`
      const size = sizeOf(key)
      try {
        await s3.send(new PutObjectCommand({ Bucket: 'crash', Key: key, Body: content(key, size) }))
        acked.set(key, size)
      } catch {
        return
      }
    }
  }
  const writers = Array.from({ length: 8 }, async (_, w) => { await writer(w) })
  await new Promise(resolve => setTimeout(resolve, 3_000))
  await node.stop('SIGKILL', { keep: true })
  stop = true
  await Promise.all(writers)
  t.ok(acked.size > 10, `${acked.size} PUTs acknowledged before the kill`)
  // What a machine crash could do to the shard locations at worst: lose them all. The logs have them.
  rmSync(join(node.dataDir, 's3', 'locations'), { recursive: true, force: true })

  node = await startNode({ caps: ['s3'], nodeId: 'crash-node', home: node.home })
  s3 = client(node)
  const listed: Array<{ Key?: string, Size?: number }> = []
  let token: string | undefined
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: 'crash', ContinuationToken: token }))
    listed.push(...(page.Contents ?? []))
    token = page.NextContinuationToken
  } while (token !== undefined)
  const names = new Set(listed.map(o => o.Key))
  t.same([...acked.keys()].filter(k => !names.has(k)), [], 'every acknowledged key is listed')
  const bad: string[] = []
  for (const o of listed) {
    const key = o.Key as string
    const r = await s3.send(new GetObjectCommand({ Bucket: 'crash', Key: key }))
    const got = Buffer.from(await r.Body?.transformToByteArray() ?? [])
    if (!got.equals(content(key, sizeOf(key)))) bad.push(key)
  }
  t.same(bad, [], `all ${listed.length} visible objects are intact`)
})

t.test('compaction gives back the space of deleted objects and keeps the rest intact', async t => {
  // No background passes: this test compacts when it says so.
  const node = await startNode({ caps: ['s3'], args: ['--s3-code', '2+1'], env: { HIVE_S3_SEGMENT_BYTES: String(2 * MiB), HIVE_S3_HEAL_INTERVAL_MS: '0', HIVE_S3_FREE_GRACE_MS: '0' } })
  t.teardown(async () => { await node.stop() })
  const s3 = client(node)
  await s3.send(new CreateBucketCommand({ Bucket: 'compact' }))
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
  for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'compact', Key: key, Body: content(key, 300_000) }))
  const shardsDir = join(node.dataDir, 's3', 'shards')
  const before = diskBytes(shardsDir)
  const kept = keys.filter((_, i) => i % 4 === 0)
  for (const key of keys) if (!kept.includes(key)) await s3.send(new DeleteObjectCommand({ Bucket: 'compact', Key: key }))

  const r = admin(node, ['compact'])
  t.equal(r.status, 0, `hive admin s3 compact succeeds: ${r.out}`)
  t.match(r.out, /[1-9]\d* segments compacted/, 'segments were compacted')
  const after = diskBytes(shardsDir)
  // The policy: forgotten bytes at most half of the closed segments, plus the segment being written.
  const live = kept.length * 300_000 * 1.5
  t.ok(after <= 2 * live + 2 * 2 * MiB && after < before / 2, `segments shrank from ${before} to ${after} bytes (live ${live})`)
  for (const key of kept) {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'compact', Key: key }))
    t.ok(Buffer.from(await got.Body?.transformToByteArray() ?? []).equals(content(key, 300_000)), `${key} intact after compaction`)
  }
})

t.test('heal frees orphan shards (written, never committed) and keeps every referenced one', async t => {
  const node = await startNode({ caps: ['s3'], nodeId: 'orphans', env: { HIVE_S3_ORPHAN_AGE_MS: '0', HIVE_S3_HEAL_INTERVAL_MS: '0' } })
  t.teardown(async () => { await node.stop() })
  const s3 = client(node)
  await s3.send(new CreateBucketCommand({ Bucket: 'orphans' }))
  const data = content('kept', 300_000)
  await s3.send(new PutObjectCommand({ Bucket: 'orphans', Key: 'kept', Body: data }))
  const nc = await connect(natsServerOptions(node.natsUrl))
  t.teardown(async () => { await nc.close() })
  const bus = new Bus(nc, { nodeId: 'tester', log: pino({ level: 'silent' }), capabilityOf: async () => 's3', serversOf: async () => 1 })
  t.teardown(async () => { await bus.close() })
  // What a PUT that died before its commit leaves behind.
  await bus.callNode('orphans', 's3.shard.put', { data: Buffer.alloc(1000, 1), headers: { id: 'deadbeef.0.0', dir: '0' } })
  const has = async (): Promise<boolean> => (JSON.parse(Buffer.from((await bus.callNode('orphans', 's3.shard.has', { data: Buffer.from('["deadbeef.0.0"]') })).data).toString()) as boolean[])[0]
  t.ok(await has(), 'the orphan shard is stored')
  t.match(admin(node, ['heal']).out, /orphans freed 0/, 'a first pass only notes the unreferenced shard')
  t.match(admin(node, ['heal']).out, /orphans freed 1\b/, 'a later pass frees it')
  t.notOk(await has(), 'the orphan is gone')
  const got = await s3.send(new GetObjectCommand({ Bucket: 'orphans', Key: 'kept' }))
  t.ok(Buffer.from(await got.Body?.transformToByteArray() ?? []).equals(data), 'the committed object is untouched')
})
