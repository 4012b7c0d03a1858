import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { MetadataService, relayCommand, writeRelay, type InstanceMetadata, type InstanceMetadataOptions } from '../../plugins/ec2/imds.js'

// A real MetadataService on real unix sockets, one per fake instance; requests go through node's HTTP
// client (and once through the relay command slirp would run), as a guest's would.
const dir = mkdtempSync(join(tmpdir(), 'hive-imds-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const instances = new Map<string, InstanceMetadata>()
const service = new MetadataService(async id => instances.get(id))
t.teardown(async () => await service.close())
let n = 0

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, body: string }
type Get = (method: string, path: string, headers?: Record<string, string>) => Promise<Reply>

function metadata (id: string, overrides: Partial<InstanceMetadata> = {}, options: Partial<InstanceMetadataOptions> = {}): InstanceMetadata {
  return {
    instanceId: id,
    imageId: 'ami-0123456789abcdef0',
    instanceType: 't3.micro',
    hostname: 'ip-10-0-2-15.ec2.internal',
    localIpv4: '10.0.2.15',
    availabilityZone: 'us-east-1a',
    region: 'us-east-1',
    macAddress: '52:54:00:12:34:56',
    reservationId: 'r-0123456789abcdef0',
    accountId: '123456789012',
    pendingTime: new Date('2026-01-02T03:04:05.678Z'),
    publicKeys: [{ name: 'my-key', openssh: 'ssh-ed25519 AAAAC3Nza my-key' }],
    blockDeviceMapping: { ami: 'vda', root: '/dev/sda1', ebs1: 'sdf' },
    tags: { Name: 'web', env: 'prod' },
    ...overrides,
    options: { httpTokens: 'optional', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1, instanceMetadataTags: 'disabled', ...options }
  }
}

async function instance (t: Test, overrides: Partial<InstanceMetadata> = {}, options: Partial<InstanceMetadataOptions> = {}): Promise<{ id: string, socket: string, call: Get }> {
  const id = `i-${String(n++).padStart(17, '0')}`
  const socket = join(dir, `${id}.sock`)
  instances.set(id, metadata(id, overrides, options))
  await service.listen(id, socket)
  t.teardown(async () => await service.unlisten(id))
  const call: Get = async (method, path, headers = {}) => await new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: { host: '169.254.169.254', ...headers } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
  return { id, socket, call }
}

async function token (call: Get, ttl = '21600'): Promise<string> {
  const r = await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': ttl })
  if (r.status !== 200) throw new Error(`token PUT answered ${r.status}`)
  return r.body
}

t.test('imds - IMDSv2: a token from PUT /latest/api/token opens the metadata', async t => {
  const { id, call } = await instance(t)
  const put = await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' })
  t.equal(put.status, 200)
  t.equal(put.headers['x-aws-ec2-metadata-token-ttl-seconds'], '60')
  const got = await call('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': put.body })
  t.equal(got.status, 200)
  t.equal(got.body, id)
  t.match(got.headers['x-aws-ec2-metadata-token-ttl-seconds'], /^(59|60)$/)
})

