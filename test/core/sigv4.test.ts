import t, { type Test } from 'tap'
import { createHash, createHmac } from 'node:crypto'
import { Readable } from 'node:stream'
import { SignatureV4 } from '@smithy/signature-v4'
import { Hash, getAwsChunkedEncodingStream, toBase64 } from '@smithy/core/serde'
import { HttpRequest as SmithyRequest, buildQueryString, extendedEncodeURIComponent } from '@smithy/core/protocols'
import { EC2Client, DescribeInstancesCommand } from '@aws-sdk/client-ec2'
import { SSMClient, GetParameterCommand } from '@aws-sdk/client-ssm'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { StaticCredentialsProvider, type Credentials } from '../../core/credentials.js'
import { authErrorsFor, credentialScopeOf, verifySigV4 } from '../../core/sigv4.js'
import { decodeAwsChunked } from '../../core/sigv4-streaming.js'

const ROOT: Credentials = {
  accessKeyId: 'AKIAHIVEROOTEXAMPLE0',
  secretAccessKey: 'hive/Root+Secret=Example0123456789abcdef',
  principal: { accountId: '000000000000', arn: 'arn:aws:iam::000000000000:root', isRoot: true }
}
const provider = new StaticCredentialsProvider([ROOT])
const SIGNED_AT = new Date('2026-03-01T12:00:00Z')
const MINUTE = 60_000
const sha256 = Hash.bind(null, 'sha256')
const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')

interface Unsigned {
  method?: string
  path: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: Buffer
}

function signer (service: string, creds: { accessKeyId: string, secretAccessKey: string, sessionToken?: string } = ROOT): SignatureV4 {
  // S3 signs the path as sent; every other service escapes it again (the SDKs' uriEscapePath).
  return new SignatureV4({ service, region: 'us-east-1', credentials: creds, sha256, uriEscapePath: service !== 's3' })
}

function smithyRequest (r: Unsigned): SmithyRequest {
  return new SmithyRequest({
    method: r.method ?? 'GET',
    protocol: 'http:',
    hostname: 'hive.local',
    port: 4566,
    path: r.path,
    query: r.query ?? {},
    headers: { host: 'hive.local:4566', ...r.headers },
    body: r.body
  })
}

/** The wire form of a request as the SDK's HTTP handler sends it. */
function wire (signed: { method: string, path: string, query?: Record<string, unknown>, headers: Record<string, string>, body?: unknown }): HttpRequest {
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), v]))
  const body = signed.body === undefined ? Buffer.alloc(0) : Buffer.from(signed.body as string | Uint8Array)
  return { method: signed.method, path: signed.path, query: buildQueryString((signed.query ?? {}) as Record<string, string>), headers, body }
}

async function signed (service: string, r: Unsigned, at = SIGNED_AT): Promise<HttpRequest> {
  return wire(await signer(service).sign(smithyRequest(r), { signingDate: at }) as SmithyRequest)
}

async function presigned (r: Unsigned, expiresIn: number, at = SIGNED_AT): Promise<HttpRequest> {
  const req = smithyRequest({ ...r, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...r.headers } })
  return wire(await signer('s3').presign(req, { signingDate: at, expiresIn }) as SmithyRequest)
}

/** Runs a real SDK v3 client up to the wire and returns the signed request it would have sent. */
async function captured (send: (handler: object) => Promise<unknown>): Promise<HttpRequest> {
  let request: SmithyRequest | undefined
  const handler = {
    handle: async (req: SmithyRequest) => { request = req; throw new Error('captured') },
    updateHttpClientConfig () {},
    httpHandlerConfigs: () => ({})
  }
  await send(handler).catch(() => undefined)
  if (request === undefined) throw new Error('the client sent nothing')
  return wire(request)
}

const clientConfig = (handler: object): any => ({
  region: 'us-east-1', endpoint: 'http://hive.local:4566', credentials: ROOT, requestHandler: handler, maxAttempts: 1
})

const ec2Request = async (): Promise<HttpRequest> => await captured(async h =>
  await new EC2Client(clientConfig(h)).send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: ['web server +1'] }] })))
const ssmRequest = async (): Promise<HttpRequest> => await captured(async h =>
  await new SSMClient(clientConfig(h)).send(new GetParameterCommand({ Name: '/hive/db password', WithDecryption: true })))

