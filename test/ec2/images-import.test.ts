import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CancelImportTaskCommand, EC2Client } from '@aws-sdk/client-ec2'
import t, { type Test } from 'tap'
import { aws, sdkConfig, startNode } from '../helpers/node.js'
import { ec2Calls } from './helpers.js'
import { hiveAdmin, nbdUri, run, waitFor, zoneOf } from '../ebs/helpers.js'

const node = await startNode({ caps: ['ec2', 'ebs', 's3'] })
const scratch = mkdtempSync(join(tmpdir(), 'hive-image-import-'))
t.teardown(async () => {
  await node.stop()
  rmSync(scratch, { recursive: true, force: true })
})

const { ec2, ok, fails } = ec2Calls(node)

async function sh (t: Test, cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args)
  t.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`)
}

const imageTask = (id: string): any => ec2(['describe-import-image-tasks', '--import-task-ids', id]).json?.ImportImageTasks?.[0]
const snapshotTask = (id: string): any => ec2(['describe-import-snapshot-tasks', '--import-task-ids', id]).json?.ImportSnapshotTasks?.[0]

const ended = (status: string | undefined): boolean => status === 'completed' || status === 'deleted'

/** qemu-img compare of a disk file with a new volume made of the snapshot (the volume may be larger: its tail must read zeros). */
async function compareWithSnapshot (t: Test, file: string, format: string, snapshotId: string): Promise<void> {
  const v = ok(t, ['create-volume', '--snapshot-id', snapshotId, '--availability-zone', zoneOf(node)]).VolumeId
  await waitFor(() => ec2(['describe-volumes', '--volume-ids', v]).json?.Volumes?.[0]?.State === 'available', `${v} available`)
  const cmp = await run('qemu-img', ['compare', '-f', format, '-F', 'raw', file, nbdUri(node, v)])
  t.equal(cmp.status, 0, `the snapshot holds the disk's bytes: ${cmp.stdout}${cmp.stderr}`)
  ok(t, ['delete-volume', '--volume-id', v])
}

// The disks: a raw one spanning several of the ranges the import reads, and a sparse qcow2.
const raw = join(scratch, 'disk.raw')
const qcow2 = join(scratch, 'disk.qcow2')
writeFileSync(raw, Buffer.concat([randomBytes(5 << 20), Buffer.alloc(3 << 20), randomBytes((1 << 20) + 4096)]))
const made = await run('qemu-img', ['create', '-f', 'qcow2', qcow2, '1536M'])
if (made.status !== 0) throw new Error(made.stderr)
const wrote = await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x71 0 1M', '-c', 'write -P 0x72 700M 2M', '-c', 'write -P 0x73 1610481664 131072', qcow2])
if (wrote.status !== 0) throw new Error(wrote.stderr)

t.test('setup: the disks are put into S3 with aws s3 cp', async t => {
  t.equal(aws(node, ['s3', 'mb', 's3://disks']).status, 0)
  for (const [file, key] of [[raw, 'disk.raw'], [qcow2, 'images/disk.qcow2']]) {
    const r = aws(node, ['s3', 'cp', file, `s3://disks/${key}`])
    t.equal(r.status, 0, r.stderr)
  }
})

