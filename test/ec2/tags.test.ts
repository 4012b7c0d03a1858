import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { aws, startNode, type CliResult } from '../helpers/node.js'

// Tags of resources three capabilities own: volumes and snapshots (ebs), key pairs (ec2). ebs needs s3.
const node = await startNode({ caps: ['ec2', 'ebs', 's3'] })
t.teardown(async () => { await node.stop() })
const az = (JSON.parse(readFileSync(join(node.dataDir, 'hive.json'), 'utf8')) as { az: string }).az

interface TagDescription { ResourceId: string, ResourceType: string, Key: string, Value: string }

function ok (t: Test, args: string[]): any {
  const r = aws(node, ['ec2', ...args])
  t.equal(r.status, 0, r.stderr)
  return r.json
}

function fails (t: Test, args: string[], code: string, message?: RegExp): CliResult {
  const r = aws(node, ['ec2', ...args])
  t.not(r.status, 0, `${args[0]} fails`)
  t.match(r.stderr, `(${code})`, `${args[0]} → ${code}`)
  if (message !== undefined) t.match(r.stderr, message)
  return r
}

const newVolume = (t: Test, ...args: string[]): string => ok(t, ['create-volume', '--availability-zone', az, '--size', '1', ...args]).VolumeId
const describeTags = (t: Test, ...args: string[]): TagDescription[] => ok(t, ['describe-tags', ...args]).Tags
const tagsOf = (t: Test, id: string): Array<{ Key: string, Value: string }> =>
  describeTags(t, '--filters', `Name=resource-id,Values=${id}`).map(({ Key, Value }) => ({ Key, Value }))
/** Key=k0,Value=v0 Key=k1,Value=v1 … */
const manyTags = (n: number, prefix = 'k'): string[] => Array.from({ length: n }, (_, i) => `Key=${prefix}${i},Value=v${i}`)

const vol = newVolume(t)
const snap: string = ok(t, ['create-snapshot', '--volume-id', vol]).SnapshotId
const key: string = ok(t, ['create-key-pair', '--key-name', 'tags-test', '--key-type', 'ed25519']).KeyPairId

t.test('create-tags - a volume, a snapshot and a key pair in one call; describe-tags lists them by resource id, then key', async t => {
  ok(t, ['create-tags', '--resources', vol, snap, key, '--tags', 'Key=team,Value=blue', 'Key=Name,Value=shared'])
  const mine = describeTags(t, '--filters', `Name=resource-id,Values=${vol},${snap},${key}`)
  const sorted = [key, snap, vol].sort()
  const type: Record<string, string> = { [vol]: 'volume', [snap]: 'snapshot', [key]: 'key-pair' }
  t.same(mine, sorted.flatMap(id => [
    { ResourceId: id, ResourceType: type[id], Key: 'Name', Value: 'shared' },
    { ResourceId: id, ResourceType: type[id], Key: 'team', Value: 'blue' }
  ]))
  t.same(ok(t, ['describe-volumes', '--volume-ids', vol]).Volumes[0].Tags, [{ Key: 'team', Value: 'blue' }, { Key: 'Name', Value: 'shared' }], 'in the order they were set')
  t.same(ok(t, ['describe-snapshots', '--snapshot-ids', snap]).Snapshots[0].Tags, [{ Key: 'team', Value: 'blue' }, { Key: 'Name', Value: 'shared' }])
  t.same(ok(t, ['describe-key-pairs', '--key-pair-ids', key]).KeyPairs[0].Tags, [{ Key: 'team', Value: 'blue' }, { Key: 'Name', Value: 'shared' }])
})

t.test('create-tags - a key already set takes the new value, in its place', async t => {
  const v = newVolume(t, '--tag-specifications', 'ResourceType=volume,Tags=[{Key=a,Value=1},{Key=b,Value=2}]')
  ok(t, ['create-tags', '--resources', v, '--tags', 'Key=a,Value=one', 'Key=c,Value=3'])
  t.same(ok(t, ['describe-volumes', '--volume-ids', v]).Volumes[0].Tags, [{ Key: 'a', Value: 'one' }, { Key: 'b', Value: '2' }, { Key: 'c', Value: '3' }])
  ok(t, ['create-tags', '--resources', v, '--tags', 'Key=b,Value='])
  t.same(tagsOf(t, v), [{ Key: 'a', Value: 'one' }, { Key: 'b', Value: '' }, { Key: 'c', Value: '3' }], 'an empty value is a value')
})

