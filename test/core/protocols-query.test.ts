import t from 'tap'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { ServiceModel } from '../../core/model.js'
import { protocolFor } from '../../core/protocols/index.js'
import { oneOperationModel, parseError } from './protocols-sdk.js'

const iam = ServiceModel.load('iam')
const sts = ServiceModel.load('sts')
const query = protocolFor(iam)

function form (body: string): HttpRequest {
  return { method: 'POST', path: '/', query: '', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: Buffer.from(body) }
}

/** A query service with what IAM and STS lack: maps, flattened lists, named list members. */
const queue = new ServiceModel({
  metadata: { protocol: 'query', apiVersion: '2012-11-05', endpointPrefix: 'sqs', serviceId: 'SQS', xmlNamespace: 'http://queue.amazonaws.com/doc/2012-11-05/' },
  operations: {
    SetQueueAttributes: {
      name: 'SetQueueAttributes',
      http: { method: 'POST', requestUri: '/' },
      input: { shape: 'SetQueueAttributesRequest' },
      output: { shape: 'SetQueueAttributesResult', resultWrapper: 'SetQueueAttributesResult' }
    }
  },
  shapes: {
    SetQueueAttributesRequest: {
      type: 'structure',
      members: {
        Attributes: { shape: 'AttributeMap', locationName: 'Attribute' },
        AttributeNames: { shape: 'AttributeNameList' },
        Labels: { shape: 'LabelList' },
        Counts: { shape: 'CountMap' }
      }
    },
    SetQueueAttributesResult: {
      type: 'structure',
      members: { Attributes: { shape: 'AttributeMap', locationName: 'Attribute', flattened: true }, AttributeNames: { shape: 'AttributeNameList' } }
    },
    AttributeMap: { type: 'map', key: { shape: 'String', locationName: 'Name' }, value: { shape: 'String', locationName: 'Value' }, flattened: true },
    CountMap: { type: 'map', key: { shape: 'String' }, value: { shape: 'Integer' } },
    AttributeNameList: { type: 'list', member: { shape: 'String', locationName: 'AttributeName' }, flattened: true },
    LabelList: { type: 'list', member: { shape: 'String' } },
    String: { type: 'string' },
    Integer: { type: 'integer' }
  }
})

t.test('query - Tags.member.N lists of structures parse into Tags', async t => {
  const p = query.parse(iam, form('Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fdev%2F&Tags.member.1.Key=team&Tags.member.1.Value=core&Tags.member.2.Key=env&Tags.member.2.Value=a+b'))
  t.equal(p.operation.name, 'CreateUser')
  t.same(p.input, { UserName: 'alice', Path: '/dev/', Tags: [{ Key: 'team', Value: 'core' }, { Key: 'env', Value: 'a b' }] })
})

t.test('query - an empty list is sent as Name=', async t => {
  t.same(query.parse(queue, form('Action=SetQueueAttributes&Labels=')).input, { Labels: [] })
  t.same(query.parse(queue, form('Action=SetQueueAttributes&Labels.member.1=a')).input, { Labels: ['a'] })
})

t.test('query - maps are Name.entry.N.key/value, flattened maps Name.N, renamed per model', async t => {
  const p = query.parse(queue, form('Action=SetQueueAttributes&Attribute.1.Name=Policy&Attribute.1.Value=x&Attribute.2.Name=Delay&Attribute.2.Value=5' +
    '&Counts.entry.1.key=a&Counts.entry.1.value=1&AttributeName.1=All'))
  t.same(p.input, { Attributes: { Policy: 'x', Delay: '5' }, Counts: { a: 1 }, AttributeNames: ['All'] })
  t.equal(parseError(queue, form('Action=SetQueueAttributes&Counts.entry.1.value=1')).code, 'MissingParameter')
  t.equal(parseError(queue, form('Action=SetQueueAttributes&Counts.entry.1.key=a&Counts.entry.1.value=x')).code, 'InvalidParameterValue')
  const proto = query.parse(queue, form('Action=SetQueueAttributes&Counts.entry.1.key=__proto__&Counts.entry.1.value=1')).input.Counts as object
  t.same(Object.keys(proto), ['__proto__'])
  t.equal(Object.getPrototypeOf(proto), Object.prototype)
})

t.test('query - output is wrapped in resultWrapper, with ResponseMetadata', async t => {
  const created = new Date('2024-01-02T03:04:05Z')
  const res = query.serialize(iam, iam.operation('GetUser')!, {
    User: { Path: '/', UserName: 'alice', UserId: 'AIDA1', Arn: 'arn:aws:iam::1:user/alice', CreateDate: created, Tags: [{ Key: 'k', Value: '<v>' }] }
  }, { requestId: 'req-1' })
  t.equal(res.statusCode, 200)
  t.same(res.headers, { 'content-type': 'text/xml', 'x-amzn-requestid': 'req-1' })
  t.equal(res.body, '<?xml version="1.0" encoding="UTF-8"?>\n<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetUserResult>' +
    '<User><Path>/</Path><UserName>alice</UserName><UserId>AIDA1</UserId><Arn>arn:aws:iam::1:user/alice</Arn>' +
    '<CreateDate>2024-01-02T03:04:05.000Z</CreateDate><Tags><member><Key>k</Key><Value>&lt;v&gt;</Value></member></Tags></User>' +
    '</GetUserResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetUserResponse>')
})

