import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { Hypervisor } from '../../plugins/ec2/hypervisor.js'
import { buildSeed } from '../../plugins/ec2/seed.js'
import { skipVmTests, testGuest, vmFixture, waitForConsole } from '../helpers/guest.js'

// The references are independent readers of the image: isoinfo (genisoimage) lists and extracts
// the Joliet tree, blkid reads the label as cloud-init's NoCloud does, and PyYAML's safe_load (what
// cloud-init parses meta-data with) reads the meta-data.

const fixture = vmFixture(t, 'hive-seed-')
const dir = fixture.dir

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl my-key'
const RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 "quoted: comment" # not a yaml comment'

/** A file of the image's Joliet tree, as isoinfo extracts it. */
function extract (iso: string, name: string): Buffer {
  return execFileSync('isoinfo', ['-J', '-i', iso, '-x', `/${name}`], { maxBuffer: 64 << 20 })
}

/** The names in the image's Joliet root directory. */
function jolietNames (iso: string): string[] {
  const out = execFileSync('isoinfo', ['-J', '-l', '-i', iso], { encoding: 'utf8' })
  return out.split('\n').flatMap(l => /\]\s+(\S+)\s*$/.exec(l)?.[1] ?? []).filter(n => n !== '.' && n !== '..').sort()
}

function blkid (iso: string): Record<string, string> {
  const out = execFileSync('blkid', ['-o', 'export', '-p', iso], { encoding: 'utf8' })
  return Object.fromEntries(out.trim().split('\n').map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
}

function parseYaml (text: string): unknown {
  const r = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: text, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`PyYAML: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

t.test('seed - an ISO 9660 volume labelled cidata that blkid and isoinfo read', async t => {
  const iso = await buildSeed(join(dir, 'a'), { instanceId: 'i-0a1b2c3d4e5f60718', hostname: 'ip-10-0-2-15', publicKeys: [ED25519] })
  t.equal(iso, join(dir, 'a', 'seed.iso'))
  t.match(blkid(iso), { LABEL: 'cidata', TYPE: 'iso9660' })
  const info = execFileSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' })
  t.match(info, /Volume id: cidata/)
  t.match(info, /Joliet with UCS level 3 found/)
  t.same(jolietNames(iso), ['meta-data', 'user-data'], 'no network-config unless asked for')
})

t.test('seed - meta-data carries instance-id, local-hostname and every key, whatever their comments hold', async t => {
  const spec = { instanceId: 'i-0123456789abcdef0', hostname: 'web: "one"', publicKeys: [ED25519, RSA] }
  const iso = await buildSeed(join(dir, 'b'), spec)
  t.same(parseYaml(extract(iso, 'meta-data').toString('utf8')), {
    'instance-id': spec.instanceId,
    'local-hostname': spec.hostname,
    'public-keys': [ED25519, RSA]
  })
  const none = await buildSeed(join(dir, 'b2'), { instanceId: 'i-1', hostname: 'h', publicKeys: [] })
  t.same(parseYaml(extract(none, 'meta-data').toString('utf8')), { 'instance-id': 'i-1', 'local-hostname': 'h' }, 'no key: no public-keys')
})

t.test('seed - user-data is the user\'s bytes verbatim: binary, gzip, larger than a sector', async t => {
  const cases: Array<[string, Buffer]> = [
    ['every byte value', Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256))],
    ['gzip', gzipSync('#!/bin/sh\necho hello from user-data\n')],
    ['16 KiB (the EC2 limit), spanning sectors', randomBytes(16 * 1024)],
    ['exactly one sector', randomBytes(2048)],
    ['empty', Buffer.alloc(0)]
  ]
  for (const [what, userData] of cases) {
    const iso = await buildSeed(join(dir, 'c'), { instanceId: 'i-1', hostname: 'h', publicKeys: [ED25519], userData, networkConfig: 'version: 2\n' })
    t.same(extract(iso, 'user-data'), userData, what)
    t.equal(extract(iso, 'network-config').toString(), 'version: 2\n', `${what}: the file after it is intact`)
  }
})

t.test('seed - without user data, a #cloud-config that sets nothing', async t => {
  const iso = await buildSeed(join(dir, 'd'), { instanceId: 'i-1', hostname: 'h', publicKeys: [] })
  const userData = extract(iso, 'user-data').toString('utf8')
  t.match(userData, /^#cloud-config\n/)
  t.same(parseYaml(userData), {})
})

t.test('seed - network-config is written when given', async t => {
  const networkConfig = 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n'
  const iso = await buildSeed(join(dir, 'e'), { instanceId: 'i-1', hostname: 'h', publicKeys: [], networkConfig })
  t.same(jolietNames(iso), ['meta-data', 'network-config', 'user-data'])
  t.equal(extract(iso, 'network-config').toString('utf8'), networkConfig)
})

t.test('seed - a rebuilt seed replaces the old one', async t => {
  await buildSeed(join(dir, 'f'), { instanceId: 'i-1', hostname: 'old', publicKeys: [], userData: randomBytes(8000) })
  const iso = await buildSeed(join(dir, 'f'), { instanceId: 'i-1', hostname: 'new', publicKeys: [], userData: Buffer.from('x') })
  t.match(extract(iso, 'meta-data').toString(), /local-hostname: "new"/)
  t.equal(extract(iso, 'user-data').toString(), 'x')
})

t.test('seed - the test guest mounts the seed and prints its files', { skip: skipVmTests }, async t => {
  const guest = testGuest()
  const root = await fixture.volume('vol-root', 16 << 20)
  const userData = '#!/bin/sh\necho user-data-marker\n'
  const seedIso = await buildSeed(join(dir, 'vm'), { instanceId: 'i-0seedboot', hostname: 'ip-10-0-2-15', publicKeys: [ED25519], userData: Buffer.from(userData) })
  const spec = fixture.spec('i-0seedboot', root, { seedIso, kernel: { path: guest.kernel, initrd: guest.initrd, cmdline: guest.cmdline } })
  const serialLog = spec.serialLog
  const vm = await new Hypervisor({ accel: 'tcg' }).start(spec)
  fixture.vms.push(vm)
  await waitForConsole(serialLog, /^HIVE-SEED-END user-data/)
  const log = readFileSync(serialLog, 'utf8').replace(/\r/g, '')
  const file = (name: string): string => new RegExp(`HIVE-SEED-BEGIN ${name}\n([\\s\\S]*?)\nHIVE-SEED-END ${name}`).exec(log)?.[1] ?? ''
  t.equal(file('meta-data'), `instance-id: "i-0seedboot"\nlocal-hostname: "ip-10-0-2-15"\npublic-keys:\n  - "${ED25519}"\n`)
  t.equal(file('user-data'), userData)
  await vm.stop({ force: true })
})
