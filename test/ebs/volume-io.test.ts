import { createHash } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeleteVolumeCommand, EC2Client } from '@aws-sdk/client-ec2'
import t from 'tap'
import { aws, sdkConfig, startNode } from '../helpers/node.js'
import { convertOut, createVolume, nbdUri, qemuIo, run, snapshot } from './helpers.js'

let node = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-io' })
const scratch = mkdtempSync(join(tmpdir(), 'hive-ebs-io-'))
t.teardown(async () => {
  await node.stop()
  rmSync(scratch, { recursive: true, force: true })
})

/** A deterministic pseudo-random permutation of n slots. */
function shuffled (n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i)
  let s = seed
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

t.test('qemu-io writes patterns at many offsets; every one reads back, unwritten space reads zeros', async t => {
  const vol = await createVolume(node, 1)
  const slots = shuffled(16384, 7).slice(0, 300) // 64 KiB slots of the 1 GiB volume
  const writes = slots.map((s, i) => `write -P ${(i % 254) + 1} ${s * 65536 + (i % 3) * 4096} ${4096 * (1 + (i % 5))}`)
  writes.push('write -P 77 1000 3000', 'write -P 78 1073737728 4096', 'flush')
  const w = await qemuIo(node, vol, writes)
  t.equal(w.status, 0, w.stderr)
  t.equal((w.stdout.match(/^wrote /gm) ?? []).length, 302)
  const reads = slots.map((s, i) => `read -P ${(i % 254) + 1} ${s * 65536 + (i % 3) * 4096} ${4096 * (1 + (i % 5))}`)
  reads.push('read -P 77 1000 3000', 'read -P 0 0 1000', 'read -P 78 1073737728 4096')
  const free = shuffled(16384, 7).slice(300, 310)
  for (const s of free) reads.push(`read -P 0 ${s * 65536} 65536`)
  const r = await qemuIo(node, vol, reads)
  t.equal(r.status, 0, r.stderr)
  t.notMatch(r.stdout, /Pattern verification failed/)
  t.equal((r.stdout.match(/^read /gm) ?? []).length, reads.length)
})

t.test('what was written survives the flush into chunks and a restart of the node', async t => {
  const vol = await createVolume(node, 1)
  const w = await qemuIo(node, vol, ['write -P 0x5a 0 16M', 'write -P 0x33 100M 1M', 'flush'])
  t.equal(w.status, 0, w.stderr)
  // Past the idle-flush delay, so the blocks leave the WAL for chunks in the object store.
  await new Promise(resolve => setTimeout(resolve, 2500))
  await node.stop('SIGTERM', { keep: true })
  node = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-io', home: node.home })
  const r = await qemuIo(node, vol, ['read -P 0x5a 0 16M', 'read -P 0x33 100M 1M', 'read -P 0 16M 84M'])
  t.equal(r.status, 0, r.stderr)
  t.notMatch(r.stdout, /Pattern verification failed/)
})

t.test('qemu-img convert copies a 1 GiB volume out byte for byte', async t => {
  const vol = await createVolume(node, 1)
  const src = join(scratch, 'src.raw')
  const fd = openSync(src, 'w')
  const chunk = Buffer.alloc(1 << 20)
  for (let i = 0; i < 48; i++) {
    for (let j = 0; j < chunk.length; j += 32) createHash('sha256').update(`${i}.${j}`).digest().copy(chunk, j)
    writeSync(fd, chunk, 0, chunk.length, shuffled(1024, 3)[i] * (1 << 20))
  }
  writeSync(fd, Buffer.alloc(1), 0, 1, (1 << 30) - 1)
  closeSync(fd)
  const into = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, nbdUri(node, vol)])
  t.equal(into.status, 0, into.stderr)
  const out = join(scratch, 'out.raw')
  const back = convertOut(node, vol, out)
  t.equal(back.status, 0, back.stderr)
  const cmp = await run('cmp', [src, out])
  t.equal(cmp.status, 0, `volume copy differs: ${cmp.stdout}${cmp.stderr}`)
  rmSync(src)
  rmSync(out)
})

