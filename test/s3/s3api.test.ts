// Every action the s3 capability serves, once through the real aws CLI's `s3api` (the SDK tests
// cover each in depth): the CLI's own request shapes and its parsing of Hive's answers.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { aws, startNode, type CliResult } from '../helpers/node.js'
import { md5 } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
const work = mkdtempSync(join(tmpdir(), 'hive-s3api-'))
t.teardown(async () => {
  await node.stop()
  rmSync(work, { recursive: true, force: true })
})

function api (t: Test, args: string[]): CliResult {
  const r = aws(node, ['s3api', ...args])
  t.equal(r.status, 0, `s3api ${args[0]}: ${r.stderr}`)
  return r
}

function fails (t: Test, args: string[], code: string): void {
  const r = aws(node, ['s3api', ...args])
  t.not(r.status, 0, `s3api ${args[0]} fails`)
  t.match(r.stderr, new RegExp(`\\(${code}\\)`), `s3api ${args[0]} → ${code}`)
}

const file = (name: string, body: string | Buffer): string => {
  const p = join(work, name)
  writeFileSync(p, body)
  return p
}

t.test('buckets: create, head, location, tagging, list, delete', async t => {
  api(t, ['create-bucket', '--bucket', 'api-buckets'])
  fails(t, ['create-bucket', '--bucket', 'Bad_Name'], 'InvalidBucketName')
  api(t, ['head-bucket', '--bucket', 'api-buckets'])
  t.equal(api(t, ['get-bucket-location', '--bucket', 'api-buckets']).json.LocationConstraint, null, 'us-east-1 has no constraint')
  api(t, ['put-bucket-tagging', '--bucket', 'api-buckets', '--tagging', 'TagSet=[{Key=team,Value=storage}]'])
  t.same(api(t, ['get-bucket-tagging', '--bucket', 'api-buckets']).json.TagSet, [{ Key: 'team', Value: 'storage' }])
  api(t, ['delete-bucket-tagging', '--bucket', 'api-buckets'])
  fails(t, ['get-bucket-tagging', '--bucket', 'api-buckets'], 'NoSuchTagSet')
  t.ok(api(t, ['list-buckets']).json.Buckets.some((b: { Name: string }) => b.Name === 'api-buckets'))
  api(t, ['delete-bucket', '--bucket', 'api-buckets'])
  fails(t, ['get-bucket-location', '--bucket', 'api-buckets'], 'NoSuchBucket')
})

t.test('objects: put, head, get (range, conditions), copy, tagging, list v1/v2, delete, delete-objects', async t => {
  api(t, ['create-bucket', '--bucket', 'api-objects'])
  const body = 'hello from the aws CLI\n'
  const put = api(t, ['put-object', '--bucket', 'api-objects', '--key', 'dir/a.txt', '--body', file('a.txt', body),
    '--content-type', 'text/plain', '--metadata', 'owner=ops', '--tagging', 'k=v'])
  t.equal(put.json.ETag, `"${md5(Buffer.from(body))}"`)
  const head = api(t, ['head-object', '--bucket', 'api-objects', '--key', 'dir/a.txt'])
  t.equal(head.json.ContentLength, body.length)
  t.equal(head.json.ContentType, 'text/plain')
  t.same(head.json.Metadata, { owner: 'ops' })
  const out = join(work, 'range.out')
  const ranged = api(t, ['get-object', '--bucket', 'api-objects', '--key', 'dir/a.txt', '--range', 'bytes=0-4', out])
  t.equal(readFileSync(out, 'utf8'), 'hello')
  t.equal(ranged.json.ContentRange, `bytes 0-4/${body.length}`)
  fails(t, ['get-object', '--bucket', 'api-objects', '--key', 'dir/a.txt', '--if-match', '"nope"', out], 'PreconditionFailed')
  fails(t, ['get-object', '--bucket', 'api-objects', '--key', 'missing', out], 'NoSuchKey')
  api(t, ['copy-object', '--bucket', 'api-objects', '--key', 'dir/b.txt', '--copy-source', 'api-objects/dir/a.txt'])
  t.same(api(t, ['get-object-tagging', '--bucket', 'api-objects', '--key', 'dir/b.txt']).json.TagSet, [{ Key: 'k', Value: 'v' }], 'the copy keeps the tags')
  api(t, ['put-object-tagging', '--bucket', 'api-objects', '--key', 'dir/b.txt', '--tagging', 'TagSet=[{Key=x,Value=y}]'])
  api(t, ['delete-object-tagging', '--bucket', 'api-objects', '--key', 'dir/b.txt'])
  t.same(api(t, ['get-object-tagging', '--bucket', 'api-objects', '--key', 'dir/b.txt']).json.TagSet, [])
  t.same(api(t, ['list-objects', '--bucket', 'api-objects', '--delimiter', '/']).json.CommonPrefixes, [{ Prefix: 'dir/' }])
  t.same(api(t, ['list-objects-v2', '--bucket', 'api-objects', '--prefix', 'dir/']).json.Contents.map((o: { Key: string }) => o.Key), ['dir/a.txt', 'dir/b.txt'])
  fails(t, ['delete-bucket', '--bucket', 'api-objects'], 'BucketNotEmpty')
  api(t, ['delete-object', '--bucket', 'api-objects', '--key', 'dir/a.txt'])
  const del = api(t, ['delete-objects', '--bucket', 'api-objects', '--delete', 'Objects=[{Key=dir/b.txt},{Key=never}]'])
  t.same(del.json.Deleted.map((d: { Key: string }) => d.Key).sort(), ['dir/b.txt', 'never'])
  api(t, ['delete-bucket', '--bucket', 'api-objects'])
})

