import t from 'tap'
import { aws, startNode } from '../helpers/node.js'
import { createVolume, nbdUri, qemuIo, run, snapshot, waitFor, zoneOf } from './helpers.js'

const GIB = 1024 ** 3

let node = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-resize' })
t.teardown(async () => { await node.stop() })

async function virtualSize (volumeId: string): Promise<number> {
  const r = await run('qemu-img', ['info', '--output', 'json', nbdUri(node, volumeId)])
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout)['virtual-size'] as number
}

function modification (volumeId: string): Record<string, any> | undefined {
  return aws(node, ['ec2', 'describe-volumes-modifications', '--volume-ids', volumeId]).json?.VolumesModifications?.[0]
}

let vol = ''

t.test('a volume grows online: the new size shows over NBD, the new space works, the old data stays', async t => {
  vol = await createVolume(node, 1)
  t.equal(await virtualSize(vol), GIB)
  const tail = GIB - 1024 * 1024
  t.equal((await qemuIo(node, vol, [`write -P 0x7e ${tail} 1M`, 'write -P 0x10 0 64k', 'flush'])).status, 0)

  const m = aws(node, ['ec2', 'modify-volume', '--volume-id', vol, '--size', '2'])
  t.equal(m.status, 0, m.stderr)
  t.equal(m.json.VolumeModification.ModificationState, 'modifying')
  t.equal(m.json.VolumeModification.OriginalSize, 1)
  t.equal(m.json.VolumeModification.TargetSize, 2)

  await waitFor(() => ['optimizing', 'completed'].includes(modification(vol)?.ModificationState), `${vol} modified`)
  await waitFor(() => modification(vol)?.ModificationState === 'completed', `${vol} modification completed`)
  const done = modification(vol) as Record<string, any>
  t.equal(done.Progress, 100)
  t.type(done.EndTime, 'string')
  t.equal(aws(node, ['ec2', 'describe-volumes', '--volume-ids', vol]).json.Volumes[0].Size, 2)

  t.equal(await virtualSize(vol), 2 * GIB, 'qemu-img sees 2 GiB on a new connection')
  const mid = 1.5 * GIB
  const rw = await qemuIo(node, vol, [
    `write -P 0x15 ${mid} 1M`, 'flush', `read -P 0x15 ${mid} 1M`,
    `read -P 0x7e ${tail} 1M`, 'read -P 0x10 0 64k',
    `read -P 0 ${GIB} 1M`, `write -P 0x2f ${2 * GIB - 4096} 4096`, `read -P 0x2f ${2 * GIB - 4096} 4096`
  ])
  t.equal(rw.status, 0, rw.stderr)
  t.notMatch(rw.stdout, /Pattern verification failed/)
  t.equal((rw.stdout.match(/^read /gm) ?? []).length, 5)
  t.notMatch(rw.stdout + rw.stderr, /out of range|Invalid argument|error/i)

  const past = await qemuIo(node, vol, [`write -P 1 ${2 * GIB} 4096`])
  t.match(past.stdout + past.stderr, /write failed/, 'past the new end is refused')
})

t.test('a snapshot of the grown volume is 2 GiB, and a volume made from it has the new-space data', async t => {
  const snap = await snapshot(node, vol)
  t.equal(aws(node, ['ec2', 'describe-snapshots', '--snapshot-ids', snap]).json.Snapshots[0].VolumeSize, 2)
  const r = aws(node, ['ec2', 'create-volume', '--snapshot-id', snap, '--availability-zone', zoneOf(node)])
  t.equal(r.status, 0, r.stderr)
  const copy = r.json.VolumeId as string
  await waitFor(() => aws(node, ['ec2', 'describe-volumes', '--volume-ids', copy]).json?.Volumes?.[0]?.State === 'available', `${copy} available`)
  t.equal(await virtualSize(copy), 2 * GIB)
  const read = await qemuIo(node, copy, [`read -P 0x15 ${1.5 * GIB} 1M`, `read -P 0x7e ${GIB - 1024 * 1024} 1M`])
  t.equal(read.status, 0, read.stderr)
  t.notMatch(read.stdout, /Pattern verification failed/)
})

t.test('growth survives a restart of the node', async t => {
  await node.stop('SIGTERM', { keep: true })
  node = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-resize', home: node.home })
  t.equal(await virtualSize(vol), 2 * GIB)
  const read = await qemuIo(node, vol, [`read -P 0x15 ${1.5 * GIB} 1M`, `read -P 0x2f ${2 * GIB - 4096} 4096`])
  t.equal(read.status, 0, read.stderr)
  t.notMatch(read.stdout, /Pattern verification failed/)
})

t.test('shrinking is refused as AWS refuses it, and the volume is unchanged', async t => {
  const r = aws(node, ['ec2', 'modify-volume', '--volume-id', vol, '--size', '1'])
  t.not(r.status, 0)
  t.match(r.stderr, /InvalidParameterValue/)
  t.match(r.stderr, /New size cannot be smaller than existing size/)
  t.equal(aws(node, ['ec2', 'describe-volumes', '--volume-ids', vol]).json.Volumes[0].Size, 2)
  t.equal(modification(vol)?.TargetSize, 2, 'the last modification is still the growth')
  t.equal(await virtualSize(vol), 2 * GIB)
})