t.test('two writers at queue depth 32 on the same blocks: every 4 KiB block is one writer\'s, whole', async t => {
  const vol = await createVolume(node, 1)
  const ops = (pattern: number, seed: number): string[] => shuffled(512, seed).map(b => `aio_write -P ${pattern} ${b * 4096} 4096`).concat(['aio_flush'])
  const [a, b] = await Promise.all([qemuIo(node, vol, ops(0x11, 1)), qemuIo(node, vol, ops(0x22, 2))])
  t.equal(a.status, 0, a.stderr)
  t.equal(b.status, 0, b.stderr)
  const out = join(scratch, 'mixed.raw')
  t.equal(convertOut(node, vol, out).status, 0)
  const bytes = readFileSync(out)
  let torn = 0
  for (let blk = 0; blk < 512; blk++) {
    const first = bytes[blk * 4096]
    if ((first !== 0x11 && first !== 0x22) || !bytes.subarray(blk * 4096, (blk + 1) * 4096).every(x => x === first)) torn++
  }
  t.equal(torn, 0, 'no torn or missing block')
  rmSync(out)
})

t.test('snapshot: it keeps A while the volume moves on to B; a volume from it reads A; changed blocks are exactly B\'s', async t => {
  const vol = await createVolume(node, 1)
  t.equal((await qemuIo(node, vol, ['write -P 0xaa 0 2M', 'write -P 0xab 64M 512k'])).status, 0)
  const snapA = await snapshot(node, vol)
  t.equal((await qemuIo(node, vol, ['write -P 0xbb 512k 4k', 'write -P 0xbc 80M 1M'])).status, 0)
  const snapB = await snapshot(node, vol)

  const now = await qemuIo(node, vol, ['read -P 0xaa 0 512k', 'read -P 0xbb 512k 4k', 'read -P 0xaa 516k 1532k', 'read -P 0xbc 80M 1M'])
  t.notMatch(now.stdout, /Pattern verification failed/)

  const fromA = aws(node, ['ec2', 'create-volume', '--snapshot-id', snapA, '--availability-zone', aws(node, ['ec2', 'describe-volumes', '--volume-ids', vol]).json.Volumes[0].AvailabilityZone])
  t.equal(fromA.status, 0, fromA.stderr)
  const copy = fromA.json.VolumeId as string
  const old = await qemuIo(node, copy, ['read -P 0xaa 0 2M', 'read -P 0xab 64M 512k', 'read -P 0 80M 1M'])
  t.equal(old.status, 0, old.stderr)
  t.notMatch(old.stdout, /Pattern verification failed/)

  const changed = aws(node, ['ebs', 'list-changed-blocks', '--first-snapshot-id', snapA, '--second-snapshot-id', snapB])
  t.equal(changed.status, 0, changed.stderr)
  t.same(changed.json.ChangedBlocks.map((b: { BlockIndex: number }) => b.BlockIndex), [1, 160, 161])
  t.equal(changed.json.BlockSize, 524288)

  const listed = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', snapA])
  t.same(listed.json.Blocks.map((b: { BlockIndex: number }) => b.BlockIndex), [0, 1, 2, 3, 128])
  const block = join(scratch, 'block')
  const got = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', snapA, '--block-index', '128', '--block-token', listed.json.Blocks[4].BlockToken, block])
  t.equal(got.status, 0, got.stderr)
  t.ok(readFileSync(block).every(x => x === 0xab))
  t.equal(got.json.Checksum, createHash('sha256').update(readFileSync(block)).digest('base64'))
})

t.test('delete-volume while its blocks are still being packed into chunks: the node goes on serving', async t => {
  const ec2 = new EC2Client(sdkConfig(node))
  t.teardown(() => { ec2.destroy() })
  for (let round = 0; round < 5; round++) {
    const vol = await createVolume(node, 1)
    t.equal((await qemuIo(node, vol, ['write -P 0x42 0 64M'])).status, 0)
    // At once: the 64 MiB are still leaving the WAL for the object store.
    await ec2.send(new DeleteVolumeCommand({ VolumeId: vol }))
  }
  await new Promise(resolve => setTimeout(resolve, 2000))
  t.equal(node.proc.exitCode, null, `the node is alive: ${node.output().slice(-2000)}`)
  const left = aws(node, ['ec2', 'describe-volumes'])
  t.equal(left.status, 0, left.stderr)
})