t.test('multipart: create, upload-part, upload-part-copy, list-parts, list-multipart-uploads, complete, abort', async t => {
  api(t, ['create-bucket', '--bucket', 'api-multipart'])
  api(t, ['put-object', '--bucket', 'api-multipart', '--key', 'source', '--body', file('source', Buffer.alloc(6 * 1024 * 1024, 3))])
  const id = api(t, ['create-multipart-upload', '--bucket', 'api-multipart', '--key', 'big']).json.UploadId as string
  const p1 = api(t, ['upload-part', '--bucket', 'api-multipart', '--key', 'big', '--upload-id', id, '--part-number', '1',
    '--body', file('part1', Buffer.alloc(5 * 1024 * 1024, 1))]).json.ETag as string
  const p2 = api(t, ['upload-part-copy', '--bucket', 'api-multipart', '--key', 'big', '--upload-id', id, '--part-number', '2',
    '--copy-source', 'api-multipart/source', '--copy-source-range', 'bytes=0-99']).json.CopyPartResult.ETag as string
  t.same(api(t, ['list-parts', '--bucket', 'api-multipart', '--key', 'big', '--upload-id', id]).json.Parts.map((p: { PartNumber: number }) => p.PartNumber), [1, 2])
  t.same(api(t, ['list-multipart-uploads', '--bucket', 'api-multipart']).json.Uploads.map((u: { UploadId: string }) => u.UploadId), [id])
  fails(t, ['complete-multipart-upload', '--bucket', 'api-multipart', '--key', 'big', '--upload-id', id,
    '--multipart-upload', `Parts=[{PartNumber=2,ETag=${p2}},{PartNumber=1,ETag=${p1}}]`], 'InvalidPartOrder')
  const done = api(t, ['complete-multipart-upload', '--bucket', 'api-multipart', '--key', 'big', '--upload-id', id,
    '--multipart-upload', `Parts=[{PartNumber=1,ETag=${p1}},{PartNumber=2,ETag=${p2}}]`])
  t.match(done.json.ETag, /-2"$/, 'a multipart ETag')
  t.equal(api(t, ['head-object', '--bucket', 'api-multipart', '--key', 'big']).json.ContentLength, 5 * 1024 * 1024 + 100)
  const other = api(t, ['create-multipart-upload', '--bucket', 'api-multipart', '--key', 'dropped']).json.UploadId as string
  api(t, ['abort-multipart-upload', '--bucket', 'api-multipart', '--key', 'dropped', '--upload-id', other])
  fails(t, ['list-parts', '--bucket', 'api-multipart', '--key', 'dropped', '--upload-id', other], 'NoSuchUpload')
})