const rejects = async (t: Test, p: Promise<unknown>, code: string, statusCode: number): Promise<void> => {
  await t.rejects(p, { code, statusCode }, `${code} ${statusCode}`)
}

function flipLastByte (b: Buffer): Buffer {
  const copy = Buffer.from(b)
  copy[copy.length - 1] ^= 1
  return copy
}

// ---------------------------------------------------------------------------------------------

t.test('sigv4 - ec2 Query POST from the real SDK client verifies', async t => {
  const req = await ec2Request()
  const res = await verifySigV4(req, provider)
  t.equal(res.service, 'ec2')
  t.equal(res.region, 'us-east-1')
  t.equal(res.credentials.principal.arn, ROOT.principal.arn)
  t.same(res.body, req.body)
  t.equal(res.presigned, false)
})

t.test('sigv4 - ssm JSON from the real SDK client verifies', async t => {
  const req = await ssmRequest()
  const res = await verifySigV4(req, provider)
  t.equal(res.service, 'ssm')
  t.same(JSON.parse(res.body.toString()), { Name: '/hive/db password', WithDecryption: true })
})

t.test('sigv4 - tampered body → AuthFailure on ec2, InvalidSignatureException on ssm', async t => {
  const ec2 = await ec2Request()
  await rejects(t, verifySigV4({ ...ec2, body: flipLastByte(ec2.body) }, provider), 'AuthFailure', 401)
  const ssm = await ssmRequest()
  await rejects(t, verifySigV4({ ...ssm, body: flipLastByte(ssm.body) }, provider), 'InvalidSignatureException', 400)
})

t.test('sigv4 - tampered body without x-amz-content-sha256 → signature mismatch (hash of the body is signed)', async t => {
  const body = Buffer.from('Action=GetCallerIdentity&Version=2011-06-15')
  const unchecked = wire(await new SignatureV4({ service: 'sts', region: 'us-east-1', credentials: ROOT, sha256, applyChecksum: false })
    .sign(smithyRequest({ method: 'POST', path: '/', body }), { signingDate: SIGNED_AT }) as SmithyRequest)
  t.notOk('x-amz-content-sha256' in unchecked.headers)
  t.ok(await verifySigV4(unchecked, provider, { now: SIGNED_AT }))
  await rejects(t, verifySigV4({ ...unchecked, body: flipLastByte(body) }, provider, { now: SIGNED_AT }), 'SignatureDoesNotMatch', 403)
})

t.test('sigv4 - tampered signed header → signature mismatch', async t => {
  const ssm = await ssmRequest()
  const tampered = { ...ssm, headers: { ...ssm.headers, 'x-amz-target': 'AmazonSSM.DeleteParameter' } }
  await rejects(t, verifySigV4(tampered, provider), 'InvalidSignatureException', 400)
  const ec2 = await ec2Request()
  await rejects(t, verifySigV4({ ...ec2, headers: { ...ec2.headers, host: 'evil.local' } }, provider), 'AuthFailure', 401)
})

t.test('sigv4 - unsigned headers may change freely', async t => {
  const ec2 = await ec2Request()
  t.ok(await verifySigV4({ ...ec2, headers: { ...ec2.headers, 'user-agent': 'something else' } }, provider))
})

t.test('sigv4 - s3 GET of a key with spaces, unicode and + and a query verifies', async t => {
  const key = 'photos/my summer+été 2024/ça va (1).jpg'
  const path = '/bucket/' + key.split('/').map(extendedEncodeURIComponent).join('/')
  t.equal(path, '/bucket/photos/my%20summer%2B%C3%A9t%C3%A9%202024/%C3%A7a%20va%20%281%29.jpg')
  const req = await signed('s3', { path, query: { versionId: 'v 1+2/3', 'response-content-type': 'text/plain; charset=utf-8' } })
  const res = await verifySigV4(req, provider, { now: SIGNED_AT })
  t.equal(res.service, 's3')
  t.equal(res.body.length, 0)
})

t.test('sigv4 - s3 tampered query → SignatureDoesNotMatch with the string to sign', async t => {
  const req = await signed('s3', { path: '/bucket/key', query: { versionId: 'v1' } })
  const err = await verifySigV4({ ...req, query: req.query.replace('v1', 'v2') }, provider, { now: SIGNED_AT }).catch(e => e)
  t.type(err, AwsError)
  t.match(err, { code: 'SignatureDoesNotMatch', statusCode: 403 })
  t.match(err.extra, { AWSAccessKeyId: ROOT.accessKeyId, StringToSign: /^AWS4-HMAC-SHA256\n20260301T120000Z\n/, CanonicalRequest: /versionId=v2/ })
})