t.test('describe-tags - filters key, value, resource-type, resource-id and tag:<key>, with wildcards', async t => {
  const a = newVolume(t, '--tag-specifications', 'ResourceType=volume,Tags=[{Key=filter-env,Value=prod},{Key=filter-owner,Value=ann}]')
  const b = newVolume(t, '--tag-specifications', 'ResourceType=volume,Tags=[{Key=filter-env,Value=dev}]')
  ok(t, ['create-tags', '--resources', key, '--tags', 'Key=filter-env,Value=prod'])
  const ids = (...filters: string[]): string[] => describeTags(t, '--filters', ...filters).map(d => `${d.ResourceId} ${d.Key}=${d.Value}`)
  t.same(ids('Name=key,Values=filter-env'), [`${key} filter-env=prod`, `${a} filter-env=prod`, `${b} filter-env=dev`].sort())
  t.same(ids('Name=key,Values=filter-env', 'Name=value,Values=prod'), [`${key} filter-env=prod`, `${a} filter-env=prod`].sort())
  t.same(ids('Name=key,Values=filter-*', 'Name=resource-type,Values=volume', 'Name=value,Values=prod,ann'), [`${a} filter-env=prod`, `${a} filter-owner=ann`])
  t.same(ids('Name=key,Values=filter-env', 'Name=resource-type,Values=key-pair'), [`${key} filter-env=prod`])
  t.same(ids(`Name=resource-id,Values=${b}`), [`${b} filter-env=dev`])
  t.same(ids('Name=tag:filter-owner,Values=ann'), [`${a} filter-env=prod`, `${a} filter-owner=ann`], 'every tag of the resources that have the tag')
  t.same(ids('Name=value,Values=pr?d', 'Name=resource-type,Values=volume'), [`${a} filter-env=prod`])
  t.same(ids('Name=key,Values=no-such-key'), [])
  fails(t, ['describe-tags', '--filters', 'Name=colour,Values=x'], 'InvalidParameterValue', /colour/)
})

t.test('describe-tags - MaxResults and NextToken page through every tag once, in order', async t => {
  const v = newVolume(t)
  ok(t, ['create-tags', '--resources', v, '--tags', ...manyTags(12, 'page')])
  const filter = ['--filters', `Name=resource-id,Values=${v}`]
  const first = ok(t, ['describe-tags', ...filter, '--max-results', '5'])
  t.equal(first.Tags.length, 5)
  t.type(first.NextToken, 'string')
  const second = ok(t, ['describe-tags', ...filter, '--max-results', '5', '--next-token', first.NextToken])
  const third = ok(t, ['describe-tags', ...filter, '--max-results', '5', '--next-token', second.NextToken])
  t.equal(third.Tags.length, 2)
  t.notOk(third.NextToken, 'the last page has no NextToken')
  const all: TagDescription[] = ok(t, ['describe-tags', ...filter]).Tags
  t.same([...first.Tags, ...second.Tags, ...third.Tags], all)
  t.same(all.map(d => d.Key), manyTags(12, 'page').map(s => /Key=(\w+)/.exec(s)?.[1]).sort())
  t.same(ok(t, ['describe-tags', ...filter, '--page-size', '5']).Tags, all, 'the CLI collects the pages')
  const items = ok(t, ['describe-tags', ...filter, '--max-items', '7'])
  t.equal(items.Tags.length, 7)
  t.same([...items.Tags, ...ok(t, ['describe-tags', ...filter, '--starting-token', items.NextToken]).Tags], all)
  fails(t, ['describe-tags', '--max-results', '4'], 'InvalidParameterValue', /maxResults/)
  fails(t, ['describe-tags', '--max-results', '5', '--next-token', 'not-a-token'], 'InvalidPaginationToken')
})

