import t from 'tap'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { ServiceModel } from '../../core/model.js'
import { protocolFor } from '../../core/protocols/index.js'
import { pathStyle } from '../../core/protocols/rest-xml.js'
import { oneOperationModel, parseError } from './protocols-sdk.js'

const s3 = ServiceModel.load('s3')
const rest = protocolFor(s3)
const NS = 'http://s3.amazonaws.com/doc/2006-03-01/'

function request (method: string, target: string, headers: Record<string, string> = {}, body = ''): HttpRequest {
  const q = target.indexOf('?')
  return { method, path: q === -1 ? target : target.slice(0, q), query: q === -1 ? '' : target.slice(q + 1), headers, body: Buffer.from(body) }
}

t.test('rest-xml - method, path and subresource keys pick the operation', async t => {
  const copy = { 'x-amz-copy-source': '/src/k' }
  const cases: Array<[string, string, Record<string, string>, string]> = [
    ['GET', '/', {}, 'ListBuckets'],
    ['GET', '/b', {}, 'ListObjects'],
    ['GET', '/b/', {}, 'ListObjects'],
    ['GET', '/b?list-type=2&prefix=a', {}, 'ListObjectsV2'],
    ['GET', '/b?lifecycle', {}, 'GetBucketLifecycleConfiguration'],
    ['GET', '/b?location', {}, 'GetBucketLocation'],
    ['GET', '/b?uploads', {}, 'ListMultipartUploads'],
    ['GET', '/b/k', {}, 'GetObject'],
    ['GET', '/b/k?uploadId=u', {}, 'ListParts'],
    ['GET', '/b/k?acl', {}, 'GetObjectAcl'],
    ['GET', '/b/k?unknown-param=1', {}, 'GetObject'],
    ['HEAD', '/b', {}, 'HeadBucket'],
    ['HEAD', '/b/k', {}, 'HeadObject'],
    ['PUT', '/b', {}, 'CreateBucket'],
    ['PUT', '/b?tagging', {}, 'PutBucketTagging'],
    ['PUT', '/b/k', {}, 'PutObject'],
    ['PUT', '/b/k', copy, 'CopyObject'],
    ['PUT', '/b/k?partNumber=1&uploadId=u', {}, 'UploadPart'],
    ['PUT', '/b/k?partNumber=1&uploadId=u', copy, 'UploadPartCopy'],
    ['POST', '/b/k?uploads', {}, 'CreateMultipartUpload'],
    ['POST', '/b/k?uploadId=u', {}, 'CompleteMultipartUpload'],
    ['POST', '/b?delete', {}, 'DeleteObjects'],
    ['DELETE', '/b', {}, 'DeleteBucket'],
    ['DELETE', '/b/k', {}, 'DeleteObject'],
    ['DELETE', '/b/k?uploadId=u', {}, 'AbortMultipartUpload'],
    ['DELETE', '/b/k?tagging', {}, 'DeleteObjectTagging']
  ]
  for (const [method, target, headers, op] of cases) {
    const body = op === 'DeleteObjects'
      ? '<Delete><Object><Key>k</Key></Object></Delete>'
      : op === 'PutBucketTagging' ? '<Tagging><TagSet/></Tagging>' : ''
    t.equal(rest.parse(s3, request(method, target, headers, body)).operation.name, op, `${method} ${target}`)
  }
})

t.test('rest-xml - URI labels are percent-decoded; a greedy key keeps its slashes and plus signs', async t => {
  const p = rest.parse(s3, request('GET', '/my-bucket/photos/2024/a%20b+c%E2%82%AC.jpg'))
  t.same(p.input, { Bucket: 'my-bucket', Key: 'photos/2024/a b+c€.jpg' })
  t.equal(parseError(s3, request('GET', '/b/%E0%A4%A')).code, 'InvalidURI')
})

t.test('rest-xml - PutObject binds headers, x-amz-meta-* and the raw body', async t => {
  const p = rest.parse(s3, request('PUT', '/b/k.txt', {
    'content-type': 'text/plain', 'content-length': '5', 'x-amz-meta-owner': 'alice', 'x-amz-meta-__proto__': 'x',
    'x-amz-tagging': 'a=b', 'x-amz-storage-class': 'STANDARD', expires: 'Wed, 21 Oct 2015 07:28:00 GMT'
  }, 'hello'))
  t.equal(p.operation.name, 'PutObject')
  const { Body, Metadata, ...rest_ } = p.input
  t.same(rest_, {
    Bucket: 'b', Key: 'k.txt', ContentType: 'text/plain', ContentLength: 5, Tagging: 'a=b', StorageClass: 'STANDARD',
    Expires: new Date('2015-10-21T07:28:00Z')
  })
  t.same(Object.keys(Metadata as object), ['owner', '__proto__'])
  t.equal(Object.getPrototypeOf(Metadata), Object.prototype)
  t.ok(Buffer.isBuffer(Body))
  t.equal(String(Body), 'hello')
})

