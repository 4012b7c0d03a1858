import { DescribeAccountAttributesCommand, EC2Client, type AccountAttribute } from '@aws-sdk/client-ec2'
import t from 'tap'
import type { ActionContext } from '../../core/index.js'
import { describeAccountAttributes } from '../../plugins/ec2/account-attributes.js'
import { aws, sdkConfig, startNode } from '../helpers/node.js'

// The handler reads nothing from the request context.
const ctx = {} as ActionContext

const ALL = {
  'vpc-max-security-groups-per-interface': ['5'],
  'max-instances': ['100'],
  'supported-platforms': ['VPC'],
  'default-vpc': ['none'],
  'max-elastic-ips': ['5'],
  'vpc-max-elastic-ips': ['20']
}

/** `[{ AttributeName, AttributeValues: [{ AttributeValue }] }]` → `{ name: [values] }`, keeping the order. */
function flatten (attributes: AccountAttribute[] | undefined): Record<string, string[]> {
  return Object.fromEntries((attributes ?? []).map(a => [a.AttributeName, (a.AttributeValues ?? []).map(v => v.AttributeValue)]))
}

async function attributesOf (input: Record<string, unknown>): Promise<Record<string, string[]>> {
  return flatten((await describeAccountAttributes(input, ctx) as { AccountAttributes: AccountAttribute[] }).AccountAttributes)
}

t.test('DescribeAccountAttributes - all six attributes, in AWS order', async t => {
  const attrs = await attributesOf({})
  t.same(attrs, ALL)
  t.same(Object.keys(attrs), Object.keys(ALL))
})

t.test('DescribeAccountAttributes - AttributeNames selects, whatever the order asked', async t => {
  t.same(await attributesOf({ AttributeNames: ['default-vpc', 'max-instances'] }), { 'max-instances': ['100'], 'default-vpc': ['none'] })
  t.same(await attributesOf({ AttributeNames: ['supported-platforms', 'supported-platforms'] }), { 'supported-platforms': ['VPC'] })
})

t.test('DescribeAccountAttributes - an unknown attribute name → InvalidParameterValue', async t => {
  await t.rejects(async () => await describeAccountAttributes({ AttributeNames: ['max-instances', 'max-unicorns'] }, ctx),
    { code: 'InvalidParameterValue', message: 'Value (max-unicorns) for parameter attributeName is invalid.', statusCode: 400 })
})

t.test('through a real node', async t => {
  const node = await startNode({ caps: ['ec2'] })
  t.teardown(async () => { await node.stop() })
  const ec2 = new EC2Client(sdkConfig(node))
  t.teardown(() => { ec2.destroy() })

  t.test('aws ec2 describe-account-attributes - every attribute', async t => {
    const r = aws(node, ['ec2', 'describe-account-attributes'])
    t.equal(r.status, 0, r.stderr)
    t.same(flatten(r.json?.AccountAttributes), ALL)
  })

  t.test('aws ec2 describe-account-attributes --attribute-names - only those asked for', async t => {
    const r = aws(node, ['ec2', 'describe-account-attributes', '--attribute-names', 'max-elastic-ips', 'supported-platforms'])
    t.equal(r.status, 0, r.stderr)
    t.same(flatten(r.json?.AccountAttributes), { 'supported-platforms': ['VPC'], 'max-elastic-ips': ['5'] })
  })

  t.test('aws ec2 describe-account-attributes - an unknown attribute name → InvalidParameterValue', async t => {
    const r = aws(node, ['ec2', 'describe-account-attributes', '--attribute-names', 'max-unicorns'])
    t.not(r.status, 0)
    t.match(r.stderr, '(InvalidParameterValue) when calling the DescribeAccountAttributes operation')
    t.match(r.stderr, 'Value (max-unicorns) for parameter attributeName is invalid.')
  })

  t.test('aws ec2 describe-account-attributes --dry-run → DryRunOperation', async t => {
    const r = aws(node, ['ec2', 'describe-account-attributes', '--dry-run'])
    t.not(r.status, 0)
    t.match(r.stderr, '(DryRunOperation)')
  })

  t.test('sdk DescribeAccountAttributes - all, AttributeNames, unknown name, DryRun', async t => {
    t.same(flatten((await ec2.send(new DescribeAccountAttributesCommand({}))).AccountAttributes), ALL)
    const some = await ec2.send(new DescribeAccountAttributesCommand({ AttributeNames: ['default-vpc'] }))
    t.same(flatten(some.AccountAttributes), { 'default-vpc': ['none'] })
    await t.rejects(ec2.send(new DescribeAccountAttributesCommand({ AttributeNames: ['max-unicorns' as 'default-vpc'] })), { name: 'InvalidParameterValue' })
    await t.rejects(ec2.send(new DescribeAccountAttributesCommand({ DryRun: true })), { name: 'DryRunOperation' })
  })
})