t.test('describe-volumes, describe-snapshots, describe-key-pairs - tag: and tag-key filters see tags set by create-tags', async t => {
  const v = newVolume(t)
  const other = newVolume(t)
  ok(t, ['create-tags', '--resources', v, snap, key, '--tags', 'Key=stage,Value=qa'])
  const volumes = (...filters: string[]): string[] => ok(t, ['describe-volumes', '--filters', ...filters]).Volumes.map((x: { VolumeId: string }) => x.VolumeId)
  t.ok(volumes('Name=tag:stage,Values=qa').includes(v))
  t.notOk(volumes('Name=tag:stage,Values=qa').includes(other))
  t.ok(volumes('Name=tag-key,Values=stage').includes(v))
  t.same(volumes('Name=tag:stage,Values=prod'), [])
  t.same(ok(t, ['describe-snapshots', '--owner-ids', 'self', '--filters', 'Name=tag:stage,Values=qa']).Snapshots.map((s: { SnapshotId: string }) => s.SnapshotId), [snap])
  t.same(ok(t, ['describe-key-pairs', '--filters', 'Name=tag-key,Values=stage']).KeyPairs.map((k: { KeyPairId: string }) => k.KeyPairId), [key])
})

t.test('delete-tags - by key whatever the value, by key and value only when it matches, or all of them', async t => {
  const v = newVolume(t)
  ok(t, ['create-tags', '--resources', v, '--tags', 'Key=a,Value=1', 'Key=b,Value=2', 'Key=c,Value=', 'Key=d,Value=4'])
  ok(t, ['delete-tags', '--resources', v, '--tags', 'Key=a'])
  t.same(tagsOf(t, v).map(x => x.Key), ['b', 'c', 'd'], 'a key without a value goes whatever its value')
  ok(t, ['delete-tags', '--resources', v, '--tags', 'Key=b,Value=other'])
  t.same(tagsOf(t, v).map(x => x.Key), ['b', 'c', 'd'], 'a value that does not match leaves the tag')
  ok(t, ['delete-tags', '--resources', v, '--tags', 'Key=b,Value=2', 'Key=d,Value='])
  t.same(tagsOf(t, v).map(x => x.Key), ['c', 'd'], 'an empty value matches only an empty value')
  ok(t, ['delete-tags', '--resources', v, '--tags', 'Key=c,Value=', 'Key=no-such-key'])
  t.same(tagsOf(t, v), [{ Key: 'd', Value: '4' }])
  ok(t, ['create-tags', '--resources', v, '--tags', 'Key=x,Value=1', 'Key=y,Value=2'])
  ok(t, ['delete-tags', '--resources', v])
  t.same(tagsOf(t, v), [], 'no tags named: all of them go')
  t.notOk('Tags' in ok(t, ['describe-volumes', '--volume-ids', v]).Volumes[0])
})

t.test('create-tags - 50 tags a resource at most → TagLimitExceeded, counting those it has', async t => {
  const v = newVolume(t)
  fails(t, ['create-tags', '--resources', v, '--tags', ...manyTags(51)], 'TagLimitExceeded')
  ok(t, ['create-tags', '--resources', v, '--tags', ...manyTags(45)])
  fails(t, ['create-tags', '--resources', v, '--tags', ...manyTags(6, 'more')], 'TagLimitExceeded')
  ok(t, ['create-tags', '--resources', v, '--tags', ...manyTags(5, 'more'), 'Key=k0,Value=again'])
  t.equal(tagsOf(t, v).length, 50, 'an overwritten key does not count twice')
  fails(t, ['create-volume', '--availability-zone', az, '--size', '1', '--tag-specifications', `ResourceType=volume,Tags=[${manyTags(51).map(s => `{${s}}`).join(',')}]`], 'TagLimitExceeded')
})

t.test('create-tags - keys and values EC2 refuses: aws: prefix, empty or long keys, long values, no value, duplicates', async t => {
  fails(t, ['create-tags', '--resources', vol, '--tags', 'Key=aws:owner,Value=x'], 'InvalidParameterValue', /reserved for internal use/)
  fails(t, ['create-tags', '--resources', vol, '--tags', 'Key=AWS:owner,Value=x'], 'InvalidParameterValue', /reserved for internal use/)
  fails(t, ['delete-tags', '--resources', vol, '--tags', 'Key=aws:owner'], 'InvalidParameterValue', /reserved for internal use/)
  fails(t, ['create-tags', '--resources', vol, '--tags', 'Key=,Value=x'], 'InvalidParameterValue', /cannot be null or empty/)
  fails(t, ['create-tags', '--resources', vol, '--tags', `Key=${'k'.repeat(129)},Value=x`], 'InvalidParameterValue', /128/)
  ok(t, ['create-tags', '--resources', vol, '--tags', `Key=${'k'.repeat(128)},Value=${'v'.repeat(256)}`])
  fails(t, ['create-tags', '--resources', vol, '--tags', `Key=long,Value=${'v'.repeat(257)}`], 'InvalidParameterValue', /256/)
  fails(t, ['create-tags', '--resources', vol, '--tags', 'Key=novalue'], 'InvalidParameterValue', /cannot be null/)
  fails(t, ['create-tags', '--resources', vol, '--tags', 'Key=twice,Value=1', 'Key=twice,Value=2'], 'InvalidParameterValue', /Duplicate tag key 'twice'/)
  fails(t, ['create-tags', '--resources', vol, '--tags', '[]'], 'MissingParameter')
  fails(t, ['create-tags', '--resources', '[]', '--tags', 'Key=a,Value=b'], 'MissingParameter')
})