t.test('rest-xml - query members are typed; a bad one is InvalidArgument naming it', async t => {
  const p = rest.parse(s3, request('GET', '/b?list-type=2&max-keys=100&prefix=a%2Fb&fetch-owner=true'))
  t.same(p.input, { Bucket: 'b', MaxKeys: 100, Prefix: 'a/b', FetchOwner: true })
  const e = parseError(s3, request('GET', '/b?list-type=2&max-keys=ten'))
  t.same([e.code, e.statusCode, e.extra], ['InvalidArgument', 400, { ArgumentName: 'max-keys', ArgumentValue: 'ten' }])
})

t.test('rest-xml - XML payloads: flattened lists, named list members, booleans, integers', async t => {
  const del = rest.parse(s3, request('POST', '/b?delete', {},
    `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="${NS}"><Object><Key>a &amp; b</Key></Object><Object><Key> c </Key><VersionId>v1</VersionId></Object><Quiet>true</Quiet></Delete>`))
  t.same(del.input.Delete, { Objects: [{ Key: 'a & b' }, { Key: ' c ', VersionId: 'v1' }], Quiet: true })
  const tagging = rest.parse(s3, request('PUT', '/b?tagging', {}, '<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>'))
  t.same(tagging.input.Tagging, { TagSet: [{ Key: 'k', Value: 'v' }] })
  const complete = rest.parse(s3, request('POST', '/b/k?uploadId=u1', {},
    '<CompleteMultipartUpload><Part><ETag>"e1"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>"e2"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>'))
  t.same(complete.input, { Bucket: 'b', Key: 'k', UploadId: 'u1', MultipartUpload: { Parts: [{ ETag: '"e1"', PartNumber: 1 }, { ETag: '"e2"', PartNumber: 2 }] } })
  const create = rest.parse(s3, request('PUT', '/b', {}, '<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>'))
  t.same(create.input, { Bucket: 'b', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })
  t.same(rest.parse(s3, request('PUT', '/b')).input, { Bucket: 'b' })
})

t.test('rest-xml - bad bodies: MalformedXML, MissingRequestBodyError', async t => {
  for (const body of ['<Delete><Object>', '<Wrong><Object><Key>k</Key></Object></Wrong>', '<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>',
    '<Delete><Quiet>true</Quiet></Delete>', '<!DOCTYPE d [<!ENTITY x "y">]><Delete><Object><Key>&x;</Key></Object></Delete>', 'not xml']) {
    const e = parseError(s3, request('POST', '/b?delete', {}, body))
    t.same([e.code, e.statusCode], ['MalformedXML', 400], body)
  }
  const e = parseError(s3, request('POST', '/b?delete'))
  t.same([e.code, e.statusCode, e.message], ['MissingRequestBodyError', 400, 'Request Body is empty'])
})

t.test('rest-xml - a missing required header is InvalidRequest; a missing subresource key MethodNotAllowed', async t => {
  const e = parseError(s3, request('GET', '/b/k?attributes'))
  t.same([e.code, e.statusCode, e.message], ['InvalidRequest', 400, 'Missing required header for this request: x-amz-object-attributes'])
  const m = parseError(s3, request('POST', '/b/k'))
  t.same([m.code, m.statusCode, m.extra], ['MethodNotAllowed', 405, { Method: 'POST', ResourceType: 'OBJECT' }])
  t.same(parseError(s3, request('PATCH', '/b')).extra, { Method: 'PATCH', ResourceType: 'BUCKET' })
  t.same(rest.parse(s3, request('GET', '/b/k?attributes', { 'x-amz-object-attributes': 'ETag, ObjectSize' })).input.ObjectAttributes, ['ETag', 'ObjectSize'])
})

t.test('rest-xml - virtual-hosted requests route like path-style ones through pathStyle', async t => {
  const p = rest.parse(s3, pathStyle(request('GET', '/dir/file.txt?acl'), 'my.bucket'))
  t.same([p.operation.name, p.input], ['GetObjectAcl', { Bucket: 'my.bucket', Key: 'dir/file.txt' }])
  t.same(rest.parse(s3, pathStyle(request('GET', '/?list-type=2'), 'bkt')).input, { Bucket: 'bkt' })
})