t.test('query - empty lists, flattened lists and maps in output', async t => {
  t.match(query.serialize(iam, iam.operation('ListUsers')!, { Users: [], IsTruncated: false }, { requestId: 'r' }).body,
    '<ListUsersResult><Users/><IsTruncated>false</IsTruncated></ListUsersResult>')
  t.match(query.serialize(queue, queue.operation('SetQueueAttributes')!, { Attributes: { a: '1' }, AttributeNames: ['x', 'y'] }, { requestId: 'r' }).body,
    '<SetQueueAttributesResult><Attribute><Name>a</Name><Value>1</Value></Attribute><AttributeName>x</AttributeName><AttributeName>y</AttributeName></SetQueueAttributesResult>')
  t.match(query.serialize(iam, iam.operation('GetAccountSummary')!, { SummaryMap: { Users: 3 } }, { requestId: 'r' }).body,
    '<SummaryMap><entry><key>Users</key><value>3</value></entry></SummaryMap>')
})

t.test('query - an action without output answers ResponseMetadata only', async t => {
  t.equal(query.serialize(iam, iam.operation('DeleteUser')!, undefined, { requestId: 'r' }).body,
    '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">' +
    '<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteUserResponse>')
})

t.test('query - errors are ErrorResponse with Sender or Receiver', async t => {
  const res = query.serializeError(iam, new AwsError('NoSuchEntity', 'The user with name bob cannot be found.', 404), { requestId: 'r' })
  t.equal(res.statusCode, 404)
  t.equal(res.body, '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>' +
    '<Code>NoSuchEntity</Code><Message>The user with name bob cannot be found.</Message></Error><RequestId>r</RequestId></ErrorResponse>')
  t.match(query.serializeError(sts, new AwsError('InternalError', 'x', 500), { requestId: 'r' }).body, '<Type>Receiver</Type>')
})

t.test('query - STS pattern violation is the ValidationError AWS answers', async t => {
  const e = parseError(sts, form('Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fadmin&RoleSessionName=PowerUser%2Fhjacobs'))
  t.same([e.code, e.statusCode], ['ValidationError', 400])
  t.equal(e.message, "1 validation error detected: Value 'PowerUser/hjacobs' at 'roleSessionName' failed to satisfy constraint: " +
    'Member must satisfy regular expression pattern: [\\w+=,.@-]*')
})

t.test('query - every violation is reported, pattern before length, as STS does', async t => {
  const e = parseError(sts, form('Action=AssumeRoleWithSAML&RoleArn=&PrincipalArn=&SAMLAssertion=abcd'))
  const pattern = '[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+'
  t.equal(e.message, `4 validation errors detected: Value '' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern}; ` +
    "Value '' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20; " +
    `Value '' at 'principalArn' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern}; ` +
    "Value '' at 'principalArn' failed to satisfy constraint: Member must have length greater than or equal to 20")
})

t.test('query - missing required member → ValidationError "Value null at"', async t => {
  const e = parseError(iam, form('Action=GetRole&Version=2010-05-08'))
  t.same([e.code, e.message], ['ValidationError', "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"])
  t.match(parseError(iam, form('Action=CreateUser&UserName=a&Tags.member.1.Key=k')).message, "Value null at 'tags.1.member.value'")
})

t.test('query - bad types, unknown parameters and actions', async t => {
  t.same([parseError(iam, form('Action=ListUsers&MaxItems=ten')).code, parseError(iam, form('Action=ListUsers&MaxItems=ten')).statusCode], ['InvalidParameterValue', 400])
  t.equal(parseError(iam, form('Action=ListUsers&MaxItems=0')).message,
    "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1")
  t.equal(parseError(iam, form('Action=ListUsers&Foo=1')).message, 'The parameter Foo is not recognized')
  t.equal(parseError(iam, form('Action=CreateUser&UserName=a&Tags.1.Key=k')).code, 'UnknownParameter')
  t.equal(parseError(iam, form('Action=GetAccountSummary&Extra=1')).code, 'UnknownParameter')
  t.equal(parseError(iam, form('Action=AssumeRole')).code, 'InvalidAction')
  t.equal(parseError(iam, form('')).code, 'MissingAction')
})

t.test('query - a timestamp beyond what a Date holds → InvalidParameterValue, not an Invalid Date', async t => {
  const model = oneOperationModel('query', { When: { shape: 'Epoch' } })
  t.same(query.parse(model, form('Action=Op&When=-8640000000000')).input, { When: new Date(-8.64e15) })
  for (const when of ['-8640000000001', '100000000000000000000']) {
    t.equal(parseError(model, form(`Action=Op&When=${when}`)).code, 'InvalidParameterValue', when)
  }
})
