import t from 'tap'
import { createHash } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'
import { Hash } from '@smithy/core/serde'
import { HttpRequest as SmithyRequest } from '@smithy/core/protocols'
import { objectPath, s3Signer } from '../../bench/s3-signer.js'
import { StaticCredentialsProvider, type Credentials } from '../../core/credentials.js'
import { verifySigV4 } from '../../core/sigv4.js'

const ROOT: Credentials = {
  accessKeyId: 'AKIAHIVEROOTEXAMPLE0',
  secretAccessKey: 'hive/Root+Secret=Example0123456789abcdef',
  principal: { accountId: '000000000000', arn: 'arn:aws:iam::000000000000:root', isRoot: true }
}
const AT = new Date('2026-03-01T12:00:00Z')
const HOST = '127.0.0.1:9000'
const body = Buffer.from('four kibibytes, or so')
const sign = s3Signer(ROOT, 'us-east-1', HOST)

t.test('bench signer - signs as the SDK\'s signer does, and the edge accepts it', async t => {
  for (const [method, payload] of [['PUT', body], ['GET', undefined]] as const) {
    const path = objectPath('bench-small', "p/it's (1)!*~ été+")
    t.equal(path, '/bench-small/p/it%27s%20%281%29%21%2A~%20%C3%A9t%C3%A9%2B')
    const headers = sign(method, path, payload, AT)
    const smithy = await new SignatureV4({ service: 's3', region: 'us-east-1', credentials: ROOT, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false }).sign(new SmithyRequest({
      method, protocol: 'http:', hostname: '127.0.0.1', port: 9000, path, headers: { host: HOST, 'x-amz-content-sha256': headers['x-amz-content-sha256'] }, body: payload
    }), { signingDate: AT })
    t.equal(headers.authorization, smithy.headers.authorization, `${method}: same Authorization`)
    t.equal(headers['x-amz-content-sha256'], createHash('sha256').update(payload ?? '').digest('hex'))
    const verified = await verifySigV4({ method, path, query: '', headers, body: payload ?? Buffer.alloc(0) }, new StaticCredentialsProvider([ROOT]), { now: AT })
    t.equal(verified.credentials.accessKeyId, ROOT.accessKeyId)
  }
})

t.test('bench signer - a body other than the one signed → XAmzContentSHA256Mismatch', async t => {
  const headers = sign('PUT', '/b/k', body, AT)
  await t.rejects(verifySigV4({ method: 'PUT', path: '/b/k', query: '', headers, body: Buffer.from('something else') }, new StaticCredentialsProvider([ROOT]), { now: AT }), { code: 'XAmzContentSHA256Mismatch' })
})