t.test('sigv4 - a raw + in the query is a space, as the client meant it', async t => {
  const req = await signed('s3', { path: '/bucket', query: { prefix: 'a b' } })
  t.equal(req.query, 'prefix=a%20b')
  t.ok(await verifySigV4({ ...req, query: 'prefix=a+b' }, provider, { now: SIGNED_AT }))
})

t.test('sigv4 - s3 signs its path once; other services twice, normalized', async t => {
  const s3 = await signed('s3', { path: '/bucket/a%20b//c' })
  t.ok(await verifySigV4(s3, provider, { now: SIGNED_AT }))
  const ebs = await signed('ebs', { path: '/snapshots/snap%201/./blocks//0/' })
  t.ok(await verifySigV4(ebs, provider, { now: SIGNED_AT }))
  // An S3 request signed the way other services are does not verify: the two rules really differ.
  const doubled = wire(await new SignatureV4({ service: 's3', region: 'us-east-1', credentials: ROOT, sha256 })
    .sign(smithyRequest({ path: '/bucket/a%20b' }), { signingDate: SIGNED_AT }) as SmithyRequest)
  await rejects(t, verifySigV4(doubled, provider, { now: SIGNED_AT }), 'SignatureDoesNotMatch', 403)
})

t.test('sigv4 - s3 presigned GET and PUT verify', async t => {
  const get = await presigned({ path: '/bucket/report%202026.pdf' }, 300)
  t.match(get.query, /X-Amz-Signature=/)
  t.notOk('authorization' in get.headers)
  const res = await verifySigV4(get, provider, { now: new Date(SIGNED_AT.getTime() + 299_000) })
  t.equal(res.presigned, true)
  const body = Buffer.from('uploaded through a presigned URL')
  const put = await presigned({ method: 'PUT', path: '/bucket/upload.txt' }, 3600)
  t.same((await verifySigV4({ ...put, body }, provider, { now: SIGNED_AT })).body, body)
})

t.test('sigv4 - s3 presigned URL past X-Amz-Date + X-Amz-Expires → AccessDenied "Request has expired"', async t => {
  const req = await presigned({ path: '/bucket/key' }, 300)
  const err = await verifySigV4(req, provider, { now: new Date(SIGNED_AT.getTime() + 301_000) }).catch(e => e)
  t.match(err, { code: 'AccessDenied', statusCode: 403, message: 'Request has expired' })
  t.match(err.extra, { 'X-Amz-Expires': '300', Expires: '2026-03-01T12:05:00Z', ServerTime: '2026-03-01T12:05:01Z' })
})

t.test('sigv4 - s3 presigned URL dated 16 min ahead → AccessDenied "Request is not yet valid"', async t => {
  const req = await presigned({ path: '/bucket/key' }, 300)
  await t.rejects(verifySigV4(req, provider, { now: new Date(SIGNED_AT.getTime() - 16 * MINUTE) }),
    { code: 'AccessDenied', message: 'Request is not yet valid' })
})

t.test('sigv4 - X-Amz-Expires over a week → AuthorizationQueryParametersError', async t => {
  const req = await presigned({ path: '/bucket/key' }, 300)
  await rejects(t, verifySigV4({ ...req, query: req.query.replace('X-Amz-Expires=300', 'X-Amz-Expires=604801') }, provider,
    { now: SIGNED_AT }), 'AuthorizationQueryParametersError', 400)
})

t.test('sigv4 - presigned headers the URL did not sign → AccessDenied on s3', async t => {
  const req = await presigned({ method: 'PUT', path: '/bucket/key' }, 300)
  const err = await verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-acl': 'public-read' } }, provider, { now: SIGNED_AT })
    .catch(e => e)
  t.match(err, { code: 'AccessDenied', statusCode: 403, extra: { HeadersNotSigned: 'x-amz-acl' } })
})

t.test('sigv4 - s3 unsigned payload passes the body through unchecked', async t => {
  const body = Buffer.from('any bytes')
  const req = await signed('s3', { method: 'PUT', path: '/bucket/key', body, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } })
  t.same((await verifySigV4({ ...req, body: Buffer.from('other bytes') }, provider, { now: SIGNED_AT })).body, Buffer.from('other bytes'))
})

