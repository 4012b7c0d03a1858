import { CopySnapshotCommand, CreateSnapshotCommand, CreateVolumeCommand, DescribeSnapshotsCommand, EC2Client, GetEbsEncryptionByDefaultCommand } from '@aws-sdk/client-ec2'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { aws, sdkConfig, startNode } from '../helpers/node.js'

const node = await startNode({ caps: ['ebs', 's3'] })
t.teardown(async () => { await node.stop() })
const az = (JSON.parse(readFileSync(join(node.dataDir, 'hive.json'), 'utf8')) as { az: string }).az
const ec2 = new EC2Client(sdkConfig(node))
const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab'

function ok (t: Test, args: string[]): any {
  const r = aws(node, ['ec2', ...args])
  t.equal(r.status, 0, r.stderr)
  return r.json
}

async function completed (t: Test, snapshotId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }))).Snapshots?.[0]
    if (s?.State === 'completed') return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.fail(`${snapshotId} did not complete`)
}

t.test('encryption by default - off, enabled, disabled; new volumes follow it with the default key', async t => {
  t.same(ok(t, ['get-ebs-encryption-by-default']), { EbsEncryptionByDefault: false })
  t.same(ok(t, ['enable-ebs-encryption-by-default']), { EbsEncryptionByDefault: true })
  t.same(ok(t, ['get-ebs-encryption-by-default']), { EbsEncryptionByDefault: true })
  const v = ok(t, ['create-volume', '--availability-zone', az, '--size', '1'])
  t.match(v, { Encrypted: true, KmsKeyId: `arn:aws:kms:${node.region}:${node.accountId}:alias/aws/ebs` })
  t.same(ok(t, ['disable-ebs-encryption-by-default']), { EbsEncryptionByDefault: false })
  t.equal((await ec2.send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault, false)
  t.match(ok(t, ['create-volume', '--availability-zone', az, '--size', '1']), { Encrypted: false })
})

t.test('default KMS key - alias/aws/ebs until modified, an ARN once set, back after reset', async t => {
  t.same(ok(t, ['get-ebs-default-kms-key-id']), { KmsKeyId: 'alias/aws/ebs' })
  const arn = `arn:aws:kms:${node.region}:${node.accountId}:key/${KEY}`
  t.same(ok(t, ['modify-ebs-default-kms-key-id', '--kms-key-id', KEY]), { KmsKeyId: arn })
  t.same(ok(t, ['get-ebs-default-kms-key-id']), { KmsKeyId: arn })
  t.match(ok(t, ['create-volume', '--availability-zone', az, '--size', '1', '--encrypted']), { Encrypted: true, KmsKeyId: arn }, 'encrypted volumes take the default key')
  t.same(ok(t, ['reset-ebs-default-kms-key-id']), { KmsKeyId: 'alias/aws/ebs' })
  const r = aws(node, ['ec2', 'modify-ebs-default-kms-key-id', '--kms-key-id', 'not a key'])
  t.match(r.stderr, '(InvalidParameterValue)')
})

t.test('create-volume - Encrypted with a KmsKeyId; a KmsKeyId alone → InvalidParameterDependency', async t => {
  const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: az, Size: 1, Encrypted: true, KmsKeyId: 'alias/my-key' }))
  t.match(v, { Encrypted: true, KmsKeyId: `arn:aws:kms:${node.region}:${node.accountId}:alias/my-key` })
  const r = aws(node, ['ec2', 'create-volume', '--availability-zone', az, '--size', '1', '--kms-key-id', KEY])
  t.match(r.stderr, '(InvalidParameterDependency)')
})

t.test('snapshots carry their volume\'s encryption; a copy may encrypt; a volume from an encrypted snapshot is encrypted', async t => {
  const plain = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: az, Size: 2 }))
  const snap = await ec2.send(new CreateSnapshotCommand({ VolumeId: plain.VolumeId }))
  t.equal(snap.Encrypted, false)
  await completed(t, snap.SnapshotId as string)
  const copy = await ec2.send(new CopySnapshotCommand({ SourceSnapshotId: snap.SnapshotId, SourceRegion: node.region, Encrypted: true, KmsKeyId: KEY }))
  await completed(t, copy.SnapshotId as string)
  const described = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [copy.SnapshotId as string] }))).Snapshots?.[0]
  t.match(described, { Encrypted: true, KmsKeyId: `arn:aws:kms:${node.region}:${node.accountId}:key/${KEY}` })
  const v = ok(t, ['create-volume', '--availability-zone', az, '--snapshot-id', copy.SnapshotId as string])
  t.match(v, { Encrypted: true, Size: 2, SnapshotId: copy.SnapshotId })
})
