import { CreateBucketCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3'
import t from 'tap'
import { aws, startNode } from '../helpers/node.js'
import { rawS3, rejectsWith, s3Client, xmlValue } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
t.teardown(async () => { await node.stop() })
const s3 = s3Client(node)
const B = 'listing'
await s3.send(new CreateBucketCommand({ Bucket: B }))

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)
const KEYS = [
  ...range(100).map(i => `photos/2024/jan/img${i}.jpg`),
  ...range(50).map(i => `photos/2025/feb/img${i}.jpg`),
  ...range(30).map(i => `docs/ünïcødé/文件${i}.txt`),
  ...range(30).map(i => `docs/space name/file ${i}+plus&amp;.txt`),
  ...range(50).map(i => `top${i}`),
  ...range(20).map(i => `weird/%41 percent ${i}?q=1#frag`),
  ...range(20).map(i => `ｆｕｌｌ/${i}`),
  ...range(20).map(i => `😀/emoji${i}`)
]
/** S3's order: UTF-8 bytes (which puts U+FF46 before the emoji, unlike JavaScript's UTF-16 order). */
const SORTED = [...KEYS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))

for (let i = 0; i < KEYS.length; i += 16) {
  await Promise.all(KEYS.slice(i, i + 16).map(async Key => await s3.send(new PutObjectCommand({ Bucket: B, Key, Body: Key }))))
}

async function allPagesV2 (params: { Prefix?: string, Delimiter?: string, MaxKeys?: number, StartAfter?: string }): Promise<{ keys: string[], prefixes: string[], pages: ListObjectsV2CommandOutput[] }> {
  const pages: ListObjectsV2CommandOutput[] = []
  let token: string | undefined
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: B, ...params, ...(token === undefined ? {} : { ContinuationToken: token }) }))
    pages.push(out)
    token = out.NextContinuationToken
    t.equal(out.IsTruncated, token !== undefined)
  } while (token !== undefined)
  return {
    keys: pages.flatMap(p => (p.Contents ?? []).map(c => c.Key as string)),
    prefixes: pages.flatMap(p => (p.CommonPrefixes ?? []).map(c => c.Prefix as string)),
    pages
  }
}

t.test('ListObjectsV2 pages through every key in UTF-8 byte order, KeyCount per page', async t => {
  const { keys, pages } = await allPagesV2({ MaxKeys: 37 })
  t.same(keys, SORTED)
  t.equal(pages.length, Math.ceil(KEYS.length / 37))
  t.ok(pages.every(p => p.KeyCount === (p.Contents ?? []).length && p.MaxKeys === 37))
  const first = pages[0].Contents?.[0]
  t.equal(first?.Size, Buffer.byteLength(first?.Key ?? ''))
  t.match(first?.ETag, /^"[0-9a-f]{32}"$/)
  t.equal(first?.StorageClass, 'STANDARD')
  t.equal(first?.Owner, undefined, 'no owner without fetch-owner')
})

t.test('ListObjectsV2 - default page is everything up to 1000; max-keys above 1000 is capped', async t => {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: B, MaxKeys: 5000 }))
  t.equal(out.MaxKeys, 1000)
  t.equal(out.KeyCount, KEYS.length)
  t.equal(out.IsTruncated, false)
})

t.test('ListObjectsV2 - delimiter rolls keys up into CommonPrefixes', async t => {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: B, Delimiter: '/' }))
  t.same(out.CommonPrefixes?.map(p => p.Prefix), ['docs/', 'photos/', 'weird/', 'ｆｕｌｌ/', '😀/'])
  t.same(out.Contents?.map(c => c.Key), SORTED.filter(k => k.startsWith('top')))
  t.equal(out.KeyCount, 5 + 50)
  t.equal(out.Delimiter, '/')
})

t.test('ListObjectsV2 - prefix and delimiter together', async t => {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'photos/', Delimiter: '/' }))
  t.same(out.CommonPrefixes?.map(p => p.Prefix), ['photos/2024/', 'photos/2025/'])
  t.equal(out.Contents, undefined)
  t.equal(out.Prefix, 'photos/')
  const deep = await s3.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'docs/', Delimiter: '/' }))
  t.same(deep.CommonPrefixes?.map(p => p.Prefix), ['docs/space name/', 'docs/ünïcødé/'])
})

t.test('ListObjectsV2 - paging with a delimiter counts each common prefix once and never repeats it', async t => {
  const { keys, prefixes, pages } = await allPagesV2({ Delimiter: '/', MaxKeys: 2 })
  t.same(prefixes, ['docs/', 'photos/', 'weird/', 'ｆｕｌｌ/', '😀/'])
  t.same(keys, SORTED.filter(k => k.startsWith('top')))
  t.equal(pages.length, Math.ceil(55 / 2))
  const sub = await allPagesV2({ Prefix: 'photos/2024/', Delimiter: '/', MaxKeys: 1 })
  t.same(sub.prefixes, ['photos/2024/jan/'])
})

t.test('ListObjectsV2 - start-after skips to after the given key', async t => {
  const { keys } = await allPagesV2({ StartAfter: 'top10', MaxKeys: 100 })
  t.same(keys, SORTED.filter(k => Buffer.compare(Buffer.from(k), Buffer.from('top10')) > 0))
  const out = await s3.send(new ListObjectsV2Command({ Bucket: B, StartAfter: 'top10', MaxKeys: 1 }))
  t.equal(out.StartAfter, 'top10')
})

