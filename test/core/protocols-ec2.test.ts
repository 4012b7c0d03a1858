import t from 'tap'
import {
  DescribeAccountAttributesCommand, DescribeInstanceTypesCommand, EC2Client, RunInstancesCommand, type RunInstancesCommandInput, DeleteKeyPairCommand
} from '@aws-sdk/client-ec2'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { ServiceModel } from '../../core/model.js'
import { protocolFor } from '../../core/protocols/index.js'
import { loopback, oneOperationModel, parseError, sdkConfig, type Exchange } from './protocols-sdk.js'

const model = ServiceModel.load('ec2')
const ec2 = protocolFor(model)

function client (handler: Parameters<typeof loopback>[1], exchange: Exchange): EC2Client {
  return new EC2Client({ ...sdkConfig, requestHandler: loopback(model, handler, exchange) })
}

function form (body: string, method = 'POST'): HttpRequest {
  return method === 'GET'
    ? { method, path: '/', query: body, headers: {}, body: Buffer.alloc(0) }
    : { method, path: '/', query: '', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(body) }
}

t.test('ec2 - AttributeName.N list parses into AttributeNames', async t => {
  const x: Exchange = {}
  const out = await client(() => ({
    AccountAttributes: [{ AttributeName: 'default-vpc', AttributeValues: [{ AttributeValue: 'vpc-1' }] }]
  }), x).send(new DescribeAccountAttributesCommand({ AttributeNames: ['default-vpc', 'supported-platforms'], DryRun: false }))
  t.equal(x.parsed?.operation.name, 'DescribeAccountAttributes')
  t.same(x.parsed?.input, { AttributeNames: ['default-vpc', 'supported-platforms'], DryRun: false })
  t.same(out.AccountAttributes, [{ AttributeName: 'default-vpc', AttributeValues: [{ AttributeValue: 'vpc-1' }] }])
  t.match(x.response, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<DescribeAccountAttributesResponse xmlns="http:\/\/ec2\.amazonaws\.com\/doc\/2016-11-15\/"><requestId>req-0001<\/requestId><accountAttributeSet><item><attributeName>default-vpc<\/attributeName>/)
  t.equal(out.$metadata.requestId, 'req-0001')
})

t.test('ec2 - empty output list renders as an empty wrapper element', async t => {
  const x: Exchange = {}
  const out = await client(() => ({ AccountAttributes: [] }), x).send(new DescribeAccountAttributesCommand({}))
  t.match(x.response, /<accountAttributeSet\/>/)
  t.same(out.AccountAttributes, [])
})

t.test('ec2 - DescribeInstanceTypes Filters, InstanceTypes and MaxResults round-trip through the SDK', async t => {
  const x: Exchange = {}
  const out = await client(() => ({
    InstanceTypes: [{
      InstanceType: 't3.micro',
      CurrentGeneration: true,
      VCpuInfo: { DefaultVCpus: 2, ValidThreadsPerCore: [1, 2] },
      MemoryInfo: { SizeInMiB: 1024 },
      ProcessorInfo: { SupportedArchitectures: ['x86_64'], SustainedClockSpeedInGhz: 2.5 }
    }],
    NextToken: 'next & <more>'
  }), x).send(new DescribeInstanceTypesCommand({
    InstanceTypes: ['t3.micro', 't3.small'],
    Filters: [{ Name: 'current-generation', Values: ['true'] }, { Name: 'vcpu-info.default-vcpus', Values: ['2', '4'] }],
    MaxResults: 20
  }))
  t.same(x.parsed?.input, {
    InstanceTypes: ['t3.micro', 't3.small'],
    Filters: [{ Name: 'current-generation', Values: ['true'] }, { Name: 'vcpu-info.default-vcpus', Values: ['2', '4'] }],
    MaxResults: 20
  })
  t.same(out.InstanceTypes, [{
    InstanceType: 't3.micro',
    CurrentGeneration: true,
    VCpuInfo: { DefaultVCpus: 2, ValidThreadsPerCore: [1, 2] },
    MemoryInfo: { SizeInMiB: 1024 },
    ProcessorInfo: { SupportedArchitectures: ['x86_64'], SustainedClockSpeedInGhz: 2.5 }
  }])
  t.equal(out.NextToken, 'next & <more>')
})