t.test('import-image of a raw disk → task completes → an available image whose snapshot holds the bytes', async t => {
  const volumes = (): string[] => ec2(['describe-volumes']).json.Volumes.map((v: any) => v.VolumeId).sort()
  const before = volumes()
  const started = ok(t, ['import-image', '--description', 'raw import', '--disk-containers', 'Format=RAW,UserBucket={S3Bucket=disks,S3Key=disk.raw}',
    '--tag-specifications', 'ResourceType=import-image-task,Tags=[{Key=kind,Value=raw}]'])
  const id = started.ImportTaskId
  t.match(id, /^import-ami-[0-9a-f]{17}$/)
  t.match(started, { Status: 'active', StatusMessage: 'pending', Description: 'raw import', Tags: [{ Key: 'kind', Value: 'raw' }] })
  t.match(started.SnapshotDetails[0], { Format: 'RAW', UserBucket: { S3Bucket: 'disks', S3Key: 'disk.raw' } })
  await waitFor(() => ended(imageTask(id)?.Status), `${id} ended`, 300_000)
  const task = imageTask(id)
  t.equal(task.Status, 'completed', task.StatusMessage)
  t.notOk(task.Progress, 'no progress once completed')
  t.match(task.ImageId, /^ami-[0-9a-f]{17}$/)
  t.match(task.SnapshotDetails[0], { Status: 'completed', Format: 'RAW', DiskImageSize: 9441280 })
  const snapshotId = task.SnapshotDetails[0].SnapshotId
  const image = ec2(['describe-images', '--image-ids', task.ImageId]).json.Images[0]
  t.match(image, { Name: id, Description: 'raw import', State: 'available', Architecture: 'x86_64', RootDeviceName: '/dev/sda1' })
  t.match(image.BlockDeviceMappings[0], { DeviceName: '/dev/sda1', Ebs: { SnapshotId: snapshotId, VolumeSize: 1 } })
  t.equal(ec2(['describe-snapshots', '--snapshot-ids', snapshotId]).json.Snapshots[0].State, 'completed')
  t.same(volumes(), before, 'the volume the disk was written to is gone')
  await compareWithSnapshot(t, raw, 'raw', snapshotId)
  t.same(ec2(['describe-import-image-tasks', '--filters', 'Name=task-state,Values=completed']).json.ImportImageTasks.map((x: any) => x.ImportTaskId), [id])
  t.same(ec2(['describe-import-image-tasks', '--filters', 'Name=tag:kind,Values=raw']).json.ImportImageTasks.map((x: any) => x.ImportTaskId), [id])
})

t.test('import-snapshot of a qcow2 disk by s3:// Url → the snapshot holds its bytes', async t => {
  const started = ok(t, ['import-snapshot', '--description', 'qcow2 import', '--disk-container', 'Format=QCOW2,Url=s3://disks/images/disk.qcow2'])
  const id = started.ImportTaskId
  t.match(id, /^import-snap-[0-9a-f]{17}$/)
  t.match(started.SnapshotTaskDetail, { Status: 'active', StatusMessage: 'pending', Url: 's3://disks/images/disk.qcow2', UserBucket: { S3Bucket: 'disks', S3Key: 'images/disk.qcow2' } })
  await waitFor(() => ended(snapshotTask(id)?.SnapshotTaskDetail.Status), `${id} ended`, 300_000)
  const detail = snapshotTask(id).SnapshotTaskDetail
  t.equal(detail.Status, 'completed', detail.StatusMessage)
  t.equal(detail.Format, 'QCOW2')
  const snapshot = ec2(['describe-snapshots', '--snapshot-ids', detail.SnapshotId]).json.Snapshots[0]
  t.match(snapshot, { State: 'completed', VolumeSize: 2 })
  await compareWithSnapshot(t, qcow2, 'qcow2', detail.SnapshotId)
})

t.test('import errors: no such object, bad format, a disk that is not what it says, a backing file', async t => {
  fails(t, ['import-image', '--disk-containers', 'Format=RAW,UserBucket={S3Bucket=disks,S3Key=missing.raw}'], 'InvalidParameter')
  fails(t, ['import-image', '--disk-containers', 'Format=RAW,UserBucket={S3Bucket=no-such-bucket,S3Key=disk.raw}'], 'InvalidParameter')
  fails(t, ['import-image', '--disk-containers', 'Format=ISO,UserBucket={S3Bucket=disks,S3Key=disk.raw}'], 'InvalidParameter', /Invalid disk format/)
  fails(t, ['import-image', '--disk-containers', 'Format=RAW,Url=https://example.com/disk.raw'], 'InvalidParameter')
  fails(t, ['import-image', '--disk-containers', 'Format=RAW'], 'InvalidParameter')
  fails(t, ['import-image', '--architecture', 'sparc', '--disk-containers', 'Format=RAW,Url=s3://disks/disk.raw'], 'InvalidParameterValue')
  fails(t, ['import-snapshot'], 'MissingParameter')

  const mismatch = ok(t, ['import-snapshot', '--disk-container', 'Format=VMDK,Url=s3://disks/disk.raw']).ImportTaskId
  await waitFor(() => ended(snapshotTask(mismatch)?.SnapshotTaskDetail.Status), `${mismatch} ended`, 300_000)
  t.match(snapshotTask(mismatch).SnapshotTaskDetail, { Status: 'deleted', StatusMessage: /^ClientError: Disk validation failed/ })

  // A qcow2 naming a file of the host as its backing file must never be read.
  const backed = join(scratch, 'backed.qcow2')
  await sh(t, 'qemu-img', ['create', '-f', 'qcow2', '-b', raw, '-F', 'raw', backed])
  t.equal(aws(node, ['s3', 'cp', backed, 's3://disks/backed.qcow2']).status, 0)
  const sneaky = ok(t, ['import-image', '--disk-containers', 'Url=s3://disks/backed.qcow2']).ImportTaskId
  await waitFor(() => ended(imageTask(sneaky)?.Status), `${sneaky} ended`, 300_000)
  t.match(imageTask(sneaky), { Status: 'deleted', StatusMessage: /^ClientError: .*backing file/ })
  t.notOk(imageTask(sneaky).ImageId)

  fails(t, ['describe-import-image-tasks', '--import-task-ids', 'import-ami-0123456789abcdef0'], 'InvalidConversionTaskId')
  fails(t, ['describe-import-image-tasks', '--import-task-ids', 'task-1'], 'InvalidConversionTaskId.Malformed')
})

