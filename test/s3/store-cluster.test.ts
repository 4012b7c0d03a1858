import { GetObjectCommand, PutObjectCommand, S3Client, CreateBucketCommand } from '@aws-sdk/client-s3'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { startEmbeddedNats } from '../../core/nats-server.js'
import { ROOT, sdkConfig, startNode, type TestNode } from '../helpers/node.js'

const MiB = 1024 * 1024
/** Mixed sizes from 0 B to 20 MiB: mostly small, a few spanning many stripes, some not stripe-aligned. */
const SIZES = [0, 1, 17, 4096, 65_537, 300_000, MiB + 3, 2 * MiB, 5 * MiB - 1, 20 * MiB]

function body (i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size + 3 - (size + 3) % 4)
  let x = ((i + 1) * 2654435761) >>> 0
  for (let j = 0; j < b.length; j += 4) {
    x = (x ^ (x << 13)) >>> 0; x = (x ^ (x >>> 17)) >>> 0; x = (x ^ (x << 5)) >>> 0
    b.writeUInt32LE(x, j)
  }
  return b.subarray(0, size)
}

function sizeOf (i: number): number {
  // One 20 MiB object in 25, so 250 objects stay about 300 MB of data.
  return i % 25 === 24 ? SIZES[9] : SIZES[i % 9]
}

function client (node: TestNode): S3Client {
  return new S3Client({ ...sdkConfig(node), forcePathStyle: true })
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function putAll (s3: S3Client, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, to - i) }, async (_, j) => {
      const n = i + j
      await s3.send(new PutObjectCommand({ Bucket: 'cluster', Key: `obj/${n}`, Body: body(n, sizeOf(n)) }))
    }))
  }
}

async function checkAll (t: Test, s3: S3Client, count: number, label: string): Promise<void> {
  const bad: number[] = []
  for (let i = 0; i < count; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, count - i) }, async (_, j) => {
      const n = i + j
      const r = await s3.send(new GetObjectCommand({ Bucket: 'cluster', Key: `obj/${n}` }))
      const got = await r.Body?.transformToByteArray() ?? new Uint8Array(0)
      if (sha(got) !== sha(body(n, sizeOf(n)))) bad.push(n)
    }))
  }
  t.same(bad, [], `${label}: all ${count} objects read back byte-identical`)
}

function adminHeal (natsUrl: string): { status: number, out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/hive.js'), 'admin', 's3', 'heal', '--nats', natsUrl], { encoding: 'utf8', timeout: 300_000 })
  return { status: r.status ?? -1, out: r.stdout + r.stderr }
}

t.test('three nodes, RS(2,1): a node down loses nothing, writes go on, heal restores redundancy', async t => {
  const natsDir = mkdtempSync(join(tmpdir(), 'hive-nats-'))
  const nats = await startEmbeddedNats(natsDir, pino({ level: 'warn' }))
  t.teardown(async () => { await nats.stop(); rmSync(natsDir, { recursive: true, force: true }) })
  const args = ['--nats', nats.url, '--s3-code', '2+1']
  const ids = ['s3-a', 's3-b', 's3-c']
  const nodes: TestNode[] = []
  for (const nodeId of ids) nodes.push(await startNode({ caps: ['s3'], args, nodeId }))
  t.teardown(async () => { for (const n of nodes) await n.stop('SIGKILL') })

  const s3a = client(nodes[0])
  await s3a.send(new CreateBucketCommand({ Bucket: 'cluster' }))
  await putAll(s3a, 0, 200)

  await nodes[1].stop('SIGKILL', { keep: true })
  await checkAll(t, s3a, 200, 'node b down')
  await putAll(s3a, 200, 250)
  await checkAll(t, client(nodes[2]), 250, 'node b down, read through c')

  nodes[1] = await startNode({ caps: ['s3'], args, nodeId: ids[1], home: nodes[1].home })
  const heal = adminHeal(nats.url)
  t.equal(heal.status, 0, `hive admin s3 heal succeeds:\n${heal.out}`)
  if (heal.status !== 0) t.comment(nodes[1].output().slice(-4000))
  t.match(heal.out, /s3-b\s+\[#+\]\s+100%/, 'heal shows node b complete')
  t.match(heal.out, /s3-b.*repaired [1-9]/, 'node b rebuilt the shards written while it was down')

  await nodes[2].stop('SIGKILL', { keep: true })
  await checkAll(t, client(nodes[1]), 250, 'node c down after heal')
})