t.test('sigv4 - s3 body not matching x-amz-content-sha256 → XAmzContentSHA256Mismatch', async t => {
  const body = Buffer.from('hello')
  const req = await signed('s3', { method: 'PUT', path: '/bucket/key', body })
  t.equal(req.headers['x-amz-content-sha256'], sha256Hex(body))
  const err = await verifySigV4({ ...req, body: Buffer.from('hellO') }, provider, { now: SIGNED_AT }).catch(e => e)
  t.match(err, { code: 'XAmzContentSHA256Mismatch', statusCode: 400, extra: { S3ComputedContentSHA256: sha256Hex('hellO') } })
})

t.test('sigv4 - s3 x-amz-content-sha256 that is no hash → InvalidArgument', async t => {
  const req = await signed('s3', { method: 'PUT', path: '/bucket/key', headers: { 'x-amz-content-sha256': 'STREAMING-BOGUS' } })
  await rejects(t, verifySigV4(req, provider, { now: SIGNED_AT }), 'InvalidArgument', 400)
})

// ---------------------------------------------------------------------------------------------
// aws-chunked bodies.

function signingKeyOf (secret: string, date: string, region = 'us-east-1', service = 's3'): Buffer {
  return [date, region, service, 'aws4_request'].reduce((k: Buffer, p) => createHmac('sha256', k).update(p).digest(), Buffer.from(`AWS4${secret}`))
}