t.test('cancel-import-task: an active task goes deleting → deleted; an ended one cannot be canceled', async t => {
  const big = join(scratch, 'big.raw')
  writeFileSync(big, randomBytes(96 << 20))
  t.equal(aws(node, ['s3', 'cp', big, 's3://disks/big.raw']).status, 0)
  const id = ok(t, ['import-snapshot', '--disk-container', 'Format=RAW,Url=s3://disks/big.raw']).ImportTaskId
  // Through the SDK, which is quick enough to find the task still at work (the aws CLI's start-up rarely is).
  const sdk = new EC2Client(sdkConfig(node))
  t.teardown(() => { sdk.destroy() })
  const r = await sdk.send(new CancelImportTaskCommand({ ImportTaskId: id, CancelReason: 'changed my mind' })).catch((e: Error) => e)
  if (r instanceof Error) {
    // The machine was quicker than the cancel: the task had already ended.
    t.equal(r.name, 'IncorrectState')
  } else {
    t.match(r, { ImportTaskId: id, PreviousState: 'active', State: 'deleting' })
    await waitFor(() => snapshotTask(id)?.SnapshotTaskDetail.Status === 'deleted', `${id} deleted`, 120_000)
    t.match(snapshotTask(id).SnapshotTaskDetail, { Status: 'deleted', StatusMessage: 'changed my mind' })
    t.notOk(snapshotTask(id).SnapshotTaskDetail.SnapshotId, 'no snapshot was kept')
  }
  fails(t, ['cancel-import-task', '--import-task-id', id], 'IncorrectState')
  fails(t, ['cancel-import-task', '--import-task-id', 'import-snap-0123456789abcdef0'], 'InvalidConversionTaskId')
  fails(t, ['cancel-import-task', '--import-task-id', 'nope'], 'InvalidConversionTaskId.Malformed')
})


t.test('hive admin ec2 images import makes an available AMI of a local disk, with a progress bar', async t => {
  const r = await hiveAdmin(node, ['images', 'import', qcow2, '--name', 'admin-image', '--description', 'from the admin'], 'ec2')
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  t.match(r.stdout, /importing .*disk\.qcow2 \[#+\] 100%/)
  const id = /^(ami-[0-9a-f]{17})$/m.exec(r.stdout)?.[1]
  t.ok(id, `the image id is printed: ${r.stdout}`)
  if (id === undefined) return
  const image = ec2(['describe-images', '--image-ids', id]).json.Images[0]
  t.match(image, { Name: 'admin-image', Description: 'from the admin', State: 'available', RootDeviceName: '/dev/xvda' })
  await compareWithSnapshot(t, qcow2, 'qcow2', image.BlockDeviceMappings[0].Ebs.SnapshotId)

  const dup = await hiveAdmin(node, ['images', 'import', qcow2, '--name', 'admin-image'], 'ec2')
  t.equal(dup.status, 1)
  t.match(dup.stdout, /already in use by AMI/)
  const missing = await hiveAdmin(node, ['images', 'import', join(scratch, 'nothing.img'), '--name', 'x-image'], 'ec2')
  t.equal(missing.status, 2)
  const usage = await hiveAdmin(node, ['images', 'import', qcow2], 'ec2')
  t.equal(usage.status, 2, 'no --name: usage')
  t.match(usage.stdout, /usage: hive admin ec2 images import/)
})
