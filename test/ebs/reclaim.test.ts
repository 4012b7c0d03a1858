import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { aws, startNode, type TestNode } from '../helpers/node.js'
import { createVolume, hiveAdmin, qemuIo, snapshot, waitFor, zoneOf } from './helpers.js'

// Reclaim runs only when asked, so each pass below is the test's own.
const node = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-reclaim', env: { HIVE_EBS_RECLAIM_INTERVAL_MS: '0' } })
t.teardown(async () => { await node.stop() })

interface Pass { referenced: number, deleted: number, suspects: number }

/** `hive admin ebs reclaim`; its one line of counts. */
async function reclaim (n: TestNode): Promise<Pass> {
  const r = await hiveAdmin(n, ['reclaim'])
  const m = /^(\d+) chunks referenced, (\d+) deleted, (\d+) unreferenced/m.exec(r.stdout)
  if (r.status !== 0 || m === null) throw new Error(`hive admin ebs reclaim: ${r.status ?? 'killed'} ${r.stdout}${r.stderr}`)
  return { referenced: Number(m[1]), deleted: Number(m[2]), suspects: Number(m[3]) }
}

/** Past the idle-flush delay: the volume's blocks have left its WAL for chunks. */
async function idle (): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, 2500))
}

async function volumeFrom (snapshotId: string): Promise<string> {
  const r = aws(node, ['ec2', 'create-volume', '--snapshot-id', snapshotId, '--availability-zone', zoneOf(node)])
  if (r.status !== 0) throw new Error(r.stderr)
  const id = r.json.VolumeId as string
  await waitFor(() => aws(node, ['ec2', 'describe-volumes', '--volume-ids', id]).json?.Volumes?.[0]?.State === 'available', `${id} available`)
  return id
}

async function deleteVolume (id: string): Promise<void> {
  const r = aws(node, ['ec2', 'delete-volume', '--volume-id', id])
  if (r.status !== 0) throw new Error(r.stderr)
  await waitFor(() => aws(node, ['ec2', 'describe-volumes', '--volume-ids', id]).status !== 0, `${id} deleted`)
}

const READ_B = ['read -P 0x42 0 16M', 'read -P 0 16M 16M']

t.test('overwritten, deleted and unsnapshotted chunks go after two passes; shared ones stay', async t => {
  const empty = await reclaim(node)
  t.same(empty, { referenced: 0, deleted: 0, suspects: 0 }, 'a fresh cluster has no chunks')

  const vol = await createVolume(node, 1)
  t.equal((await qemuIo(node, vol, ['write -P 0x41 0 16M', 'flush'])).status, 0)
  await idle()
  const first = await reclaim(node)
  t.ok(first.referenced >= 4, `16 MiB is at least four 4 MiB chunks (${first.referenced})`)
  t.equal(first.suspects, 0, 'nothing is unreferenced yet')

  t.equal((await qemuIo(node, vol, ['write -P 0x42 0 16M', 'flush'])).status, 0)
  await idle()
  const snap = await snapshot(node, vol)
  await deleteVolume(vol)

  const mark = await reclaim(node)
  t.equal(mark.deleted, 0, 'the first pass only suspects')
  t.ok(mark.suspects >= first.referenced, `the overwritten chunks are suspects (${mark.suspects})`)
  t.ok(mark.referenced >= 4, `the snapshot references the new data (${mark.referenced})`)
  const sweep = await reclaim(node)
  t.equal(sweep.deleted, mark.suspects, 'the second pass deletes what the first suspected')
  t.equal(sweep.suspects, 0)
  t.equal(sweep.referenced, mark.referenced)

  const copy = await volumeFrom(snap)
  const read = await qemuIo(node, copy, READ_B)
  t.equal(read.status, 0, read.stderr)
  t.notMatch(read.stdout, /Pattern verification failed/, 'the snapshot reads back after the sweep')

  t.equal(aws(node, ['ec2', 'delete-snapshot', '--snapshot-id', snap]).status, 0)
  const kept1 = await reclaim(node)
  const kept2 = await reclaim(node)
  t.same([kept1.deleted, kept2.deleted], [0, 0], 'the volume made from the snapshot keeps the chunks alive')
  t.equal(kept2.referenced, mark.referenced)
  const again = await qemuIo(node, copy, READ_B)
  t.equal(again.status, 0, again.stderr)
  t.notMatch(again.stdout, /Pattern verification failed/, 'and they still read')

  await deleteVolume(copy)
  const gone1 = await reclaim(node)
  t.same(gone1, { referenced: 0, deleted: 0, suspects: mark.referenced })
  const gone2 = await reclaim(node)
  t.same(gone2, { referenced: 0, deleted: mark.referenced, suspects: 0 })
  t.same(await reclaim(node), { referenced: 0, deleted: 0, suspects: 0 }, 'nothing is left')
})

t.test('a chunk a pending direct-API snapshot was sent is kept; deleting the snapshot frees it', async t => {
  const started = aws(node, ['ebs', 'start-snapshot', '--volume-size', '1'])
  t.equal(started.status, 0, started.stderr)
  const snap = started.json.SnapshotId as string
  const dir = mkdtempSync(join(tmpdir(), 'hive-ebs-reclaim-'))
  const data = Buffer.alloc(512 * 1024, 0x5c)
  writeFileSync(join(dir, 'block'), data)
  const put = aws(node, ['ebs', 'put-snapshot-block', '--snapshot-id', snap, '--block-index', '3', '--block-data', join(dir, 'block'),
    '--data-length', String(data.length), '--checksum', createHash('sha256').update(data).digest('base64'), '--checksum-algorithm', 'SHA256'])
  rmSync(dir, { recursive: true })
  t.equal(put.status, 0, put.stderr)
  t.same([await reclaim(node), await reclaim(node)], [{ referenced: 1, deleted: 0, suspects: 0 }, { referenced: 1, deleted: 0, suspects: 0 }])
  t.equal(aws(node, ['ec2', 'delete-snapshot', '--snapshot-id', snap]).status, 0)
  t.same([await reclaim(node), await reclaim(node)], [{ referenced: 0, deleted: 0, suspects: 1 }, { referenced: 0, deleted: 1, suspects: 0 }])
})
