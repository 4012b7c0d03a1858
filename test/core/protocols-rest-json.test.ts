import t from 'tap'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { ServiceModel } from '../../core/model.js'
import { protocolFor } from '../../core/protocols/index.js'
import { oneOperationModel, parseError } from './protocols-sdk.js'

const ebs = ServiceModel.load('ebs')
const rest = protocolFor(ebs)

function request (method: string, target: string, headers: Record<string, string> = {}, body: string | Buffer = ''): HttpRequest {
  const q = target.indexOf('?')
  return { method, path: q === -1 ? target : target.slice(0, q), query: q === -1 ? '' : target.slice(q + 1), headers, body: Buffer.from(body) }
}

const block = Buffer.alloc(512 * 1024, 7)
const putHeaders = { 'x-amz-data-length': String(block.length), 'x-amz-checksum': 'abc=', 'x-amz-checksum-algorithm': 'SHA256', 'x-amz-progress': '50' }

t.test('rest-json - StartSnapshot reads its JSON body and answers 201 with epoch-second timestamps', async t => {
  const p = rest.parse(ebs, request('POST', '/snapshots', { 'content-type': 'application/json' },
    JSON.stringify({ VolumeSize: 8, Tags: [{ Key: 'k', Value: 'v' }], ClientToken: 'c1', Encrypted: false, Timeout: 60, Unknown: 1 })))
  t.equal(p.operation.name, 'StartSnapshot')
  t.same(p.input, { VolumeSize: 8, Tags: [{ Key: 'k', Value: 'v' }], ClientToken: 'c1', Encrypted: false, Timeout: 60 })
  const res = rest.serialize(ebs, p.operation, { SnapshotId: 'snap-1', Status: 'pending', StartTime: new Date(1700000000500), VolumeSize: 8, BlockSize: 524288 }, { requestId: 'r' })
  t.equal(res.statusCode, 201)
  t.same(res.headers, { 'x-amzn-requestid': 'r', 'content-type': 'application/json' })
  t.same(JSON.parse(res.body as string), { SnapshotId: 'snap-1', Status: 'pending', StartTime: 1700000000.5, VolumeSize: 8, BlockSize: 524288 })
})

t.test('rest-json - PutSnapshotBlock binds labels and headers, and takes the raw body as BlockData', async t => {
  const p = rest.parse(ebs, request('PUT', '/snapshots/snap-0a1/blocks/5', putHeaders, block))
  t.equal(p.operation.name, 'PutSnapshotBlock')
  const { BlockData, ...bound } = p.input
  t.same(bound, { SnapshotId: 'snap-0a1', BlockIndex: 5, DataLength: block.length, Checksum: 'abc=', ChecksumAlgorithm: 'SHA256', Progress: 50 })
  t.ok(Buffer.isBuffer(BlockData) && BlockData.equals(block))
  const res = rest.serialize(ebs, p.operation, { Checksum: 'abc=', ChecksumAlgorithm: 'SHA256' }, { requestId: 'r' })
  t.same([res.statusCode, res.headers, res.body], [201, { 'x-amzn-requestid': 'r', 'x-amz-checksum': 'abc=', 'x-amz-checksum-algorithm': 'SHA256' }, ''])
})

t.test('rest-json - GetSnapshotBlock answers header members and the raw block', async t => {
  const p = rest.parse(ebs, request('GET', '/snapshots/snap-0a1/blocks/0?blockToken=tok%2B%3D'))
  t.same(p.input, { SnapshotId: 'snap-0a1', BlockIndex: 0, BlockToken: 'tok+=' })
  const res = rest.serialize(ebs, p.operation, { BlockData: block, DataLength: block.length, Checksum: 'abc=', ChecksumAlgorithm: 'SHA256' }, { requestId: 'r' })
  t.same(res.headers, { 'x-amzn-requestid': 'r', 'x-amz-data-length': '524288', 'x-amz-checksum': 'abc=', 'x-amz-checksum-algorithm': 'SHA256', 'content-type': 'application/octet-stream' })
  t.equal(res.body, block)
})