/** Nested lists of structures, the EC2 query form the old hand-written parser got wrong. */
const RUN_INSTANCES: RunInstancesCommandInput = {
  ImageId: 'ami-1',
  MinCount: 1,
  MaxCount: 2,
  InstanceType: 't3.micro',
  BlockDeviceMappings: [
    { DeviceName: '/dev/sda1', Ebs: { VolumeSize: 8, VolumeType: 'gp3', DeleteOnTermination: true } },
    { DeviceName: '/dev/sdb', NoDevice: '' }
  ],
  TagSpecifications: [
    { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web' }, { Key: 'env', Value: 'a b&c=d' }] },
    { ResourceType: 'volume', Tags: [{ Key: 'k', Value: 'v' }] }
  ],
  ClientToken: 'token-1'
}

t.test('ec2 - RunInstances nested BlockDeviceMappings and TagSpecifications round-trip through the SDK', async t => {
  const x: Exchange = {}
  const launched = new Date('2024-05-01T10:20:30.000Z')
  const out = await client(p => ({
    ReservationId: 'r-1',
    OwnerId: '123456789012',
    Instances: [{
      InstanceId: 'i-1',
      ImageId: p.input.ImageId,
      LaunchTime: launched,
      State: { Code: 0, Name: 'pending' },
      Tags: [{ Key: 'Name', Value: 'web' }],
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeId: 'vol-1', Status: 'attaching', DeleteOnTermination: true } }]
    }]
  }), x).send(new RunInstancesCommand(RUN_INSTANCES))
  t.same(x.parsed?.input, RUN_INSTANCES, 'parses back into exactly what the SDK was given')
  const i = out.Instances?.[0]
  t.equal(out.ReservationId, 'r-1')
  t.equal(i?.ImageId, 'ami-1')
  t.equal(i?.LaunchTime?.toISOString(), launched.toISOString())
  t.same(i?.State, { Code: 0, Name: 'pending' })
  t.same(i?.Tags, [{ Key: 'Name', Value: 'web' }])
  t.same(i?.BlockDeviceMappings, [{ DeviceName: '/dev/sda1', Ebs: { VolumeId: 'vol-1', Status: 'attaching', DeleteOnTermination: true } }])
  t.match(x.response, /<launchTime>2024-05-01T10:20:30\.000Z<\/launchTime>/)
})

t.test('ec2 - an AwsError reaches the SDK with its code, message, status and request id', async t => {
  const x: Exchange = {}
  const err = await client(() => { throw new AwsError('InvalidKeyPair.NotFound', "The key pair 'k' does not exist", 400) }, x)
    .send(new DeleteKeyPairCommand({ KeyName: 'k' })).catch((e: unknown) => e) as Error & { $metadata: { httpStatusCode: number, requestId: string } }
  t.equal(err.name, 'InvalidKeyPair.NotFound')
  t.equal(err.message, "The key pair 'k' does not exist")
  t.equal(err.$metadata.httpStatusCode, 400)
  t.equal(err.$metadata.requestId, 'req-0001')
  t.equal(x.response, '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidKeyPair.NotFound</Code>' +
    "<Message>The key pair &apos;k&apos; does not exist</Message></Error></Errors><RequestID>req-0001</RequestID></Response>")
})

