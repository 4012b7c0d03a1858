// Large uploads reach PutObject and UploadPart as a stream (core/streamed-body.ts): stored while
// they arrive, checked at their end. What is checked late must fail as it would have up front, and
// leave nothing behind.
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import aws4 from 'aws4'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import t from 'tap'
import { startNode } from '../helpers/node.js'
import { Sha256 } from '../helpers/sign.js'
import { md5, rawS3, rejectsWith, s3Client, sha256, xmlValue } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
const s3 = s3Client(node)
t.teardown(async () => { s3.destroy(); await node.stop() })
await s3.send(new CreateBucketCommand({ Bucket: 'streamed' }))

const BIG = 5 * 1024 * 1024 + 12345

t.test('a streamed PUT (signed payload) reads back byte-identical, with the MD5 ETag', async t => {
  const body = randomBytes(BIG)
  const put = await s3.send(new PutObjectCommand({ Bucket: 'streamed', Key: 'whole', Body: body }))
  t.equal(put.ETag, `"${md5(body)}"`)
  const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'streamed', Key: 'whole' }))).Body!.transformToByteArray())
  t.equal(sha256(got), sha256(body))
})

t.test('a presigned PUT streams too, and reads back byte-identical', async t => {
  const u = new URL(node.endpoint)
  const signer = new SignatureV4({ service: 's3', region: node.region, credentials: node.credentials, sha256: Sha256, uriEscapePath: false })
  const url = await signer.presign({ method: 'PUT', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/streamed/presigned', query: {}, headers: { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, { expiresIn: 300 })
  const qs = new URLSearchParams(url.query as Record<string, string>).toString()
  const body = randomBytes(BIG)
  const r = await fetch(`${node.endpoint}/streamed/presigned?${qs}`, { method: 'PUT', body })
  t.equal(r.status, 200, await r.text())
  const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'streamed', Key: 'presigned' }))).Body!.transformToByteArray())
  t.equal(sha256(got), sha256(body))
})

t.test('a body that does not hash to its signed x-amz-content-sha256 → XAmzContentSHA256Mismatch 400, and no object', async t => {
  const body = randomBytes(BIG)
  const r = await rawS3(node, {
    method: 'PUT',
    path: '/streamed/tampered',
    headers: { 'x-amz-content-sha256': sha256(body) },
    body
  })
  t.equal(r.status, 200, 'the untampered body is accepted')
  const other = randomBytes(BIG)
  const bad = await signedPut(node, '/streamed/tampered2', body, other)
  t.equal(bad.status, 400)
  t.equal(xmlValue(bad.text, 'Code'), 'XAmzContentSHA256Mismatch')
  await rejectsWith(t, s3.send(new HeadObjectCommand({ Bucket: 'streamed', Key: 'tampered2' })), 'NotFound', 404)
})

t.test('a wrong Content-MD5 on a streamed PUT → BadDigest 400, and the key keeps its object', async t => {
  const first = randomBytes(BIG)
  await s3.send(new PutObjectCommand({ Bucket: 'streamed', Key: 'kept', Body: first }))
  const r = await rawS3(node, {
    method: 'PUT',
    path: '/streamed/kept',
    headers: { 'content-md5': Buffer.from(md5(Buffer.from('something else')), 'hex').toString('base64'), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    body: randomBytes(BIG)
  })
  t.equal(r.status, 400)
  t.equal(xmlValue(r.text, 'Code'), 'BadDigest')
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'streamed', Key: 'kept' }))
  t.equal(head.ETag, `"${md5(first)}"`)
})

t.test('a streamed UploadPart with a wrong checksum → BadDigest 400; right parts complete', async t => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'streamed', Key: 'parts' }))
  const part = randomBytes(BIG)
  await rejectsWith(t, s3.send(new UploadPartCommand({ Bucket: 'streamed', Key: 'parts', UploadId, PartNumber: 1, Body: part, ChecksumCRC32: 'AAAAAA==' })), 'BadDigest', 400)
  const p1 = await s3.send(new UploadPartCommand({ Bucket: 'streamed', Key: 'parts', UploadId, PartNumber: 1, Body: part }))
  const tail = randomBytes(1000)
  const p2 = await s3.send(new UploadPartCommand({ Bucket: 'streamed', Key: 'parts', UploadId, PartNumber: 2, Body: tail }))
  t.equal(p1.ETag, `"${md5(part)}"`)
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'streamed', Key: 'parts', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } }))
  const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'streamed', Key: 'parts' }))).Body!.transformToByteArray())
  t.equal(sha256(got), sha256(Buffer.concat([part, tail])))
})

t.test('a client that stops mid-body leaves no object, and the node goes on serving', async t => {
  const u = new URL(node.endpoint)
  const signed = aws4.sign({ host: u.host, method: 'PUT', path: '/streamed/cut', service: 's3', region: node.region, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(BIG) } }, node.credentials)
  await new Promise<void>(resolve => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'PUT', path: '/streamed/cut', headers: signed.headers as Record<string, string> })
    req.on('error', () => resolve())
    req.on('response', res => { res.resume(); res.on('end', resolve) })
    req.write(randomBytes(2 * 1024 * 1024), () => { setTimeout(() => { req.destroy(); resolve() }, 200) })
  })
  await rejectsWith(t, s3.send(new HeadObjectCommand({ Bucket: 'streamed', Key: 'cut' })), 'NotFound', 404)
  const after = await s3.send(new PutObjectCommand({ Bucket: 'streamed', Key: 'after', Body: 'fine' }))
  t.ok(after.ETag, 'the next PUT succeeds')
})

t.test('an error before the body is read (no such bucket) still answers, and the connection carries the next request', async t => {
  const u = new URL(node.endpoint)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  const send = async (path: string, body: Buffer): Promise<{ status: number, text: string }> => {
    const signed = aws4.sign({ host: u.host, method: 'PUT', path, service: 's3', region: node.region, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(body.length) } }, node.credentials)
    return await new Promise((resolve, reject) => {
      const req = http.request({ agent, host: u.hostname, port: u.port, method: 'PUT', path, headers: signed.headers as Record<string, string> }, res => {
        let text = ''
        res.on('data', (d: Buffer) => { text += d.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, text }) })
      })
      req.on('error', reject)
      req.end(body)
    })
  }
  const missing = await send('/no-such-bucket-here/key', randomBytes(BIG))
  t.equal(missing.status, 404)
  t.equal(xmlValue(missing.text, 'Code'), 'NoSuchBucket')
  const next = await send('/streamed/next', randomBytes(BIG))
  t.equal(next.status, 200, 'the same connection carries the next upload')
})

t.test('a large body for an operation that does not stream (PutBucketTagging) is read whole, as before → MalformedXML 400', async t => {
  const r = await rawS3(node, {
    method: 'PUT',
    path: '/streamed',
    query: { tagging: '' },
    headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    body: Buffer.alloc(BIG, 0x41)
  })
  t.equal(r.status, 400)
  t.equal(xmlValue(r.text, 'Code'), 'MalformedXML')
})

/** A PUT signed for `signedBody` (its SHA-256 in x-amz-content-sha256) that sends `sent` instead. */
async function signedPut (n: typeof node, path: string, signedBody: Buffer, sent: Buffer): Promise<{ status: number, text: string }> {
  return await rawS3(n, { method: 'PUT', path, headers: { 'x-amz-content-sha256': sha256(signedBody) }, body: sent })
}
