import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import t, { type Test } from 'tap'
import { aws, startNode, type CliResult } from '../helpers/node.js'
import { pattern, s3Client, sha256 } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
const work = mkdtempSync(join(tmpdir(), 'hive-s3-cli-'))
t.teardown(async () => {
  await node.stop()
  rmSync(work, { recursive: true, force: true })
})
const s3 = s3Client(node)

function ok (t: Test, r: CliResult): CliResult {
  t.equal(r.status, 0, r.stderr)
  return r
}

async function fileSha256 (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('hex')
}

function files (dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter(e => e.isFile()).map(e => relative(dir, join(e.parentPath, e.name))).sort()
}

ok(t, aws(node, ['s3', 'mb', 's3://cli']))

// The 200 MiB; HIVE_S3_BIG_MB lowers it for a quick local run.
const BIG_MB = Number(process.env.HIVE_S3_BIG_MB ?? 200)
t.test(`big file - aws s3 cp of ${BIG_MB} MiB up and down (multipart) keeps its SHA-256`, async t => {
  const up = join(work, 'big.bin')
  const down = join(work, 'big.back')
  const chunk = pattern(1024 * 1024, 7)
  writeFileSync(up, Buffer.concat(Array.from({ length: BIG_MB }, (_, i) => { const c = Buffer.from(chunk); c.writeUInt32BE(i); return c })))
  ok(t, aws(node, ['s3', 'cp', up, 's3://cli/big.bin']))
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'cli', Key: 'big.bin' }))
  t.equal(head.ContentLength, BIG_MB * 1024 * 1024)
  t.match(head.ETag, /-\d+"$/, 'a multipart ETag')
  ok(t, aws(node, ['s3', 'cp', 's3://cli/big.bin', down]))
  t.equal(await fileSha256(down), await fileSha256(up))
  ok(t, aws(node, ['s3', 'rm', 's3://cli/big.bin']))
  rmSync(up)
  rmSync(down)
})

t.test('aws s3 cp keeps content type and metadata; s3api head-object shows them', async t => {
  const f = join(work, 'page.html')
  writeFileSync(f, '<h1>hi</h1>')
  ok(t, aws(node, ['s3', 'cp', f, 's3://cli/site/page.html', '--metadata', 'author=me', '--cache-control', 'max-age=5']))
  const head = ok(t, aws(node, ['s3api', 'head-object', '--bucket', 'cli', '--key', 'site/page.html'])).json as Record<string, unknown>
  t.equal(head.ContentType, 'text/html')
  t.same(head.Metadata, { author: 'me' })
  t.equal(head.CacheControl, 'max-age=5')
  t.equal(head.ContentLength, 11)
})

t.test('aws s3 mv moves an object; aws s3 rm removes it', async t => {
  ok(t, aws(node, ['s3', 'mv', 's3://cli/site/page.html', 's3://cli/moved.html']))
  t.notMatch(aws(node, ['s3', 'ls', 's3://cli/site/']).stdout, /page\.html/)
  t.match(aws(node, ['s3', 'ls', 's3://cli/']).stdout, /moved\.html/)
  ok(t, aws(node, ['s3', 'rm', 's3://cli/moved.html']))
  t.notMatch(aws(node, ['s3', 'ls', 's3://cli/']).stdout, /moved\.html/)
})

t.test('aws s3 sync up and down mirrors a tree, with --delete', async t => {
  const src = join(work, 'tree')
  const back = join(work, 'tree-back')
  for (const [p, body] of [['a.txt', 'a'], ['sub/b.txt', 'bb'], ['sub/deep/c d.txt', 'ccc'], ['ünï/文件.txt', 'unicode'], ['empty', '']]) {
    mkdirSync(join(src, p, '..'), { recursive: true })
    writeFileSync(join(src, p), body)
  }
  ok(t, aws(node, ['s3', 'sync', src, 's3://cli/tree/']))
  ok(t, aws(node, ['s3', 'sync', 's3://cli/tree/', back]))
  t.same(files(back), files(src))
  for (const f of files(src)) t.equal(readFileSync(join(back, f), 'utf8'), readFileSync(join(src, f), 'utf8'), f)
  const again = ok(t, aws(node, ['s3', 'sync', src, 's3://cli/tree/']))
  t.equal(again.stdout.trim(), '', 'nothing to do the second time')
  rmSync(join(src, 'sub/b.txt'))
  ok(t, aws(node, ['s3', 'sync', src, 's3://cli/tree/', '--delete']))
  t.notMatch(aws(node, ['s3', 'ls', '--recursive', 's3://cli/tree/']).stdout, /sub\/b\.txt/)
  ok(t, aws(node, ['s3', 'rm', '--recursive', 's3://cli/tree/']))
  t.equal(aws(node, ['s3', 'ls', '--recursive', 's3://cli/tree/']).stdout.trim(), '')
})

t.test('aws s3 presign gives a URL that fetch() can GET without credentials', async t => {
  const body = pattern(3000, 9)
  const f = join(work, 'presigned.bin')
  writeFileSync(f, body)
  ok(t, aws(node, ['s3', 'cp', f, 's3://cli/presigned.bin']))
  const url = ok(t, aws(node, ['s3', 'presign', 's3://cli/presigned.bin', '--expires-in', '300'])).stdout.trim()
  t.match(url, /X-Amz-Signature=/)
  const res = await fetch(url)
  t.equal(res.status, 200)
  t.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(body))
  const tampered = await fetch(url.replace('presigned.bin', 'other.bin'))
  t.equal(tampered.status, 403)
})

t.test('s3api put-object / get-object with a range through the CLI', async t => {
  const f = join(work, 'ranged.txt')
  writeFileSync(f, '0123456789')
  ok(t, aws(node, ['s3api', 'put-object', '--bucket', 'cli', '--key', 'ranged.txt', '--body', f]))
  const out = join(work, 'ranged.out')
  const got = ok(t, aws(node, ['s3api', 'get-object', '--bucket', 'cli', '--key', 'ranged.txt', '--range', 'bytes=2-4', out])).json as Record<string, unknown>
  t.equal(got.ContentRange, 'bytes 2-4/10')
  t.equal(readFileSync(out, 'utf8'), '234')
  const missing = aws(node, ['s3api', 'get-object', '--bucket', 'cli', '--key', 'nope', out])
  t.not(missing.status, 0)
  t.match(missing.stderr, /NoSuchKey/)
})

t.test('aws s3 rb --force empties and removes the bucket', async t => {
  ok(t, aws(node, ['s3', 'rb', 's3://cli', '--force']))
  t.notMatch(aws(node, ['s3', 'ls']).stdout, /\bcli\b/)
})