t.test('ec2 - an action without output answers <return>true</return>', async t => {
  const op = model.operation('DeleteSecurityGroup')
  t.equal(op?.output, undefined)
  const res = ec2.serialize(model, op!, undefined, { requestId: 'r' })
  t.match(res.body, /<DeleteSecurityGroupResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/"><requestId>r<\/requestId><return>true<\/return><\/DeleteSecurityGroupResponse>$/)
})

t.test('ec2 - GET query string parses like a form body; SigV4 query parameters are not members', async t => {
  const p = ec2.parse(model, form('Action=DescribeRegions&Version=2016-11-15&RegionName.1=us-east-1&AllRegions=true' +
    '&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc', 'GET'))
  t.equal(p.operation.name, 'DescribeRegions')
  t.same(p.input, { RegionNames: ['us-east-1'], AllRegions: true })
})

t.test('ec2 - list items are ordered by index and may have gaps', async t => {
  const p = ec2.parse(model, form('Action=DescribeInstances&InstanceId.10=i-c&InstanceId.2=i-b&InstanceId.1=i-a'))
  t.same(p.input.InstanceIds, ['i-a', 'i-b', 'i-c'])
})

t.test('ec2 - unknown parameter → UnknownParameter', async t => {
  const e = parseError(model, form('Action=DescribeInstances&ImageType=machine'))
  t.same([e.code, e.statusCode, e.message], ['UnknownParameter', 400, 'The parameter ImageType is not recognized'])
  t.equal(parseError(model, form('Action=RunInstances&MinCount=1&MaxCount=1&BlockDeviceMapping.1.Ebs.Throughput2=1')).message,
    'The parameter BlockDeviceMapping.1.Ebs.Throughput2 is not recognized')
  t.equal(parseError(model, form('Action=DescribeInstances&InstanceId.first=i-1')).code, 'UnknownParameter')
})

t.test('ec2 - missing required member → MissingParameter named as on the wire', async t => {
  const e = parseError(model, form('Action=RunInstances&MinCount=1'))
  t.same([e.code, e.statusCode, e.message], ['MissingParameter', 400, 'The request must contain the parameter MaxCount'])
  t.equal(parseError(model, form('Action=CreateSecurityGroup&GroupName=g')).message, 'The request must contain the parameter GroupDescription')
})

t.test('ec2 - non-integer or non-boolean value → InvalidParameterValue', async t => {
  const e = parseError(model, form('Action=RunInstances&MinCount=one&MaxCount=1'))
  t.same([e.code, e.statusCode], ['InvalidParameterValue', 400])
  t.match(e.message, /MinCount/)
  t.equal(parseError(model, form('Action=DescribeRegions&AllRegions=yes')).code, 'InvalidParameterValue')
  t.equal(parseError(model, form('Action=RunInstances&MinCount=1.5&MaxCount=1')).code, 'InvalidParameterValue')
  t.equal(parseError(model, form('Action=RunInstances&MinCount=99999999999&MaxCount=1')).code, 'InvalidParameterValue')
})

t.test('ec2 - a timestamp beyond what a Date holds → InvalidParameterValue, not an Invalid Date', async t => {
  t.equal(parseError(model, form('Action=DescribeFleetHistory&FleetId=f&StartTime=%2B275760-09-14T00:00:00Z')).code, 'InvalidParameterValue')
  const epoch = oneOperationModel('ec2', { When: { shape: 'Epoch' } })
  t.same(ec2.parse(epoch, form('Action=Op&When=8640000000000')).input, { When: new Date(8.64e15) })
  for (const when of ['8640000000000.5', '100000000000000000000']) {
    t.equal(parseError(epoch, form(`Action=Op&When=${when}`)).code, 'InvalidParameterValue', when)
  }
})

t.test('ec2 - MaxResults outside the model range → InvalidParameterValue worded as EC2 words it', async t => {
  const e = parseError(model, form('Action=DescribeInstanceTypes&MaxResults=1'))
  t.same([e.code, e.message], ['InvalidParameterValue', 'Value ( 1 ) for parameter maxResults is invalid. Expecting a value greater than 5.'])
})

t.test('ec2 - unknown, missing and malformed actions', async t => {
  t.same([parseError(model, form('Action=LaunchRocket')).code, parseError(model, form('Action=LaunchRocket')).statusCode], ['InvalidAction', 400])
  t.equal(parseError(model, form('Action=constructor')).code, 'InvalidAction')
  t.equal(parseError(model, form('Version=2016-11-15')).code, 'MissingAction')
  const e = parseError(model, form('Action=DescribeRegions&RegionName.1=%E0%A4%A'))
  t.same([e.code, e.statusCode], ['MalformedQueryString', 404])
})

t.test('ec2 - model names are what plugins document: inputMembers and hasMember', async t => {
  t.ok(model.inputMembers('DescribeAccountAttributes').includes('AttributeNames'))
  t.ok(model.hasMember('RunInstances', 'DryRun'))
  t.notOk(model.hasMember('RunInstances', 'toString'))
  t.same(model.inputMembers('NoSuchAction'), [])
  t.equal(model.operation('hasOwnProperty'), undefined)
  t.equal(model.metadata.protocol, 'ec2')
})
