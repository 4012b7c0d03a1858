import t from 'tap'
import { CapabilityError, loadBuiltin, loadPlugin } from '../../core/capabilities.js'
import { defineCapability, type CapabilityDefinition } from '../../core/capability.js'
import type { NodeRecord } from '../../core/nodes.js'
import { validateCapabilities } from '../../core/plugin-host.js'

const none: NodeRecord[] = []
const nodeServing = (capability: string, actions: string[]): NodeRecord => ({
  nodeId: 'other', region: 'us-east-1', az: 'us-east-1a', capabilities: [capability], endpoint: 'http://x', startedAt: '',
  actions: Object.fromEntries(actions.map(a => [a, capability]))
})

function cap (over: Partial<CapabilityDefinition>): ReturnType<typeof defineCapability> {
  return defineCapability({ name: 'p', capability: 'x', services: {}, register: async () => {}, ...over })
}

t.test('plugins - a dependency no node serves is refused, naming the fix', async t => {
  t.throws(() => validateCapabilities([cap({ capability: 'ebs', dependsOn: ['s3'] })], none),
    { message: /'ebs' depends on 's3'.*--cap s3/ })
})

t.test('plugins - a dependency served elsewhere in the cluster is fine', async t => {
  t.doesNotThrow(() => validateCapabilities([cap({ capability: 'ebs', dependsOn: ['s3'] })], [nodeServing('s3', [])]))
})

t.test('plugins - the same action declared by two capabilities is refused', async t => {
  const a = cap({ name: 'a', capability: 'a', services: { ec2: { actions: { DescribeRegions: {} } } } })
  const b = cap({ name: 'b', capability: 'b', services: { ec2: { actions: { DescribeRegions: {} } } } })
  t.throws(() => validateCapabilities([a, b], none), CapabilityError)
  t.throws(() => validateCapabilities([a, b], none), { message: "action ec2:DescribeRegions is declared by both 'a' and 'b'" })
})

t.test('plugins - an action another capability serves on a live node is refused', async t => {
  const a = cap({ name: 'a', capability: 'a', services: { ec2: { actions: { DescribeRegions: {} } } } })
  t.throws(() => validateCapabilities([a], [nodeServing('b', ['ec2:DescribeRegions'])]), { message: "action ec2:DescribeRegions is declared by both 'b' and 'a'" })
  t.doesNotThrow(() => validateCapabilities([a], [nodeServing('a', ['ec2:DescribeRegions'])]), 'the same capability on another node shares the work')
})

t.test('plugins - an action its model does not have is refused', async t => {
  t.throws(() => validateCapabilities([cap({ services: { ec2: { actions: { LaunchRocket: {} } } } })], none),
    { message: "capability 'x' declares ec2:LaunchRocket, which the ec2 model does not have" })
})

t.test('plugins - a model that does not exist is refused', async t => {
  t.throws(() => validateCapabilities([cap({ services: { nosuch: { actions: { A: {} } } } })], none),
    { message: /service model 'nosuch' for nosuch failed to load/ })
})

t.test('plugins - the same capability twice is refused', async t => {
  t.throws(() => validateCapabilities([cap({ name: 'a' }), cap({ name: 'b' })], none), { message: /enabled twice/ })
})

t.test('plugins - a module without a capability default export is refused', async t => {
  await t.rejects(loadPlugin('./test/core/fixtures/not-a-plugin.ts'), { message: /does not default-export a capability/ })
  await t.rejects(loadPlugin('./no/such/plugin'), { message: /does not exist/ })
})

t.test('plugins - the built-in ec2 and the example plugin pass validation together', async t => {
  const caps = [await loadBuiltin('ec2'), await loadPlugin('./examples/plugin-ssm-parameters')]
  const models = validateCapabilities(caps, none)
  t.same([...models.keys()].sort(), ['ec2', 'ssm'])
})
