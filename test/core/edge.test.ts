import http from 'node:http'
import t from 'tap'
import { aws, startNode } from '../helpers/node.js'
import { errorCode, signedFetch } from '../helpers/sign.js'

// The edge end to end on a real node: SigV4, model parsing, central DryRun, the bus, error shapes.
// Where the issue text and AWS disagree (clock skew), these follow AWS: EC2 answers RequestExpired.
t.test('edge', async t => {
  const node = await startNode()
  t.teardown(async () => { await node.stop() })
  const form = (s: string): { body: string } => ({ body: s })

  await t.test('a signed request through the whole path answers 200 with EC2 XML', async t => {
    const r = await signedFetch(node, form('Action=DescribeAvailabilityZones&Version=2016-11-15'))
    t.equal(r.status, 200)
    t.match(r.text, /<DescribeAvailabilityZonesResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/">/)
    t.match(r.text, /<requestId>[0-9a-f-]{36}<\/requestId>/)
  })

  await t.test('bad signature → AuthFailure 401', async t => {
    const r = await signedFetch(node, { ...form('Action=DescribeRegions&Version=2016-11-15'), credentials: { ...node.credentials, secretAccessKey: 'x'.repeat(40) } })
    t.equal(r.status, 401)
    t.equal(errorCode(r.text), 'AuthFailure')
    t.match(r.text, /<Response><Errors><Error><Code>AuthFailure<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>/)
  })

  await t.test('tampered body → AuthFailure 401', async t => {
    const r = await signedFetch(node, { ...form('Action=DescribeRegions&Version=2016-11-15'), tamper: req => { req.body = 'Action=DescribeRegions&Version=2016-11-15&DryRun=true' } })
    t.equal(r.status, 401)
    t.equal(errorCode(r.text), 'AuthFailure')
  })

  await t.test('unknown access key → AuthFailure 401', async t => {
    const r = await signedFetch(node, { ...form('Action=DescribeRegions&Version=2016-11-15'), credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN12', secretAccessKey: node.credentials.secretAccessKey } })
    t.equal(r.status, 401)
    t.equal(errorCode(r.text), 'AuthFailure')
  })

  await t.test('clock skewed by 16 minutes → RequestExpired 400', async t => {
    for (const minutes of [-16, 16]) {
      const r = await signedFetch(node, { ...form('Action=DescribeRegions&Version=2016-11-15'), signingDate: new Date(Date.now() + minutes * 60_000) })
      t.equal(r.status, 400)
      t.equal(errorCode(r.text), 'RequestExpired')
    }
  })

  await t.test('no signature at all → MissingAuthenticationToken', async t => {
    const r = await fetch(node.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=DescribeRegions&Version=2016-11-15' })
    t.equal(errorCode(await r.text()), 'MissingAuthenticationToken')
  })

  await t.test('unknown action → InvalidAction 400', async t => {
    const r = await signedFetch(node, form('Action=LaunchRocket&Version=2016-11-15'))
    t.equal(r.status, 400)
    t.equal(errorCode(r.text), 'InvalidAction')
  })

  await t.test('unknown parameter → UnknownParameter 400', async t => {
    const r = await signedFetch(node, form('Action=DescribeRegions&Version=2016-11-15&Warp=9'))
    t.equal(r.status, 400)
    t.equal(errorCode(r.text), 'UnknownParameter')
  })

  await t.test('missing required parameter → MissingParameter 400 (checked before any capability is asked)', async t => {
    const r = await signedFetch(node, form('Action=CreateVolume&Version=2016-11-15&Size=8'))
    t.equal(r.status, 400)
    t.equal(errorCode(r.text), 'MissingParameter')
    t.match(r.text, /AvailabilityZone/)
  })

  await t.test('bad value → InvalidParameterValue 400', async t => {
    const r = await signedFetch(node, form('Action=DescribeInstanceTypes&Version=2016-11-15&MaxResults=many'))
    t.equal(r.status, 400)
    t.equal(errorCode(r.text), 'InvalidParameterValue')
  })

  // AWS answers MalformedQueryString with 404, so "client error" is the assertion, not 400.
  await t.test('malformed body → a 4xx AWS error, never a 500', async t => {
    for (const body of ['Action=DescribeRegions&Version=2016-11-15&RegionName.1=%zz', '%%%', '\u0000\u0001\u00ff', 'Action']) {
      const r = await signedFetch(node, form(body))
      t.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(body)} → ${r.status}`)
      t.ok(errorCode(r.text), r.text)
    }
  })

  await t.test('oversized body → RequestEntityTooLarge 413', async t => {
    const big = 'Action=DescribeRegions&Version=2016-11-15&Pad=' + 'x'.repeat(17 * 1024 * 1024)
    const r = await fetch(node.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: big })
    t.equal(r.status, 413)
    t.equal(errorCode(await r.text()), 'RequestEntityTooLarge')
  })

  await t.test('an action no node serves → ServiceUnavailable 503 naming it', async t => {
    const r = await signedFetch(node, form('Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=8'))
    t.equal(r.status, 503)
    t.equal(errorCode(r.text), 'ServiceUnavailable')
    t.match(r.text, /ec2:CreateVolume/)
  })

  await t.test('DryRun is answered centrally: DryRunOperation 412', async t => {
    const r = await signedFetch(node, form('Action=DescribeRegions&Version=2016-11-15&DryRun=true'))
    t.equal(r.status, 412)
    t.equal(errorCode(r.text), 'DryRunOperation')
    const cli = aws(node, ['ec2', 'describe-availability-zones', '--dry-run'])
    t.not(cli.status, 0)
    t.match(cli.stderr, /DryRunOperation/)
  })

  await t.test('a request signed for another region → AuthFailure 401', async t => {
    const r = await signedFetch({ ...node, region: 'eu-north-1' }, form('Action=DescribeRegions&Version=2016-11-15'))
    t.equal(r.status, 401)
    t.equal(errorCode(r.text), 'AuthFailure')
  })

  await t.test('DryRun of an action no node serves → ServiceUnavailable, as the real call would', async t => {
    const r = await signedFetch(node, form('Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=8&DryRun=true'))
    t.equal(r.status, 503)
    t.equal(errorCode(r.text), 'ServiceUnavailable')
  })

  await t.test('a large body under an unknown key → InvalidAccessKeyId 403 before the body is read', async t => {
    const u = new URL(node.endpoint)
    const answer = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const req = http.request({
        host: u.hostname,
        port: u.port,
        method: 'PUT',
        path: '/bucket/key',
        headers: {
          'content-length': String(512 * 1024 * 1024),
          'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
          authorization: 'AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNUNKNOWN00/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00'
        }
      }, res => {
        let body = ''
        res.on('data', (d: Buffer) => { body += d.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }); req.destroy() })
      })
      req.on('error', reject)
      req.write(Buffer.alloc(1024))
    })
    t.equal(answer.status, 403)
    t.equal(errorCode(answer.body), 'InvalidAccessKeyId')
  })

  await t.test('a large API request is served by the local handler, and the node lives on', async t => {
    const r = await signedFetch(node, form('Action=DescribeInstanceTypes&Version=2016-11-15&Filter.1.Name=instance-type&Filter.1.Value.1=' + 'x'.repeat(2 * 1024 * 1024)))
    t.equal(r.status, 200)
    t.equal((await signedFetch(node, form('Action=DescribeRegions&Version=2016-11-15'))).status, 200)
  })

  await t.test('random signed bodies never answer 500', async t => {
    const names = ['Action', 'Version', 'DryRun', 'MaxResults', 'NextToken', 'InstanceType.1', 'Filter.1.Name', 'Filter.1.Value.1', 'AttributeName.1', 'ZoneName.1', 'RegionName.1']
    const actions = ['DescribeRegions', 'DescribeAvailabilityZones', 'DescribeAccountAttributes', 'DescribeInstanceTypes', 'RunInstances', 'X']
    const values = ['', 'true', 'false', '0', '-1', '5', '1e99', '%00', '%zz', '\u00ff', 't3.*', '*', 'eyJhZnRlciI6MX0', 'a'.repeat(300)]
    const pick = <T>(xs: T[], i: number): T => xs[i % xs.length]
    let seed = 7
    const next = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed }
    for (let i = 0; i < 150; i++) {
      const parts = [`Action=${pick(actions, next())}`, 'Version=2016-11-15']
      for (let j = next() % 5; j > 0; j--) parts.push(`${pick(names, next())}=${pick(values, next())}`)
      const r = await signedFetch(node, form(parts.join('&')))
      t.ok(r.status < 500 || r.status === 503, `${parts.join('&')} → ${r.status}`)
      if (r.status >= 400) t.ok(errorCode(r.text), r.text)
    }
  })

  await t.test('aws CLI - wrong secret → AuthFailure', async t => {
    const cli = aws(node, ['ec2', 'describe-regions'], { AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) })
    t.not(cli.status, 0)
    t.match(cli.stderr, /AuthFailure/)
  })

  await t.test('every request id is unique and echoed as the AWS request id', async t => {
    const ids = new Set<string>()
    for (let i = 0; i < 5; i++) {
      const r = await signedFetch(node, form('Action=DescribeRegions&Version=2016-11-15'))
      ids.add(/<requestId>([^<]+)<\/requestId>/.exec(r.text)?.[1] ?? '')
    }
    t.equal(ids.size, 5)
  })
})
