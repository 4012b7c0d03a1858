import t from 'tap'
import { GetParametersByPathCommand, GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { ServiceModel } from '../../core/model.js'
import { protocolFor } from '../../core/protocols/index.js'
import { loopback, parseError, sdkConfig, type Exchange } from './protocols-sdk.js'

const model = ServiceModel.load('ssm')
const json = protocolFor(model)

function client (handler: Parameters<typeof loopback>[1], exchange: Exchange): SSMClient {
  return new SSMClient({ ...sdkConfig, requestHandler: loopback(model, handler, exchange) })
}

function post (target: string | undefined, body: string): HttpRequest {
  const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1' }
  if (target !== undefined) headers['x-amz-target'] = target
  return { method: 'POST', path: '/', query: '', headers, body: Buffer.from(body) }
}

t.test('json - PutParameter from the SDK parses, and its output reaches the SDK', async t => {
  const x: Exchange = {}
  const out = await client(() => ({ Version: 3, Tier: 'Standard' }), x).send(new PutParameterCommand({
    Name: '/app/db', Value: 's3cr3t', Type: 'SecureString', Overwrite: true, Tags: [{ Key: 'team', Value: 'core' }]
  }))
  t.equal(x.parsed?.operation.name, 'PutParameter')
  t.same(x.parsed?.input, { Name: '/app/db', Value: 's3cr3t', Type: 'SecureString', Overwrite: true, Tags: [{ Key: 'team', Value: 'core' }] })
  t.equal(out.Version, 3)
  t.equal(out.Tier, 'Standard')
  t.equal(out.$metadata.requestId, 'req-0001')
})

t.test('json - GetParametersByPath filters in, timestamps as epoch seconds out', async t => {
  const x: Exchange = {}
  const modified = new Date('2024-02-03T04:05:06.789Z')
  const out = await client(() => ({
    Parameters: [{ Name: '/app/a', Type: 'String', Value: 'x', Version: 1, LastModifiedDate: modified, ARN: 'arn:aws:ssm:us-east-1:1:parameter/app/a' }],
    NextToken: 'n'
  }), x).send(new GetParametersByPathCommand({
    Path: '/app', Recursive: true, WithDecryption: false, MaxResults: 10,
    ParameterFilters: [{ Key: 'Type', Option: 'Equals', Values: ['String'] }]
  }))
  t.same(x.parsed?.input, {
    Path: '/app', Recursive: true, WithDecryption: false, MaxResults: 10,
    ParameterFilters: [{ Key: 'Type', Option: 'Equals', Values: ['String'] }]
  })
  t.match(x.response, /"LastModifiedDate":1706933106\.789/)
  t.equal(out.Parameters?.[0].LastModifiedDate?.toISOString(), modified.toISOString())
  t.equal(out.Parameters?.[0].Name, '/app/a')
  t.equal(out.NextToken, 'n')
})

t.test('json - an AwsError reaches the SDK as its modeled exception', async t => {
  const x: Exchange = {}
  const err = await client(() => { throw new AwsError('ParameterNotFound', 'Parameter /nope not found.', 400) }, x)
    .send(new GetParameterCommand({ Name: '/nope' })).catch((e: unknown) => e) as Error & { $metadata: { httpStatusCode: number, requestId: string } }
  t.equal(err.name, 'ParameterNotFound')
  t.equal(err.message, 'Parameter /nope not found.')
  t.same([err.$metadata.httpStatusCode, err.$metadata.requestId], [400, 'req-0001'])
  t.same(JSON.parse(x.response ?? ''), { __type: 'ParameterNotFound', message: 'Parameter /nope not found.' })
})

t.test('json - constraint violations → one ValidationException in Coral words, through the SDK', async t => {
  const x: Exchange = {}
  const err = await client(() => ({}), x).send(new PutParameterCommand({ Name: '', Value: 'v', Type: 'Plain' as 'String' }))
    .catch((e: unknown) => e) as Error & { $metadata: { httpStatusCode: number } }
  t.equal(err.name, 'ValidationException')
  t.equal(err.$metadata.httpStatusCode, 400)
  t.equal(err.message, "2 validation errors detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
    "Value 'Plain' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [String, StringList, SecureString]")
})

t.test('json - missing required member → ValidationException "Value null at"', async t => {
  const e = parseError(model, post('AmazonSSM.GetParametersByPath', '{"Recursive":true,"ParameterFilters":[{"Values":["x"]}]}'))
  t.same([e.code, e.statusCode], ['ValidationException', 400])
  t.equal(e.message, "2 validation errors detected: Value null at 'path' failed to satisfy constraint: Member must not be null; " +
    "Value null at 'parameterFilters.1.member.key' failed to satisfy constraint: Member must not be null")
})

t.test('json - range and pattern are checked against the whole value', async t => {
  t.equal(parseError(model, post('AmazonSSM.GetParametersByPath', '{"Path":"/","MaxResults":50}')).message,
    "1 validation error detected: Value '50' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10")
  t.match(parseError(model, post('AmazonSSM.GetParametersByPath', '{"Path":"/","ParameterFilters":[{"Key":"Names"}]}')).message,
    /Value 'Names' at 'parameterFilters\.1\.member\.key' failed to satisfy constraint: Member must satisfy regular expression pattern/)
})

t.test('json - sensitive values stay out of validation messages', async t => {
  const e = parseError(model, post('AmazonSSM.UpdateMaintenanceWindow', `{"WindowId":"mw-0123456789abcdef0","Description":"${'secret'.repeat(30)}"}`))
  t.equal(e.message, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 128")
})

t.test('json - wrong JSON types → SerializationException', async t => {
  const e = parseError(model, post('AmazonSSM.PutParameter', '{"Name":5,"Value":"v"}'))
  t.same([e.code, e.statusCode, e.message], ['SerializationException', 400, 'NUMBER_VALUE cannot be converted to String'])
  t.equal(parseError(model, post('AmazonSSM.PutParameter', '{"Name":"n","Value":"v","Overwrite":"yes"}')).message, 'STRING_VALUE cannot be converted to Boolean')
  t.equal(parseError(model, post('AmazonSSM.PutParameter', '{"Name":"n","Value":"v","Tags":{}}')).message, 'Start of structure or map found where not expected.')
  t.equal(parseError(model, post('AmazonSSM.GetParametersByPath', '{"Path":"/","MaxResults":2.5}')).code, 'SerializationException')
  t.equal(parseError(model, post('AmazonSSM.PutParameter', '[1]')).message, 'Start of list found where not expected')
})

t.test('json - malformed JSON → SerializationException', async t => {
  const e = parseError(model, post('AmazonSSM.PutParameter', '{"Name":'))
  t.same([e.code, e.statusCode], ['SerializationException', 400])
})

t.test('json - unknown or missing target → UnknownOperationException', async t => {
  for (const target of ['AmazonSSM.LaunchRocket', 'AmazonEC2.PutParameter', 'AmazonSSM.constructor', 'PutParameter', undefined]) {
    const e = parseError(model, post(target, '{}'))
    t.same([e.code, e.statusCode], ['UnknownOperationException', 400], String(target))
  }
})

t.test('json - unknown members and nulls are ignored; an empty body is an empty input', async t => {
  const p = json.parse(model, post('AmazonSSM.GetParameter', '{"Name":"n","WithDecryption":null,"Future":{"x":1},"__proto__":{"polluted":true}}'))
  t.same(p.input, { Name: 'n' })
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.same(json.parse(model, post('AmazonSSM.DescribeParameters', '')).input, {})
})

t.test('json - blobs are base64 both ways; maps are plain objects', async t => {
  const p = json.parse(model, post('AmazonSSM.RegisterTaskWithMaintenanceWindow', JSON.stringify({
    WindowId: 'mw-0123456789abcdef0', TaskArn: 'fn', TaskType: 'LAMBDA',
    TaskInvocationParameters: { Lambda: { Payload: Buffer.from('{"a":1}').toString('base64') } },
    TaskParameters: { commands: { Values: ['ls'] } }
  })))
  const lambda = (p.input.TaskInvocationParameters as { Lambda: { Payload: Buffer } }).Lambda
  t.ok(Buffer.isBuffer(lambda.Payload))
  t.equal(lambda.Payload.toString(), '{"a":1}')
  t.same(p.input.TaskParameters, { commands: { Values: ['ls'] } })
  const res = json.serialize(model, model.operation('GetMaintenanceWindowTask')!, {
    WindowId: 'mw-0123456789abcdef0', TaskInvocationParameters: { Lambda: { Payload: Buffer.from('hi') } }
  }, { requestId: 'r' })
  t.same(JSON.parse(res.body as string), { WindowId: 'mw-0123456789abcdef0', TaskInvocationParameters: { Lambda: { Payload: 'aGk=' } } })
  t.same(res.headers, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'r' })
  t.equal(parseError(model, post('AmazonSSM.RegisterTaskWithMaintenanceWindow', '{"TaskInvocationParameters":{"Lambda":{"Payload":"not base64!"}}}')).code,
    'SerializationException')
})

t.test('json - a timestamp beyond what a Date holds → SerializationException, not an Invalid Date', async t => {
  const activation = (date: string): HttpRequest => post('AmazonSSM.CreateActivation', `{"IamRole":"r","ExpirationDate":${date}}`)
  t.same(json.parse(model, activation('8640000000000')).input, { IamRole: 'r', ExpirationDate: new Date(8.64e15) })
  for (const date of ['8640000000000.5', '1e20', '-1e20', '"100000000000000000000"']) {
    const e = parseError(model, activation(date))
    t.same([e.code, e.message], ['SerializationException', `${date.startsWith('"') ? 'STRING' : 'NUMBER'}_VALUE cannot be converted to Date`], date)
  }
})