t.test('create-tags, delete-tags - an id must be well formed (InvalidID) and the account\'s (the NotFound of its kind); nothing is tagged then', async t => {
  fails(t, ['create-tags', '--resources', 'vol-123', '--tags', 'Key=a,Value=b'], 'InvalidID', /The ID 'vol-123' is not valid/)
  fails(t, ['create-tags', '--resources', 'nonsense', '--tags', 'Key=a,Value=b'], 'InvalidID')
  fails(t, ['create-tags', '--resources', 'zzz-0123456789abcdef0', '--tags', 'Key=a,Value=b'], 'InvalidID', /not valid/)
  fails(t, ['create-tags', '--resources', 'vol-0123456789ABCDEF0', '--tags', 'Key=a,Value=b'], 'InvalidID')
  fails(t, ['create-tags', '--resources', vol, 'vol-0123456789abcdef0', '--tags', 'Key=orphan,Value=b'], 'InvalidVolume.NotFound', /vol-0123456789abcdef0/)
  t.notOk(tagsOf(t, vol).some(x => x.Key === 'orphan'), 'the volume that exists was not tagged either')
  fails(t, ['create-tags', '--resources', 'snap-0123456789abcdef0', '--tags', 'Key=a,Value=b'], 'InvalidSnapshot.NotFound')
  fails(t, ['create-tags', '--resources', 'key-0123456789abcdef0', '--tags', 'Key=a,Value=b'], 'InvalidKeyPair.NotFound')
  fails(t, ['create-tags', '--resources', 'ami-0123456789abcdef0', '--tags', 'Key=a,Value=b'], 'InvalidAMIID.NotFound')
  fails(t, ['create-tags', '--resources', 'i-0123456789abcdef0', '--tags', 'Key=a,Value=b'], 'InvalidInstanceID.NotFound')
  fails(t, ['create-tags', '--resources', 'vpc-0123456789abcdef0', '--tags', 'Key=a,Value=b'], 'InvalidVpcID.NotFound')
  fails(t, ['delete-tags', '--resources', 'vol-0123456789abcdef0'], 'InvalidVolume.NotFound')
  fails(t, ['delete-tags', '--resources', 'bad-id'], 'InvalidID')
})

t.test('delete-volume, delete-snapshot, delete-key-pair - the resource\'s tags go with it', async t => {
  const v = newVolume(t, '--tag-specifications', 'ResourceType=volume,Tags=[{Key=gone,Value=soon}]')
  const s = ok(t, ['create-snapshot', '--volume-id', v, '--tag-specifications', 'ResourceType=snapshot,Tags=[{Key=gone,Value=soon}]']).SnapshotId
  const k = ok(t, ['create-key-pair', '--key-name', 'tags-gone', '--tag-specifications', 'ResourceType=key-pair,Tags=[{Key=gone,Value=soon}]']).KeyPairId
  t.equal(describeTags(t, '--filters', 'Name=key,Values=gone').length, 3)
  for (let i = 0; i < 100 && ok(t, ['describe-snapshots', '--snapshot-ids', s]).Snapshots[0].State === 'pending'; i++) await new Promise(resolve => setTimeout(resolve, 200))
  ok(t, ['delete-snapshot', '--snapshot-id', s])
  ok(t, ['delete-volume', '--volume-id', v])
  ok(t, ['delete-key-pair', '--key-pair-id', k])
  t.same(describeTags(t, '--filters', 'Name=key,Values=gone'), [])
})