t.test('rest-json - query members by their locationName; routes told apart by literal segments', async t => {
  const list = rest.parse(ebs, request('GET', '/snapshots/snap-2/blocks?maxResults=100&startingBlockIndex=3&pageToken=abc'))
  t.same([list.operation.name, list.input], ['ListSnapshotBlocks', { SnapshotId: 'snap-2', MaxResults: 100, StartingBlockIndex: 3, NextToken: 'abc' }])
  const changed = rest.parse(ebs, request('GET', '/snapshots/snap-2/changedblocks?firstSnapshotId=snap-1'))
  t.same([changed.operation.name, changed.input], ['ListChangedBlocks', { SecondSnapshotId: 'snap-2', FirstSnapshotId: 'snap-1' }])
  const done = rest.parse(ebs, request('POST', '/snapshots/completion/snap-2', { 'x-amz-changedblockscount': '4' }))
  t.same([done.operation.name, done.input], ['CompleteSnapshot', { SnapshotId: 'snap-2', ChangedBlocksCount: 4 }])
  t.equal(rest.serialize(ebs, done.operation, { Status: 'pending' }, { requestId: 'r' }).statusCode, 202)
})

t.test('rest-json - missing headers and body are Coral ValidationExceptions', async t => {
  const e = parseError(ebs, request('PUT', '/snapshots/snap-1/blocks/1', { 'x-amz-checksum': 'a', 'x-amz-checksum-algorithm': 'SHA256' }))
  t.same([e.code, e.statusCode], ['ValidationException', 400])
  t.equal(e.message, "2 validation errors detected: Value null at 'blockData' failed to satisfy constraint: Member must not be null; " +
    "Value null at 'dataLength' failed to satisfy constraint: Member must not be null")
  t.equal(parseError(ebs, request('POST', '/snapshots', {}, '{"VolumeSize":0}')).message,
    "1 validation error detected: Value '0' at 'volumeSize' failed to satisfy constraint: Member must have value greater than or equal to 1")
  t.match(parseError(ebs, request('GET', '/snapshots/SNAP/blocks')).message, "Value 'SNAP' at 'snapshotId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^snap-[0-9a-f]+$")
})

t.test('rest-json - wrong types and bad JSON are SerializationExceptions', async t => {
  t.equal(parseError(ebs, request('GET', '/snapshots/snap-1/blocks/one?blockToken=t')).code, 'SerializationException')
  t.equal(parseError(ebs, request('PUT', '/snapshots/snap-1/blocks/1', { ...putHeaders, 'x-amz-data-length': 'big' }, block)).code, 'SerializationException')
  t.equal(parseError(ebs, request('POST', '/snapshots', {}, '{"VolumeSize":"8"}')).message, 'STRING_VALUE cannot be converted to Long')
  t.same([parseError(ebs, request('POST', '/snapshots', {}, '{')).code, parseError(ebs, request('POST', '/snapshots', {}, '{')).statusCode], ['SerializationException', 400])
  t.equal(parseError(ebs, request('GET', '/snapshots/%ZZ/blocks')).code, 'SerializationException')
})

t.test('rest-json - unknown routes and methods are UnknownOperationException', async t => {
  t.same([parseError(ebs, request('GET', '/volumes')).code, parseError(ebs, request('GET', '/volumes')).statusCode], ['UnknownOperationException', 404])
  t.equal(parseError(ebs, request('DELETE', '/snapshots')).statusCode, 405)
})

t.test('rest-json - errors carry x-amzn-ErrorType and the model\'s message member', async t => {
  const res = rest.serializeError(ebs, new AwsError('ValidationException', 'bad', 400, { Reason: 'INVALID_BLOCK' }), { requestId: 'r' })
  t.same(res.headers, { 'content-type': 'application/json', 'x-amzn-errortype': 'ValidationException', 'x-amzn-requestid': 'r' })
  t.same(JSON.parse(res.body as string), { __type: 'ValidationException', Message: 'bad', Reason: 'INVALID_BLOCK' })
  t.same(JSON.parse(rest.serializeError(ebs, new AwsError('Other', 'x', 409), { requestId: 'r' }).body as string), { __type: 'Other', message: 'x' })
})

t.test('rest-json - a timestamp beyond what a Date holds → SerializationException, in a header or the body', async t => {
  const model = oneOperationModel('rest-json', { When: { shape: 'Epoch', location: 'header', locationName: 'x-when' }, Body: { shape: 'Epoch' } })
  t.same(rest.parse(model, request('POST', '/', { 'x-when': '8640000000000' }, '{"Body":-8640000000000}')).input, { When: new Date(8.64e15), Body: new Date(-8.64e15) })
  t.equal(parseError(model, request('POST', '/', { 'x-when': '100000000000000000000' })).code, 'SerializationException')
  t.equal(parseError(model, request('POST', '/', {}, '{"Body":1e20}')).code, 'SerializationException')
})