t.test('imds - token TTL missing, 0, above 21600 or not a number → 400; 1 and 21600 accepted', async t => {
  const { call } = await instance(t)
  t.equal((await call('PUT', '/latest/api/token')).status, 400)
  for (const ttl of ['0', '21601', 'abc', '-5', '1.5']) {
    const r = await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': ttl })
    t.equal(r.status, 400, `ttl ${ttl}`)
    t.match(r.body, /<title>400 - Missing or Invalid Parameters<\/title>/)
  }
  for (const ttl of ['1', '21600']) t.equal((await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': ttl })).status, 200, `ttl ${ttl}`)
})

t.test('imds - a token PUT through a proxy (X-Forwarded-For) → 403', async t => {
  const { call } = await instance(t)
  const r = await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60', 'X-Forwarded-For': '10.0.0.9' })
  t.equal(r.status, 403)
})

t.test('imds - the token path takes only PUT, data paths only GET/HEAD → 405', async t => {
  const { call } = await instance(t)
  t.equal((await call('GET', '/latest/api/token')).status, 405)
  t.equal((await call('PUT', '/latest/meta-data/instance-id')).status, 405)
  t.equal((await call('POST', '/latest/meta-data/')).status, 405)
  const head = await call('HEAD', '/latest/meta-data/ami-id')
  t.equal(head.status, 200)
  t.equal(head.body, '')
})

t.test('imds - an expired token → 401', async t => {
  const { call } = await instance(t)
  const tok = await token(call, '1')
  await sleep(1100)
  t.equal((await call('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': tok })).status, 401)
})

t.test('imds - a forged, garbled or other instance\'s token → 401', async t => {
  const a = await instance(t)
  const b = await instance(t)
  const tokA = await token(a.call)
  t.equal((await b.call('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': tokA })).status, 401, 'A\'s token at B')
  const [, signature] = tokA.split('.')
  const forged = `${Buffer.from(`${b.id}:${Date.now() + 60000}`).toString('base64url')}.${signature}`
  t.equal((await b.call('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': forged })).status, 401, 'claim swapped')
  for (const bad of ['', 'x', 'a.b.c', `${tokA}x`]) {
    const r = await a.call('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': bad })
    t.equal(r.status, 401, `token ${JSON.stringify(bad)}`)
  }
  const r = await a.call('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': 'nope' })
  t.match(r.body, /<h1>401 - Unauthorized<\/h1>/)
  t.equal(r.headers['content-type'], 'text/html')
})

t.test('imds - IMDSv1 (no token) works while HttpTokens=optional, 401 when required', async t => {
  const optional = await instance(t)
  t.equal((await optional.call('GET', '/latest/meta-data/instance-id')).body, optional.id)
  const required = await instance(t, {}, { httpTokens: 'required' })
  t.equal((await required.call('GET', '/latest/meta-data/instance-id')).status, 401)
  t.equal((await required.call('GET', '/latest/user-data')).status, 401)
  const tok = await token(required.call)
  t.equal((await required.call('GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': tok })).body, required.id)
})

