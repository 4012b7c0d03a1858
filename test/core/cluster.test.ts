import t from 'tap'
import { aws, startNode } from '../helpers/node.js'
import { errorCode, signedFetch } from '../helpers/sign.js'

// Two real nodes on one NATS: node a runs the embedded nats-server and the ec2 capability, node b
// joins with --nats and serves only the example ssm plugin. Each edge routes to the other's actions.
t.test('cluster', async t => {
  const a = await startNode({ caps: ['ec2'] })
  t.teardown(async () => { await a.stop() })
  const b = await startNode({ caps: [], plugins: ['./examples/plugin-ssm-parameters'], args: ['--nats', a.natsUrl] })
  let bStopped = false
  t.teardown(async () => { if (!bStopped) await b.stop() })

  await t.test('a node started with --nats joins the existing bus instead of starting its own', async t => {
    t.equal(new URL(b.natsUrl).host, new URL(a.natsUrl).host)
  })

  await t.test('a joining node adopts the cluster account and root key, so one profile works everywhere', async t => {
    t.equal(b.accountId, a.accountId)
    t.same(b.credentials, a.credentials)
  })

  await t.test("an ec2 request to b's edge is served by a", async t => {
    const r = aws(b, ['ec2', 'describe-availability-zones'])
    t.equal(r.status, 0, r.stderr)
    t.equal(r.json.AvailabilityZones[0].ZoneName, `${a.region}a`)
  })

  await t.test("an ssm request to a's edge is served by b", async t => {
    const put = aws(a, ['ssm', 'put-parameter', '--name', '/cluster/x', '--value', '1', '--type', 'String'])
    t.equal(put.status, 0, put.stderr)
    const get = aws(b, ['ssm', 'get-parameter', '--name', '/cluster/x'])
    t.equal(get.json.Parameter.Value, '1')
  })

  await t.test('when the last node serving a capability leaves → ServiceUnavailable naming it', async t => {
    bStopped = true
    await b.stop()
    const r = await signedFetch(a, {
      service: 'ssm',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.GetParameter' },
      body: JSON.stringify({ Name: '/cluster/x' })
    })
    t.equal(r.status, 503)
    t.match(JSON.parse(r.text), { __type: /ServiceUnavailable/, message: /ssm capability.*--cap ssm/ })
    t.notOk(errorCode(r.text))
  })
})