t.test('rest-xml - list output: root named as S3 names it, flattened members, ISO timestamps', async t => {
  const res = rest.serialize(s3, s3.operation('ListObjectsV2')!, {
    Name: 'b', Prefix: '', KeyCount: 1, MaxKeys: 1000, IsTruncated: false,
    Contents: [{ Key: 'a<b', LastModified: new Date('2024-01-01T00:00:00Z'), ETag: '"x"', Size: 3, StorageClass: 'STANDARD' }],
    CommonPrefixes: [{ Prefix: 'p/' }]
  }, { requestId: 'r1' })
  t.equal(res.statusCode, 200)
  t.same(res.headers, { 'x-amz-request-id': 'r1', 'content-type': 'application/xml' })
  t.equal(res.body, `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${NS}"><IsTruncated>false</IsTruncated>` +
    '<Contents><Key>a&lt;b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>' +
    '<Name>b</Name><Prefix></Prefix><MaxKeys>1000</MaxKeys><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes><KeyCount>1</KeyCount></ListBucketResult>')
})

t.test('rest-xml - GetObject output: header members as headers, HTTP dates, metadata, raw body', async t => {
  const res = rest.serialize(s3, s3.operation('GetObject')!, {
    Body: Buffer.from('hello'), ContentType: 'text/plain', ContentLength: 5, ETag: '"abc"',
    LastModified: new Date('2015-10-21T07:28:00Z'), Metadata: { Owner: 'alice' }, TagCount: 2
  }, { requestId: 'r' })
  t.same(res.headers, {
    'x-amz-request-id': 'r', 'content-type': 'text/plain', 'content-length': '5', etag: '"abc"',
    'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT', 'x-amz-tagging-count': '2', 'x-amz-meta-owner': 'alice'
  })
  t.same(res.body, Buffer.from('hello'))
  const head = rest.serialize(s3, s3.operation('HeadObject')!, { ContentLength: 5 }, { requestId: 'r' })
  t.same([head.body, head.headers['content-length']], ['', '5'])
})

t.test('rest-xml - responseCode, GetBucketLocation bare text, xsi:type attributes', async t => {
  t.equal(rest.serialize(s3, s3.operation('DeleteObject')!, {}, { requestId: 'r' }).statusCode, 204)
  t.equal(rest.serialize(s3, s3.operation('GetBucketLocation')!, { LocationConstraint: 'eu-west-1' }, { requestId: 'r' }).body,
    `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${NS}">eu-west-1</LocationConstraint>`)
  const acl = rest.serialize(s3, s3.operation('GetBucketAcl')!, {
    Owner: { ID: 'o' }, Grants: [{ Grantee: { ID: 'o', Type: 'CanonicalUser' }, Permission: 'FULL_CONTROL' }]
  }, { requestId: 'r' })
  t.equal(acl.body, `<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns="${NS}"><Owner><ID>o</ID></Owner><AccessControlList><Grant>` +
    '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>o</ID></Grantee>' +
    '<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>')
  const copy = rest.serialize(s3, s3.operation('CopyObject')!, { CopyObjectResult: { ETag: '"e"' }, VersionId: 'v' }, { requestId: 'r' })
  t.equal(copy.headers['x-amz-version-id'], 'v')
  t.equal(copy.body, `<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult xmlns="${NS}"><ETag>&quot;e&quot;</ETag></CopyObjectResult>`)
})

t.test('rest-xml - a written ACL document reads back to the same value', async t => {
  const policy = { Owner: { ID: 'o', DisplayName: 'me' }, Grants: [{ Grantee: { URI: 'http://acs.amazonaws.com/groups/global/AllUsers', Type: 'Group' }, Permission: 'READ' }] }
  const xml = rest.serialize(s3, s3.operation('GetObjectAcl')!, policy, { requestId: 'r' }).body as string
  const p = rest.parse(s3, request('PUT', '/b/k?acl', {}, xml))
  t.same(p.input.AccessControlPolicy, policy)
})

t.test('rest-xml - errors are <Error> with extra members and the request id', async t => {
  const res = rest.serializeError(s3, new AwsError('NoSuchKey', 'The specified key does not exist.', 404, { Key: 'a&b' }), { requestId: 'r9' })
  t.equal(res.statusCode, 404)
  t.same(res.headers, { 'content-type': 'application/xml', 'x-amz-request-id': 'r9' })
  t.equal(res.body, '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>' +
    '<Key>a&amp;b</Key><RequestId>r9</RequestId></Error>')
})

t.test('rest-xml - a timestamp beyond what a Date holds → InvalidArgument in a header, MalformedXML in the body', async t => {
  const model = oneOperationModel('rest-xml', { When: { shape: 'Epoch', location: 'header', locationName: 'x-when' }, Body: { shape: 'Epoch' } })
  const p = rest.parse(model, request('POST', '/', { 'x-when': '8640000000000' }, '<OpInput><Body>-8640000000000</Body></OpInput>'))
  t.same(p.input, { When: new Date(8.64e15), Body: new Date(-8.64e15) })
  t.equal(parseError(model, request('POST', '/', { 'x-when': '100000000000000000000' })).code, 'InvalidArgument')
  t.equal(parseError(model, request('POST', '/', {}, '<OpInput><Body>100000000000000000000</Body></OpInput>')).code, 'MalformedXML')
})