t.test('ListObjectsV2 - max-keys 0 → no keys and not truncated', async t => {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: B, MaxKeys: 0 }))
  t.equal(out.KeyCount, 0)
  t.equal(out.IsTruncated, false)
})

t.test('ListObjectsV2 - negative max-keys, a bad continuation token or encoding-type → InvalidArgument 400', async t => {
  const neg = await rawS3(node, { path: `/${B}`, query: { 'list-type': '2', 'max-keys': '-1' } })
  t.equal(neg.status, 400)
  t.equal(xmlValue(neg.text, 'Code'), 'InvalidArgument')
  await rejectsWith(t, s3.send(new ListObjectsV2Command({ Bucket: B, ContinuationToken: 'bm90LWEtdG9rZW4' })), 'InvalidArgument', 400)
  await rejectsWith(t, s3.send(new ListObjectsV2Command({ Bucket: B, ContinuationToken: '!!!' })), 'InvalidArgument', 400)
  const enc = await rawS3(node, { path: `/${B}`, query: { 'list-type': '2', 'encoding-type': 'base64' } })
  t.equal(xmlValue(enc.text, 'Code'), 'InvalidArgument')
})

t.test('ListObjectsV2 - fetch-owner adds each object\'s Owner', async t => {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: B, FetchOwner: true, MaxKeys: 3 }))
  t.ok(out.Contents?.every(c => c.Owner?.ID === node.accountId))
})

t.test('encoding-type=url - keys, prefixes and delimiter are URL-encoded in the XML', async t => {
  const res = await rawS3(node, { path: `/${B}`, query: { 'list-type': '2', 'encoding-type': 'url', prefix: 'docs/', delimiter: '/' } })
  t.equal(res.status, 200)
  t.equal(xmlValue(res.text, 'EncodingType'), 'url')
  t.equal(xmlValue(res.text, 'Prefix'), 'docs/')
  const prefixes = [...res.text.matchAll(/<CommonPrefixes><Prefix>([^<]*)<\/Prefix><\/CommonPrefixes>/g)].map(m => m[1])
  t.same(prefixes, ['docs/space+name/', 'docs/%C3%BCn%C3%AFc%C3%B8d%C3%A9/'])
  const keys = await rawS3(node, { path: `/${B}`, query: { 'list-type': '2', 'encoding-type': 'url', prefix: 'weird/', 'max-keys': '1' } })
  const key = xmlValue(keys.text, 'Key') ?? ''
  t.equal(key, 'weird/%2541+percent+0%3Fq%3D1%23frag')
  t.equal(decodeURIComponent(key.replace(/\+/g, ' ')), 'weird/%41 percent 0?q=1#frag')
})

t.test('the aws CLI (which always asks for encoding-type=url) reads every key back exactly', async t => {
  const out = aws(node, ['s3api', 'list-objects-v2', '--bucket', B, '--prefix', 'docs/'])
  t.equal(out.status, 0, out.stderr)
  t.same((out.json as { Contents: Array<{ Key: string }> }).Contents.map(c => c.Key), SORTED.filter(k => k.startsWith('docs/')))
  const ls = aws(node, ['s3', 'ls', `s3://${B}/`])
  t.match(ls.stdout, /PRE 😀\//)
  t.match(ls.stdout, /PRE ｆｕｌｌ\//)
  const recursive = aws(node, ['s3', 'ls', '--recursive', `s3://${B}/weird/`])
  t.equal(recursive.stdout.trim().split('\n').length, 20)
  t.match(recursive.stdout, /weird\/%41 percent 0\?q=1#frag/)
  const paged = aws(node, ['s3api', 'list-objects-v2', '--bucket', B, '--page-size', '45'])
  t.same((paged.json as { Contents: Array<{ Key: string }> }).Contents.map(c => c.Key), SORTED)
})

t.test('ListObjects (v1) - Marker paging; NextMarker only with a delimiter', async t => {
  const keys: string[] = []
  let marker: string | undefined
  for (;;) {
    const out = await s3.send(new ListObjectsCommand({ Bucket: B, MaxKeys: 60, ...(marker === undefined ? {} : { Marker: marker }) }))
    t.equal(out.NextMarker, undefined)
    keys.push(...(out.Contents ?? []).map(c => c.Key as string))
    t.ok(out.Contents?.every(c => c.Owner?.ID === node.accountId), 'v1 always names the owner')
    if (out.IsTruncated !== true) break
    marker = out.Contents?.at(-1)?.Key
  }
  t.same(keys, SORTED)
  const first = await s3.send(new ListObjectsCommand({ Bucket: B, Delimiter: '/', MaxKeys: 3 }))
  t.equal(first.IsTruncated, true)
  t.equal(first.NextMarker, 'top0')
  t.same(first.CommonPrefixes?.map(p => p.Prefix), ['docs/', 'photos/'])
  const next = await s3.send(new ListObjectsCommand({ Bucket: B, Delimiter: '/', MaxKeys: 3, Marker: 'photos/' }))
  t.same(next.Contents?.map(c => c.Key), ['top0', 'top1', 'top10'])
  t.equal(next.Marker, 'photos/')
})

t.test('ListObjects (v1) through the aws CLI paginates over every key', async t => {
  const out = aws(node, ['s3api', 'list-objects', '--bucket', B, '--page-size', '100'])
  t.equal(out.status, 0, out.stderr)
  t.same((out.json as { Contents: Array<{ Key: string }> }).Contents.map(c => c.Key), SORTED)
})