t.test('imds - HttpEndpoint=disabled → 403 for everything, token PUT included', async t => {
  const { call } = await instance(t, {}, { httpEndpoint: 'disabled' })
  t.equal((await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' })).status, 403)
  t.equal((await call('GET', '/latest/meta-data/instance-id')).status, 403)
  t.equal((await call('GET', '/')).status, 403)
})

t.test('imds - options are read per request: ModifyInstanceMetadataOptions takes effect at once', async t => {
  const { id, call } = await instance(t)
  t.equal((await call('GET', '/latest/meta-data/instance-id')).status, 200)
  const m = instances.get(id)
  if (m !== undefined) m.options.httpTokens = 'required'
  t.equal((await call('GET', '/latest/meta-data/instance-id')).status, 401)
})

t.test('imds - an unknown (terminated) instance → 404', async t => {
  const { id, call } = await instance(t)
  instances.delete(id)
  t.equal((await call('GET', '/latest/meta-data/instance-id')).status, 404)
})

t.test('imds - listings: one entry per line, directories with a trailing /', async t => {
  const { call } = await instance(t)
  t.equal((await call('GET', '/')).body, '1.0\nlatest')
  t.equal((await call('GET', '/latest/')).body, 'dynamic/\nmeta-data/')
  t.equal((await call('GET', '/latest/meta-data/')).body, [
    'ami-id', 'block-device-mapping/', 'hostname', 'instance-id', 'instance-type', 'local-hostname', 'local-ipv4', 'mac',
    'placement/', 'public-keys/', 'reservation-id', 'services/'].join('\n'))
  t.equal((await call('GET', '/latest/meta-data')).body, (await call('GET', '/latest/meta-data/')).body, 'without the trailing slash too')
  t.equal((await call('GET', '/latest/meta-data/placement/')).body, 'availability-zone\nregion')
  t.equal((await call('GET', '/latest/meta-data/services/')).body, 'domain\npartition')
  t.equal((await call('GET', '/latest/dynamic/')).body, 'instance-identity/')
  t.equal((await call('GET', '/latest/dynamic/instance-identity/')).body, 'document')
  t.equal((await call('GET', '/2021-07-15/meta-data/instance-type')).body, 't3.micro', 'a dated version serves the same tree')
})

t.test('imds - each meta-data value', async t => {
  const { id, call } = await instance(t)
  const expected: Record<string, string> = {
    'instance-id': id,
    'ami-id': 'ami-0123456789abcdef0',
    'instance-type': 't3.micro',
    hostname: 'ip-10-0-2-15.ec2.internal',
    'local-hostname': 'ip-10-0-2-15.ec2.internal',
    'local-ipv4': '10.0.2.15',
    mac: '52:54:00:12:34:56',
    'reservation-id': 'r-0123456789abcdef0',
    'placement/availability-zone': 'us-east-1a',
    'placement/region': 'us-east-1',
    'services/domain': 'amazonaws.com',
    'services/partition': 'aws'
  }
  for (const [path, value] of Object.entries(expected)) {
    const r = await call('GET', `/latest/meta-data/${path}`)
    t.equal(r.status, 200, path)
    t.equal(r.body, value, path)
    t.equal(r.headers['content-type'], 'text/plain', path)
  }
})

t.test('imds - mac is absent when the instance has none', async t => {
  const { call } = await instance(t, { macAddress: undefined })
  t.notMatch((await call('GET', '/latest/meta-data/')).body, /^mac$/m)
  t.equal((await call('GET', '/latest/meta-data/mac')).status, 404)
})

t.test('imds - public-keys lists "0=<name>", and 0/openssh-key is the key', async t => {
  const { call } = await instance(t, { publicKeys: [{ name: 'k1', openssh: 'ssh-rsa AAAA k1' }, { name: 'k2', openssh: 'ssh-ed25519 BBBB k2' }] })
  t.equal((await call('GET', '/latest/meta-data/public-keys/')).body, '0=k1\n1=k2')
  t.equal((await call('GET', '/latest/meta-data/public-keys/0/')).body, 'openssh-key')
  t.equal((await call('GET', '/latest/meta-data/public-keys/0/openssh-key')).body, 'ssh-rsa AAAA k1')
  t.equal((await call('GET', '/latest/meta-data/public-keys/1/openssh-key')).body, 'ssh-ed25519 BBBB k2')
  t.equal((await call('GET', '/latest/meta-data/public-keys/2/openssh-key')).status, 404)
  const none = await instance(t, { publicKeys: [] })
  t.equal((await none.call('GET', '/latest/meta-data/public-keys/')).body, '')
})

t.test('imds - block-device-mapping lists its virtual names and each names the device', async t => {
  const { call } = await instance(t)
  t.equal((await call('GET', '/latest/meta-data/block-device-mapping/')).body, 'ami\nroot\nebs1')
  t.equal((await call('GET', '/latest/meta-data/block-device-mapping/ami')).body, 'vda')
  t.equal((await call('GET', '/latest/meta-data/block-device-mapping/root')).body, '/dev/sda1')
  t.equal((await call('GET', '/latest/meta-data/block-device-mapping/ebs1')).body, 'sdf')
})

t.test('imds - tags/instance only when InstanceMetadataTags=enabled, else 404', async t => {
  const off = await instance(t)
  t.equal((await off.call('GET', '/latest/meta-data/tags/instance/')).status, 404)
  t.equal((await off.call('GET', '/latest/meta-data/tags/instance/Name')).status, 404)
  const on = await instance(t, {}, { instanceMetadataTags: 'enabled' })
  t.match((await on.call('GET', '/latest/meta-data/')).body, /^tags\/$/m)
  t.equal((await on.call('GET', '/latest/meta-data/tags/')).body, 'instance/')
  t.equal((await on.call('GET', '/latest/meta-data/tags/instance/')).body, 'Name\nenv')
  t.equal((await on.call('GET', '/latest/meta-data/tags/instance/Name')).body, 'web')
  t.equal((await on.call('GET', '/latest/meta-data/tags/instance/missing')).status, 404)
  const untagged = await instance(t, { tags: undefined }, { instanceMetadataTags: 'enabled' })
  t.equal((await untagged.call('GET', '/latest/meta-data/tags/instance/')).body, '')
})

t.test('imds - user-data: its bytes when given, 404 when none', async t => {
  const none = await instance(t)
  const missing = await none.call('GET', '/latest/user-data')
  t.equal(missing.status, 404)
  t.match(missing.body, /<title>404 - Not Found<\/title>/)
  t.notMatch((await none.call('GET', '/latest/')).body, /user-data/)
  const script = '#!/bin/sh\necho hello from user-data\n'
  const some = await instance(t, { userData: Buffer.from(script) })
  const r = await some.call('GET', '/latest/user-data')
  t.equal(r.status, 200)
  t.equal(r.body, script)
  t.equal(r.headers['content-type'], 'application/octet-stream')
  t.equal((await some.call('GET', '/latest/')).body, 'dynamic/\nmeta-data/\nuser-data')
})

t.test('imds - the instance identity document is AWS\'s JSON', async t => {
  const { id, call } = await instance(t)
  const r = await call('GET', '/latest/dynamic/instance-identity/document')
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'application/json')
  t.same(JSON.parse(r.body), {
    accountId: '123456789012',
    architecture: 'x86_64',
    availabilityZone: 'us-east-1a',
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: 'ami-0123456789abcdef0',
    instanceId: id,
    instanceType: 't3.micro',
    kernelId: null,
    pendingTime: '2026-01-02T03:04:05Z',
    privateIp: '10.0.2.15',
    ramdiskId: null,
    region: 'us-east-1',
    version: '2017-09-30'
  })
})

t.test('imds - unknown paths → 404 with AWS\'s page', async t => {
  const { call } = await instance(t)
  for (const path of ['/nope', '/latest/meta-data/nope', '/latest/meta-data/instance-id/more', '/latest/api', '/latest/meta-data/placement/nope', '/latest/meta-data/%E0%A4%A']) {
    const r = await call('GET', path)
    t.equal(r.status, 404, path)
    t.equal(r.headers['content-type'], 'text/html', path)
  }
})

t.test('imds - unlisten stops serving; listen again replaces a stale socket file', async t => {
  const { id, socket, call } = await instance(t)
  await service.unlisten(id)
  await t.rejects(call('GET', '/latest/meta-data/instance-id'))
  await service.listen(id, socket)
  t.equal((await call('GET', '/latest/meta-data/instance-id')).body, id)
})

t.test('imds - relayCommand rejects a path holding a comma', async t => {
  t.throws(() => relayCommand('/tmp/relay.pl', '/tmp/a,b.sock'), /comma/)
  t.throws(() => relayCommand('/tmp/a,b/relay.pl', '/tmp/a.sock'), /comma/)
})

t.test('imds - the relay command joins a raw HTTP exchange on stdio to the instance\'s socket', async t => {
  const { id, socket } = await instance(t)
  // slirp splits cmd: with shell quoting rules (g_shell_parse_argv); sh -c splits it the same way here.
  const script = writeRelay(dirname(socket))
  const relay = spawn('sh', ['-c', relayCommand(script, socket)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  relay.stdout.on('data', (c: Buffer) => { out += c.toString() })
  relay.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<number | null>(resolve => relay.once('exit', code => resolve(code)))
  relay.stdin.write('PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 30\r\nContent-Length: 0\r\n\r\n')
  while (!/\r\n\r\n[^\r\n]+\.[^\r\n]+$/.test(out)) await new Promise(resolve => relay.stdout.once('data', resolve))
  const tok = out.split('\r\n\r\n')[1]
  out = ''
  relay.stdin.end(`GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: ${tok}\r\n\r\n`)
  t.equal(await exited, 0, `relay exit (stderr: ${err})`)
  t.match(out, /^HTTP\/1\.1 200 OK\r\n/)
  t.equal(out.split('\r\n\r\n')[1], id)
})
