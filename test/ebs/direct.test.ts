import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { aws, startNode } from '../helpers/node.js'
import { createVolume, qemuIo, snapshot, waitFor, zoneOf } from './helpers.js'

const BLOCK = 512 * 1024

const node = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-direct' })
const scratch = mkdtempSync(join(tmpdir(), 'hive-ebs-direct-'))
t.teardown(async () => {
  await node.stop()
  rmSync(scratch, { recursive: true, force: true })
})
// The CLI checks parameter ranges itself; with this config it sends them, and the node must refuse them.
const noValidation = { AWS_CONFIG_FILE: join(scratch, 'no-validation') }
writeFileSync(noValidation.AWS_CONFIG_FILE, '[default]\nparameter_validation = false\n')

/** A 512 KiB block filled with one byte, so qemu-io's `read -P` can check it. */
function filled (byte: number): Buffer {
  return Buffer.alloc(BLOCK, byte)
}

function sha256 (data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

/** SHA256 LINEAR aggregation: the SHA256 of the blocks' raw digests in block-index order, base64. */
function linear (blocks: Map<number, Buffer>): string {
  const h = createHash('sha256')
  for (const i of [...blocks.keys()].sort((a, b) => a - b)) h.update(sha256(blocks.get(i) as Buffer))
  return h.digest('base64')
}

function start (extra: string[] = []): string {
  const r = aws(node, ['ebs', 'start-snapshot', '--volume-size', '1', ...extra])
  if (r.status !== 0) throw new Error(`start-snapshot failed: ${r.stderr}`)
  return r.json.SnapshotId as string
}

function put (snapshotId: string, index: number, data: Buffer, checksum = sha256(data).toString('base64'), length = data.length, extra: string[] = [], env: Record<string, string> = {}): ReturnType<typeof aws> {
  const file = join(scratch, 'block')
  writeFileSync(file, data)
  const r = aws(node, ['ebs', 'put-snapshot-block', '--snapshot-id', snapshotId, '--block-index', String(index), '--block-data', file,
    '--data-length', String(length), '--checksum', checksum, '--checksum-algorithm', 'SHA256', ...extra], env)
  rmSync(file)
  return r
}

function complete (snapshotId: string, blocks: Map<number, Buffer>): ReturnType<typeof aws> {
  return aws(node, ['ebs', 'complete-snapshot', '--snapshot-id', snapshotId, '--changed-blocks-count', String(blocks.size),
    '--checksum', linear(blocks), '--checksum-algorithm', 'SHA256', '--checksum-aggregation-method', 'LINEAR'])
}

function indexes (r: ReturnType<typeof aws>, field = 'Blocks'): number[] {
  return (r.json[field] as Array<{ BlockIndex: number }>).map(b => b.BlockIndex)
}

// The parent snapshot: blocks 0, 1, 5 and 2047 (the last of a 1 GiB volume).
const parentBlocks = new Map([[0, filled(0x11)], [1, filled(0x12)], [5, filled(0x15)], [2047, filled(0x1f)]])
let parent = ''

t.test('start-snapshot returns a pending snapshot of 512 KiB blocks', async t => {
  const r = aws(node, ['ebs', 'start-snapshot', '--volume-size', '1', '--description', 'direct parent', '--timeout', '60'])
  t.equal(r.status, 0, r.stderr)
  t.match(r.json.SnapshotId, /^snap-[0-9a-f]{17}$/)
  t.equal(r.json.Status, 'pending')
  t.equal(r.json.BlockSize, BLOCK)
  t.equal(r.json.VolumeSize, 1)
  t.equal(r.json.OwnerId, node.accountId)
  parent = r.json.SnapshotId
  const described = aws(node, ['ec2', 'describe-snapshots', '--snapshot-ids', parent])
  t.equal(described.json.Snapshots[0].State, 'pending')
})

t.test('put-snapshot-block stores blocks whose checksum matches, refuses the others', async t => {
  for (const [i, data] of parentBlocks) {
    const r = put(parent, i, data)
    t.equal(r.status, 0, r.stderr)
    t.equal(r.json.Checksum, sha256(data).toString('base64'))
    t.equal(r.json.ChecksumAlgorithm, 'SHA256')
  }
  // --debug shows the error body: AWS's Reason field says which check failed.
  const bad = put(parent, 3, filled(0x33), sha256(filled(0x34)).toString('base64'), BLOCK, ['--debug'])
  t.not(bad.status, 0)
  t.match(bad.stderr, /An error occurred \(ValidationException\) when calling the PutSnapshotBlock operation/)
  t.match(bad.stderr, /"Reason":\s*"INVALID_CHECKSUM"/)

  const short = Buffer.alloc(4096, 0x44)
  const shortPut = put(parent, 3, short, sha256(short).toString('base64'), 4096)
  t.not(shortPut.status, 0)
  t.match(shortPut.stderr, /ValidationException/)

  // The declared length disagrees with the body.
  const lying = put(parent, 3, filled(0x45), sha256(filled(0x45)).toString('base64'), BLOCK - 1)
  t.not(lying.status, 0)

  const beyond = put(parent, 2048, filled(0x46))
  t.not(beyond.status, 0)
  t.match(beyond.stderr, /ValidationException/)
  const negative = put(parent, -1, filled(0x46), undefined, BLOCK, [], noValidation)
  t.not(negative.status, 0)
  t.match(negative.stderr, /ValidationException/)

  const unknown = put('snap-0123456789abcdef0', 0, filled(0x47))
  t.not(unknown.status, 0)
  t.match(unknown.stderr, /ResourceNotFoundException/)
})

t.test('a block put twice keeps its last data', async t => {
  t.equal(put(parent, 5, filled(0x99)).status, 0)
  t.equal(put(parent, 5, filled(0x15)).status, 0)
})

t.test('complete-snapshot checks the count and the LINEAR checksum, then completes', async t => {
  const wrongCount = aws(node, ['ebs', 'complete-snapshot', '--snapshot-id', parent, '--changed-blocks-count', '3'])
  t.not(wrongCount.status, 0)
  t.match(wrongCount.stderr, /ValidationException/)

  const wrongSum = aws(node, ['ebs', 'complete-snapshot', '--snapshot-id', parent, '--changed-blocks-count', '4',
    '--checksum', sha256(Buffer.from('nope')).toString('base64'), '--checksum-algorithm', 'SHA256', '--checksum-aggregation-method', 'LINEAR'])
  t.not(wrongSum.status, 0)
  t.match(wrongSum.stderr, /ValidationException/)

  const early = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', parent])
  t.not(early.status, 0, 'a pending snapshot cannot be listed')
  t.match(early.stderr, /ValidationException/)

  const done = complete(parent, parentBlocks)
  t.equal(done.status, 0, done.stderr)
  t.equal(done.json.Status, 'completed')

  const described = aws(node, ['ec2', 'describe-snapshots', '--snapshot-ids', parent])
  t.equal(described.status, 0, described.stderr)
  const s = described.json.Snapshots[0]
  t.equal(s.State, 'completed')
  t.equal(s.VolumeId, 'vol-ffffffff')
  t.equal(s.VolumeSize, 1)
  t.equal(s.Description, 'direct parent')

  const late = put(parent, 7, filled(0x77))
  t.not(late.status, 0, 'a completed snapshot takes no more blocks')
  t.match(late.stderr, /ValidationException/)
})

t.test('list-snapshot-blocks and get-snapshot-block give back exactly what was put', async t => {
  const listed = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', parent])
  t.equal(listed.status, 0, listed.stderr)
  t.same(indexes(listed), [0, 1, 5, 2047])
  t.equal(listed.json.BlockSize, BLOCK)
  t.equal(listed.json.VolumeSize, 1)
  for (const b of listed.json.Blocks as Array<{ BlockIndex: number, BlockToken: string }>) {
    t.type(b.BlockToken, 'string')
    const out = join(scratch, `got-${b.BlockIndex}`)
    const got = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', parent, '--block-index', String(b.BlockIndex), '--block-token', b.BlockToken, out])
    t.equal(got.status, 0, got.stderr)
    const bytes = readFileSync(out)
    t.ok(bytes.equals(parentBlocks.get(b.BlockIndex) as Buffer), `block ${b.BlockIndex} reads back`)
    t.equal(got.json.Checksum, sha256(bytes).toString('base64'))
    t.equal(got.json.ChecksumAlgorithm, 'SHA256')
    // Debian's aws CLI 2.9 leaves rest-json integer headers as strings.
    t.equal(Number(got.json.DataLength), BLOCK)
    rmSync(out)
  }
  const token0 = listed.json.Blocks[0].BlockToken as string
  const out = join(scratch, 'bad')
  const wrongIndex = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', parent, '--block-index', '1', '--block-token', token0, out])
  t.not(wrongIndex.status, 0)
  t.match(wrongIndex.stderr, /ValidationException/)
  const garbage = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', parent, '--block-index', '0', '--block-token', 'AAAAnotatoken', out])
  t.not(garbage.status, 0)
  t.match(garbage.stderr, /ValidationException/)
  const missing = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', 'snap-0123456789abcdef0', '--block-index', '0', '--block-token', token0, out])
  t.not(missing.status, 0)
  t.match(missing.stderr, /ResourceNotFoundException/)
  const unknownList = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', 'snap-0123456789abcdef0'])
  t.not(unknownList.status, 0)
  t.match(unknownList.stderr, /ResourceNotFoundException/)
  const unknownComplete = aws(node, ['ebs', 'complete-snapshot', '--snapshot-id', 'snap-0123456789abcdef0', '--changed-blocks-count', '0'])
  t.not(unknownComplete.status, 0)
  t.match(unknownComplete.stderr, /ResourceNotFoundException/)
})

// The child changes block 1, adds 6 and 100; its blocks 0, 5 and 2047 are the parent's.
const childBlocks = new Map([[1, filled(0x21)], [6, filled(0x26)], [100, filled(0x2a)]])
let child = ''

t.test('an incremental snapshot: its changed blocks are exactly the ones written to it', async t => {
  child = start(['--parent-snapshot-id', parent])
  for (const [i, data] of childBlocks) t.equal(put(child, i, data).status, 0)
  const done = complete(child, childBlocks)
  t.equal(done.status, 0, done.stderr)

  const changed = aws(node, ['ebs', 'list-changed-blocks', '--first-snapshot-id', parent, '--second-snapshot-id', child])
  t.equal(changed.status, 0, changed.stderr)
  t.same(indexes(changed, 'ChangedBlocks'), [1, 6, 100])
  const one = (changed.json.ChangedBlocks as Array<{ BlockIndex: number, FirstBlockToken?: string, SecondBlockToken?: string }>)[0]
  t.type(one.FirstBlockToken, 'string', 'block 1 is in both snapshots')
  t.type(one.SecondBlockToken, 'string')
  t.equal(changed.json.ChangedBlocks[1].FirstBlockToken, undefined, 'block 6 is new in the child')

  // The first snapshot's block token from list-changed-blocks reads the parent's data.
  const out = join(scratch, 'first')
  const got = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', parent, '--block-index', '1', '--block-token', one.FirstBlockToken as string, out])
  t.equal(got.status, 0, got.stderr)
  t.ok(readFileSync(out).equals(parentBlocks.get(1) as Buffer))
  const got2 = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', child, '--block-index', '1', '--block-token', one.SecondBlockToken as string, out])
  t.equal(got2.status, 0, got2.stderr)
  t.ok(readFileSync(out).equals(childBlocks.get(1) as Buffer))
  rmSync(out)

  const listed = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', child])
  t.equal(listed.status, 0, listed.stderr)
  t.same(indexes(listed), [0, 1, 5, 6, 100, 2047], 'the child lists its parent\'s blocks too')

  // Without a first snapshot every block of the second is "changed".
  const all = aws(node, ['ebs', 'list-changed-blocks', '--second-snapshot-id', child])
  t.equal(all.status, 0, all.stderr)
  t.same(indexes(all, 'ChangedBlocks'), [0, 1, 5, 6, 100, 2047])
})

t.test('pagination: --max-results pages with NextToken', async t => {
  // The CLI wants MaxResults >= 100: a snapshot of a volume with 4 KiB written in each of 250 direct blocks.
  const vol = await createVolume(node, 1)
  const wrote = await qemuIo(node, vol, Array.from({ length: 250 }, (_, i) => `write -P ${i + 1} ${i * 3 * BLOCK} 4096`))
  t.equal(wrote.status, 0, wrote.stderr)
  const snap = await snapshot(node, vol)
  const want = Array.from({ length: 250 }, (_, i) => i * 3)

  const pages: number[][] = []
  const tokens: string[] = []
  let next: string | undefined
  do {
    const r = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', snap, '--max-results', '100', '--no-paginate', ...(next === undefined ? [] : ['--next-token', next])])
    t.equal(r.status, 0, r.stderr)
    pages.push(indexes(r))
    if (pages.length === 1) tokens.push(...(r.json.Blocks as Array<{ BlockToken: string }>).map(b => b.BlockToken))
    next = r.json.NextToken
  } while (next !== undefined && pages.length < 5)
  t.same(pages.map(p => p.length), [100, 100, 50])
  t.same(pages.flat(), want)

  const fromIndex = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', snap, '--starting-block-index', '600', '--no-paginate'])
  t.same(indexes(fromIndex), want.filter(i => i >= 600))

  // Debian's aws CLI 2.9 has no paginators for ebs: NextToken is followed by hand here too.
  const changed: number[][] = []
  next = undefined
  do {
    const r = aws(node, ['ebs', 'list-changed-blocks', '--second-snapshot-id', snap, '--max-results', '120', ...(next === undefined ? [] : ['--next-token', next])])
    t.equal(r.status, 0, r.stderr)
    changed.push(indexes(r, 'ChangedBlocks'))
    next = r.json.NextToken
  } while (next !== undefined && changed.length < 5)
  t.same(changed.map(p => p.length), [120, 120, 10])
  t.same(changed.flat(), want)

  // A direct block the volume wrote 4 KiB of reads as those 4 KiB and zeros.
  const out = join(scratch, 'partial')
  const got = aws(node, ['ebs', 'get-snapshot-block', '--snapshot-id', snap, '--block-index', '3', '--block-token', tokens[1], out])
  t.equal(got.status, 0, got.stderr)
  const partial = Buffer.alloc(BLOCK)
  partial.fill(2, 0, 4096)
  t.ok(readFileSync(out).equals(partial))
  rmSync(out)

  const badToken = aws(node, ['ebs', 'list-snapshot-blocks', '--snapshot-id', snap, '--next-token', 'garbage', '--no-paginate'])
  t.not(badToken.status, 0)
  t.match(badToken.stderr, /ValidationException/)
})

t.test('a volume created from a direct-API snapshot reads the blocks that were put', async t => {
  const r = aws(node, ['ec2', 'create-volume', '--snapshot-id', child, '--availability-zone', zoneOf(node)])
  t.equal(r.status, 0, r.stderr)
  const vol = r.json.VolumeId as string
  t.equal(r.json.Size, 1)
  await waitFor(() => aws(node, ['ec2', 'describe-volumes', '--volume-ids', vol]).json?.Volumes?.[0]?.State === 'available', `${vol} available`)
  const at = (i: number): number => i * BLOCK
  const read = await qemuIo(node, vol, [
    `read -P 0x11 ${at(0)} ${BLOCK}`, `read -P 0x21 ${at(1)} ${BLOCK}`, `read -P 0 ${at(2)} ${3 * BLOCK}`,
    `read -P 0x15 ${at(5)} ${BLOCK}`, `read -P 0x26 ${at(6)} ${BLOCK}`, `read -P 0x2a ${at(100)} ${BLOCK}`,
    `read -P 0 ${at(101)} ${BLOCK}`, `read -P 0x1f ${at(2047)} ${BLOCK}`
  ])
  t.equal(read.status, 0, read.stderr)
  t.notMatch(read.stdout, /Pattern verification failed/)
  t.equal((read.stdout.match(/^read /gm) ?? []).length, 8)
})

t.test('a pending direct snapshot can be deleted; its blocks go with it', async t => {
  const pending = start()
  t.equal(put(pending, 0, filled(0x55)).status, 0)
  const del = aws(node, ['ec2', 'delete-snapshot', '--snapshot-id', pending])
  t.equal(del.status, 0, del.stderr)
  const described = aws(node, ['ec2', 'describe-snapshots', '--snapshot-ids', pending])
  t.not(described.status, 0)
  t.match(described.stderr, /InvalidSnapshot\.NotFound/)
  const late = put(pending, 1, filled(0x56))
  t.not(late.status, 0)
  t.match(late.stderr, /ResourceNotFoundException/)
})

t.test('start-snapshot refuses a bad parent, a smaller size than the parent\'s, and a bad timeout', async t => {
  const noParent = aws(node, ['ebs', 'start-snapshot', '--volume-size', '1', '--parent-snapshot-id', 'snap-0123456789abcdef0'])
  t.not(noParent.status, 0)
  t.match(noParent.stderr, /ValidationException|ResourceNotFoundException/)
  const big = aws(node, ['ebs', 'start-snapshot', '--volume-size', '2'])
  t.equal(big.status, 0, big.stderr)
  const empty = complete(big.json.SnapshotId, new Map())
  t.equal(empty.status, 0, empty.stderr)
  const smaller = aws(node, ['ebs', 'start-snapshot', '--volume-size', '1', '--parent-snapshot-id', big.json.SnapshotId])
  t.not(smaller.status, 0)
  t.match(smaller.stderr, /ValidationException/)
  const timeout = aws(node, ['ebs', 'start-snapshot', '--volume-size', '1', '--timeout', '5'], noValidation)
  t.not(timeout.status, 0)
  t.match(timeout.stderr, /ValidationException/)
  const zero = aws(node, ['ebs', 'start-snapshot', '--volume-size', '0'], noValidation)
  t.not(zero.status, 0)
  t.match(zero.stderr, /ValidationException/)
})

t.test('a ClientToken makes start-snapshot idempotent', async t => {
  const a = start(['--client-token', 'direct-token-1'])
  const b = start(['--client-token', 'direct-token-1'])
  t.equal(a, b)
})
