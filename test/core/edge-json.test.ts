import { GetParameterCommand, SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm'
import t from 'tap'
import { sdkConfig, startNode } from '../helpers/node.js'
import { signedFetch } from '../helpers/sign.js'

// The edge's errors for a json-protocol service, as @aws-sdk/client-ssm sees them.
t.test('edge - json protocol errors through the SSM SDK', async t => {
  const node = await startNode({ caps: [], plugins: ['./examples/plugin-ssm-parameters'] })
  t.teardown(async () => { await node.stop() })
  const ssm = (over: Partial<SSMClientConfig> = {}): SSMClient => new SSMClient({ ...sdkConfig(node), ...over })
  const get = new GetParameterCommand({ Name: '/x' })

  await t.test('wrong secret → InvalidSignatureException 400', async t => {
    await t.rejects(ssm({ credentials: { ...node.credentials, secretAccessKey: 'y'.repeat(40) } }).send(get),
      { name: 'InvalidSignatureException', $metadata: { httpStatusCode: 400 } })
  })

  await t.test('unknown access key → UnrecognizedClientException 400', async t => {
    await t.rejects(ssm({ credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN12', secretAccessKey: 'y'.repeat(40) } }).send(get),
      { name: 'UnrecognizedClientException', $metadata: { httpStatusCode: 400 } })
  })

  await t.test('clock skewed by 16 minutes → InvalidSignatureException 400', async t => {
    await t.rejects(ssm({ systemClockOffset: 16 * 60_000 }).send(get), { name: 'InvalidSignatureException' })
  })

  await t.test('missing required member → ValidationException 400', async t => {
    await t.rejects(ssm().send(new GetParameterCommand({} as { Name: string })), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } })
  })

  await t.test('malformed JSON body → SerializationException 400', async t => {
    const r = await signedFetch(node, { service: 'ssm', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.GetParameter' }, body: '{"Name": ' })
    t.equal(r.status, 400)
    t.match(JSON.parse(r.text), { __type: /SerializationException/ })
  })

  await t.test('unknown operation → UnknownOperationException 400', async t => {
    const r = await signedFetch(node, { service: 'ssm', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.LaunchRocket' }, body: '{}' })
    t.equal(r.status, 400)
    t.match(JSON.parse(r.text), { __type: /UnknownOperationException/ })
  })

  await t.test('oversized body → 413 in the JSON error shape', async t => {
    const r = await fetch(node.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.GetParameter' }, body: 'x'.repeat(17 * 1024 * 1024) })
    t.equal(r.status, 413)
    t.match(await r.json(), { __type: /RequestEntityTooLarge/ })
  })
})