/** Frames `chunks` as STREAMING-AWS4-HMAC-SHA256-PAYLOAD, each signature chained from the seed. */
function signedChunks (chunks: Buffer[], seed: string, amzDate: string): Buffer {
  const key = signingKeyOf(ROOT.secretAccessKey, amzDate.slice(0, 8))
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`
  let previous = seed
  const parts = [...chunks, Buffer.alloc(0)].map(data => {
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, sha256Hex(''), sha256Hex(data)].join('\n')
    previous = createHmac('sha256', key).update(stringToSign).digest('hex')
    return Buffer.concat([Buffer.from(`${data.length.toString(16)};chunk-signature=${previous}\r\n`), data, Buffer.from('\r\n')])
  })
  return Buffer.concat(parts)
}

async function streamingPut (chunks: Buffer[], decodedLength = chunks.reduce((n, c) => n + c.length, 0)): Promise<HttpRequest> {
  const req = await signed('s3', {
    method: 'PUT',
    path: '/bucket/streamed.bin',
    headers: {
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(decodedLength)
    }
  })
  const seed = /Signature=([0-9a-f]{64})/.exec(req.headers.authorization)![1]
  return { ...req, body: signedChunks(chunks, seed, req.headers['x-amz-date']) }
}

const CHUNKS = [Buffer.alloc(8192, 'x'), Buffer.from('the last bytes')]

t.test('sigv4 - streaming signed body of 3 chunks decodes', async t => {
  const req = await streamingPut(CHUNKS)
  t.match(req.body.toString('latin1'), /^2000;chunk-signature=[0-9a-f]{64}\r\n/)
  const res = await verifySigV4(req, provider, { now: SIGNED_AT })
  t.same(res.body, Buffer.concat(CHUNKS))
  t.equal(res.trailers, undefined)
})

t.test('sigv4 - streaming chunk data tampered → SignatureDoesNotMatch', async t => {
  const req = await streamingPut(CHUNKS)
  const body = Buffer.from(req.body)
  body[200] = 'y'.charCodeAt(0)
  await rejects(t, verifySigV4({ ...req, body }, provider, { now: SIGNED_AT }), 'SignatureDoesNotMatch', 403)
})

t.test('sigv4 - streaming chunk signature tampered → SignatureDoesNotMatch', async t => {
  const req = await streamingPut(CHUNKS)
  const text = req.body.toString('latin1')
  const second = text.indexOf('chunk-signature=', text.indexOf('chunk-signature=') + 1) + 'chunk-signature='.length
  const body = Buffer.from(text.slice(0, second) + (text[second] === 'a' ? 'b' : 'a') + text.slice(second + 1), 'latin1')
  await rejects(t, verifySigV4({ ...req, body }, provider, { now: SIGNED_AT }), 'SignatureDoesNotMatch', 403)
})

t.test('sigv4 - streaming chunk dropped → SignatureDoesNotMatch (each signature chains from the previous)', async t => {
  const req = await streamingPut(CHUNKS)
  const firstFrame = req.body.indexOf('\r\n') + 2 + CHUNKS[0].length + 2
  await rejects(t, verifySigV4({ ...req, body: req.body.subarray(firstFrame) }, provider, { now: SIGNED_AT }), 'SignatureDoesNotMatch', 403)
})

t.test('sigv4 - streaming body truncated → IncompleteBody', async t => {
  const req = await streamingPut(CHUNKS)
  await rejects(t, verifySigV4({ ...req, body: req.body.subarray(0, 5000) }, provider, { now: SIGNED_AT }), 'IncompleteBody', 400)
})

t.test('sigv4 - the S3 docs chunked-upload example verifies, seed and chunk signatures alike', async t => {
  const docKey = { ...ROOT, accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }
  const chunk = (size: number, sig: string): Buffer =>
    Buffer.concat([Buffer.from(`${size.toString(16)};chunk-signature=${sig}\r\n`), Buffer.alloc(size, 'a'), Buffer.from('\r\n')])
  const body = Buffer.concat([
    chunk(65536, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648'),
    chunk(1024, '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497'),
    chunk(0, 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9')
  ])
  t.equal(body.length, 66824)
  const req: HttpRequest = {
    method: 'PUT',
    path: '/examplebucket/chunkObject.txt',
    query: '',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,' +
        'SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;' +
        'x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824'
    },
    body
  }
  const res = await verifySigV4(req, new StaticCredentialsProvider([docKey]), { now: new Date('2013-05-24T00:05:00Z') })
  t.same(res.body, Buffer.alloc(66560, 'a'))
})

t.test('sigv4 - the S3 docs signed-trailer example decodes and checks the trailer signature', async t => {
  const key = signingKeyOf('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '20130524')
  const signing = {
    amzDate: '20130524T000000Z',
    scope: '20130524/us-east-1/s3/aws4_request',
    seed: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
    verify: (s: string, sig: string) => createHmac('sha256', key).update(s).digest('hex') === sig
  }
  const wireBody = (trailerSignature: string): Buffer => Buffer.from(
    `10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n${'a'.repeat(65536)}\r\n` +
    `400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n${'a'.repeat(1024)}\r\n` +
    '0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n' +
    `x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:${trailerSignature}\r\n\r\n`)
  const good = decodeAwsChunked(wireBody('d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435'), { signing, trailers: true })
  t.match(good, { ok: true, trailers: { 'x-amz-checksum-crc32c': 'sOO8/Q==' } })
  t.equal(good.ok && good.body.length, 66560)
  const bad = decodeAwsChunked(wireBody('0'.repeat(64)), { signing, trailers: true })
  t.match(bad, { ok: false, problem: 'signature' })
})

t.test('sigv4 - unsigned trailer body from the SDK encoder decodes, checksum trailer kept', async t => {
  const parts = [Buffer.alloc(10000, 'q'), Buffer.from('tail')]
  const digest = createHash('sha256').update(Buffer.concat(parts)).digest()
  const encoded = getAwsChunkedEncodingStream(Readable.from(parts), {
    base64Encoder: toBase64,
    bodyLengthChecker: (b: Buffer) => b.length,
    checksumAlgorithmFn: sha256,
    checksumLocationName: 'x-amz-checksum-sha256',
    streamHasher: async () => digest
  })
  const chunks: Buffer[] = []
  for await (const c of encoded) chunks.push(Buffer.from(c))
  const req = await signed('s3', {
    method: 'PUT',
    path: '/bucket/trailer.bin',
    headers: {
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-trailer': 'x-amz-checksum-sha256',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '10004'
    }
  })
  const res = await verifySigV4({ ...req, body: Buffer.concat(chunks) }, provider, { now: SIGNED_AT })
  t.same(res.body, Buffer.concat(parts))
  t.same(res.trailers, { 'x-amz-checksum-sha256': digest.toString('base64') })
})

t.test('sigv4 - x-amz-decoded-content-length not matching the decoded body → IncompleteBody', async t => {
  const req = await streamingPut(CHUNKS, 1)
  await rejects(t, verifySigV4(req, provider, { now: SIGNED_AT }), 'IncompleteBody', 400)
})

// ---------------------------------------------------------------------------------------------
// Credentials, clock and malformed requests.

t.test('sigv4 - unknown access key → each service its own code', async t => {
  const stranger = new StaticCredentialsProvider([])
  const cases: Array<[string, string, number]> = [
    ['ec2', 'AuthFailure', 401], ['iam', 'InvalidClientTokenId', 403], ['sts', 'InvalidClientTokenId', 403],
    ['ssm', 'UnrecognizedClientException', 400], ['ebs', 'UnrecognizedClientException', 403], ['s3', 'InvalidAccessKeyId', 403]
  ]
  for (const [service, code, status] of cases) {
    await rejects(t, verifySigV4(await signed(service, { path: '/' }), stranger, { now: SIGNED_AT }), code, status)
  }
})

t.test('sigv4 - wrong secret → each service its own code', async t => {
  const wrong = new StaticCredentialsProvider([{ ...ROOT, secretAccessKey: 'not-the-secret' }])
  const cases: Array<[string, string, number]> = [
    ['ec2', 'AuthFailure', 401], ['sts', 'SignatureDoesNotMatch', 403], ['ssm', 'InvalidSignatureException', 400],
    ['ebs', 'InvalidSignatureException', 403], ['s3', 'SignatureDoesNotMatch', 403]
  ]
  for (const [service, code, status] of cases) {
    await rejects(t, verifySigV4(await signed(service, { path: '/' }), wrong, { now: SIGNED_AT }), code, status)
  }
})

t.test('sigv4 - clock skew of 16 min either way → RequestTimeTooSkewed / RequestExpired / Signature expired', async t => {
  for (const offset of [16 * MINUTE, -16 * MINUTE]) {
    const now = new Date(SIGNED_AT.getTime() + offset)
    const s3 = await verifySigV4(await signed('s3', { path: '/bucket' }), provider, { now }).catch(e => e)
    t.match(s3, { code: 'RequestTimeTooSkewed', statusCode: 403, extra: { RequestTime: '20260301T120000Z', MaxAllowedSkewMilliseconds: '900000' } })
    await rejects(t, verifySigV4(await signed('ec2', { path: '/' }), provider, { now }), 'RequestExpired', 400)
    const sts = await verifySigV4(await signed('sts', { path: '/' }), provider, { now }).catch(e => e)
    t.match(sts, { code: 'SignatureDoesNotMatch', statusCode: 403, message: offset > 0 ? /^Signature expired: / : /^Signature not yet current: / })
    await rejects(t, verifySigV4(await signed('ssm', { path: '/' }), provider, { now }), 'InvalidSignatureException', 400)
  }
})

t.test('sigv4 - clock skew of 14 min is accepted', async t => {
  t.ok(await verifySigV4(await signed('s3', { path: '/bucket' }), provider, { now: new Date(SIGNED_AT.getTime() + 14 * MINUTE) }))
  t.ok(await verifySigV4(await signed('s3', { path: '/bucket' }), provider, { now: new Date(SIGNED_AT.getTime() - 14 * MINUTE) }))
})

t.test('sigv4 - x-amz-date changed after signing → signature mismatch', async t => {
  const req = await signed('sts', { path: '/' })
  const tampered = { ...req, headers: { ...req.headers, 'x-amz-date': '20260301T120100Z' } }
  await rejects(t, verifySigV4(tampered, provider, { now: SIGNED_AT }), 'SignatureDoesNotMatch', 403)
})

t.test('sigv4 - credential scope dated another day than x-amz-date → rejected', async t => {
  const req = await signed('s3', { path: '/bucket' })
  const otherDay = { ...req, headers: { ...req.headers, 'x-amz-date': '20260302T000100Z' } }
  await rejects(t, verifySigV4(otherDay, provider, { now: new Date('2026-03-02T00:00:00Z') }), 'AuthorizationHeaderMalformed', 400)
  const sts = await signed('sts', { path: '/' })
  const stsOtherDay = { ...sts, headers: { ...sts.headers, 'x-amz-date': '20260302T000100Z' } }
  await t.rejects(verifySigV4(stsOtherDay, provider, { now: new Date('2026-03-02T00:00:00Z') }),
    { code: 'SignatureDoesNotMatch', message: /^Date in Credential scope does not match/ })
})

t.test('sigv4 - no authentication at all → each service its own code', async t => {
  const anonymous: HttpRequest = { method: 'GET', path: '/', query: 'Action=DescribeRegions', headers: { host: 'hive.local' }, body: Buffer.alloc(0) }
  const cases: Array<[string | undefined, string, number]> = [
    ['ec2', 'MissingAuthenticationToken', 401], ['sts', 'MissingAuthenticationToken', 403],
    ['ssm', 'MissingAuthenticationTokenException', 400], ['ebs', 'MissingAuthenticationTokenException', 403],
    ['s3', 'AccessDenied', 403], [undefined, 'MissingAuthenticationToken', 403]
  ]
  for (const [defaultService, code, status] of cases) {
    await rejects(t, verifySigV4(anonymous, provider, defaultService === undefined ? {} : { defaultService }), code, status)
  }
})

t.test('sigv4 - malformed Authorization header → IncompleteSignature / AuthorizationHeaderMalformed', async t => {
  const sts = await signed('sts', { path: '/' })
  const noSignature = sts.headers.authorization.replace(/, Signature=[0-9a-f]+/, '')
  await rejects(t, verifySigV4({ ...sts, headers: { ...sts.headers, authorization: noSignature } }, provider, { now: SIGNED_AT }),
    'IncompleteSignature', 400)
  const s3 = await signed('s3', { path: '/bucket' })
  const badTerminal = s3.headers.authorization.replace('aws4_request', 'aws5_request')
  await rejects(t, verifySigV4({ ...s3, headers: { ...s3.headers, authorization: badTerminal } }, provider, { now: SIGNED_AT }),
    'AuthorizationHeaderMalformed', 400)
  const ssm = await signed('ssm', { path: '/' })
  const noEquals = ssm.headers.authorization.replace('SignedHeaders=', 'SignedHeaders ')
  await rejects(t, verifySigV4({ ...ssm, headers: { ...ssm.headers, authorization: noEquals } }, provider, { now: SIGNED_AT }),
    'IncompleteSignatureException', 400)
})

t.test('sigv4 - temporary credentials need their session token, long-term ones none', async t => {
  const temp = { ...ROOT, accessKeyId: 'ASIAHIVETEMPEXAMPLE0', sessionToken: 'session-token-1' }
  const temps = new StaticCredentialsProvider([temp, ROOT])
  const withToken = wire(await signer('sts', temp).sign(smithyRequest({ path: '/' }), { signingDate: SIGNED_AT }) as SmithyRequest)
  t.equal(withToken.headers['x-amz-security-token'], 'session-token-1')
  t.ok(await verifySigV4(withToken, temps, { now: SIGNED_AT }))
  const { 'x-amz-security-token': _, ...without } = withToken.headers
  await rejects(t, verifySigV4({ ...withToken, headers: without }, temps, { now: SIGNED_AT }), 'InvalidClientTokenId', 403)
  const stray = wire(await signer('sts', { ...ROOT, sessionToken: 'made-up' }).sign(smithyRequest({ path: '/' }), { signingDate: SIGNED_AT }) as SmithyRequest)
  await rejects(t, verifySigV4(stray, temps, { now: SIGNED_AT }), 'InvalidClientTokenId', 403)
})

t.test('sigv4 - credentialScopeOf peeks at header and presigned scopes', async t => {
  t.same(credentialScopeOf(await signed('ssm', { path: '/' })),
    { accessKeyId: ROOT.accessKeyId, date: '20260301', region: 'us-east-1', service: 'ssm' })
  t.same(credentialScopeOf(await presigned({ path: '/bucket/key' }, 60)),
    { accessKeyId: ROOT.accessKeyId, date: '20260301', region: 'us-east-1', service: 's3' })
  t.equal(credentialScopeOf({ method: 'GET', path: '/', query: '', headers: {}, body: Buffer.alloc(0) }), undefined)
  t.equal(credentialScopeOf({ method: 'GET', path: '/', query: '', headers: { authorization: 'Bearer x' }, body: Buffer.alloc(0) }), undefined)
})

t.test('sigv4 - authErrorsFor falls back to the common query errors', async t => {
  t.equal(authErrorsFor('sqs').unknownKey('AKID').code, 'InvalidClientTokenId')
  t.equal(authErrorsFor('constructor').missing().code, 'MissingAuthenticationToken')
  t.equal(authErrorsFor('S3').missing().code, 'AccessDenied')
})

