import {
  CreateKeyPairCommand, DeleteKeyPairCommand, DescribeKeyPairsCommand, EC2Client, ImportKeyPairCommand
} from '@aws-sdk/client-ec2'
import { spawnSync } from 'node:child_process'
import { createHash, createHmac, createPrivateKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { aws, sdkConfig, startNode, type CliResult } from '../helpers/node.js'

// ssh-keygen and openssl are the independent references: every fingerprint and key format Hive
// produces is checked against what they compute from the same key.

/** Runs a shell pipeline; its stdout, or the test fails with its stderr. */
function sh (script: string): string {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`)
  return r.stdout.trim()
}

/** `xx:yy:…` from openssl's `SHA1(stdin)= xx:yy:…` (or MD5). */
const opensslDigest = (out: string): string => out.replace(/^.*= /, '')

/** The base64 after `SHA256:` in `ssh-keygen -l -E sha256` output. */
const sshKeygenSha256 = (out: string): string => /SHA256:(\S+)/.exec(out)?.[1] ?? ''

/** The type and base64 blob of an OpenSSH public key line, without its comment. */
const keyOf = (line: string): string => line.split(' ').slice(0, 2).join(' ')

function ok (t: Test, r: CliResult): any {
  t.equal(r.status, 0, r.stderr)
  return r.json
}

function fails (t: Test, r: CliResult, code: string, message?: string): void {
  t.not(r.status, 0, 'fails')
  t.match(r.stderr, `(${code})`)
  if (message !== undefined) t.match(r.stderr, message)
}

/** A PPK file's fields: headers, and the base64 sections decoded. */
function parsePpk (text: string): { headers: Record<string, string>, publicBlob: Buffer, privateBlob: Buffer, lines: string[] } {
  const lines = text.split('\n')
  const headers: Record<string, string> = {}
  let publicBlob = Buffer.alloc(0)
  let privateBlob = Buffer.alloc(0)
  for (let i = 0; i < lines.length; i++) {
    const m = /^([A-Za-z0-9-]+): (.*)$/.exec(lines[i])
    if (m === null) continue
    headers[m[1]] = m[2]
    if (m[1] === 'Public-Lines' || m[1] === 'Private-Lines') {
      const n = Number(m[2])
      const data = Buffer.from(lines.slice(i + 1, i + 1 + n).join(''), 'base64')
      if (m[1] === 'Public-Lines') publicBlob = data
      else privateBlob = data
      i += n
    }
  }
  return { headers, publicBlob, privateBlob, lines }
}

/** SSH wire fields (uint32-length-prefixed) of a blob, in order. */
function sshFields (blob: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < blob.length;) {
    const n = blob.readUInt32BE(at)
    out.push(blob.subarray(at + 4, at + 4 + n))
    at += 4 + n
  }
  return out
}

const big = (b: Buffer): bigint => b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`)

/** PuTTY's v2 MAC, as PuTTY's sshpubk.c computes it for an unencrypted key. */
function ppkMac (algorithm: string, comment: string, publicBlob: Buffer, privateBlob: Buffer): string {
  const str = (b: Buffer | string): Buffer => {
    const data = Buffer.from(b)
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    return Buffer.concat([len, data])
  }
  const key = createHash('sha1').update('putty-private-key-file-mac-key').digest()
  return createHmac('sha1', key).update(Buffer.concat([str(algorithm), str('none'), str(comment), str(publicBlob), str(privateBlob)])).digest('hex')
}

t.test('through a real node', async t => {
  const node = await startNode({ caps: ['ec2'] })
  const dir = mkdtempSync(join(tmpdir(), 'hive-keypairs-'))
  const ec2 = new EC2Client(sdkConfig(node))
  t.teardown(async () => {
    ec2.destroy()
    rmSync(dir, { recursive: true, force: true })
    await node.stop()
  })

  /** Writes a private key where ssh-keygen will read it (it refuses keys others can read). */
  const saveKey = (name: string, material: string): string => {
    const path = join(dir, name)
    writeFileSync(path, material.endsWith('\n') ? material : material + '\n', { mode: 0o600 })
    return path
  }

  const describe = (...args: string[]): any[] => {
    const r = aws(node, ['ec2', 'describe-key-pairs', ...args])
    if (r.status !== 0) throw new Error(r.stderr)
    return r.json?.KeyPairs ?? []
  }

  t.test('create-key-pair rsa pem - a 2048-bit PKCS#1 key; fingerprint = SHA-1 of its DER PKCS#8', async t => {
    const out = ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'rsa-pem']))
    t.match(out.KeyPairId, /^key-[0-9a-f]{17}$/)
    t.equal(out.KeyName, 'rsa-pem')
    t.match(out.KeyMaterial, /^-----BEGIN RSA PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END RSA PRIVATE KEY-----$/)
    t.notOk('Tags' in out, 'no Tags when none were given')
    const file = saveKey('rsa-pem.pem', out.KeyMaterial)
    t.equal(sh(`openssl rsa -in ${file} -check -noout`), 'RSA key ok')
    t.match(sh(`openssl rsa -in ${file} -text -noout | head -1`), 'Private-Key: (2048 bit')
    const expected = opensslDigest(sh(`openssl pkcs8 -topk8 -nocrypt -in ${file} -outform DER | openssl sha1 -c`))
    t.match(expected, /^([0-9a-f]{2}:){19}[0-9a-f]{2}$/)
    t.equal(out.KeyFingerprint, expected)

    const [info] = describe('--key-names', 'rsa-pem', '--include-public-key')
    t.match(info, { KeyPairId: out.KeyPairId, KeyName: 'rsa-pem', KeyType: 'rsa', KeyFingerprint: expected, Tags: [] })
    t.ok(Date.parse(info.CreateTime) > Date.now() - 600_000, 'CreateTime is now')
    t.equal(keyOf(info.PublicKey), keyOf(sh(`ssh-keygen -y -f ${file}`)), 'the public key is the private key\'s')
    t.equal(info.PublicKey.split(' ')[2], 'rsa-pem', 'commented with the key name')
    t.notOk('PublicKey' in describe('--key-names', 'rsa-pem')[0], 'PublicKey only when asked')
  })

  t.test('create-key-pair ed25519 pem - an OpenSSH private key ssh-keygen reads; fingerprint = its SHA256 with padding', async t => {
    const out = ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'ed-pem', '--key-type', 'ed25519']))
    t.match(out.KeyMaterial, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----$/)
    t.ok(out.KeyMaterial.split('\n').slice(1, -1).every((l: string) => l.length <= 70), 'base64 lines of at most 70 characters')
    const file = saveKey('ed-pem', out.KeyMaterial)
    const derived = sh(`ssh-keygen -y -f ${file}`)
    t.match(derived, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI/)
    const [info] = describe('--key-names', 'ed-pem', '--include-public-key')
    t.equal(info.KeyType, 'ed25519')
    t.equal(keyOf(info.PublicKey), keyOf(derived))
    const reference = sshKeygenSha256(sh(`ssh-keygen -l -E sha256 -f ${file}`))
    t.equal(reference.length, 43, 'ssh-keygen leaves the padding off')
    t.equal(out.KeyFingerprint, `${reference}=`)
    t.equal(info.KeyFingerprint, out.KeyFingerprint)
    // The key signs, and the signature verifies with the public key EC2 shows.
    writeFileSync(join(dir, 'allowed'), `hive ${keyOf(info.PublicKey)}\n`)
    writeFileSync(join(dir, 'message'), 'hello')
    sh(`ssh-keygen -Y sign -f ${file} -n test ${join(dir, 'message')}`)
    t.match(sh(`ssh-keygen -Y verify -f ${join(dir, 'allowed')} -I hive -n test -s ${join(dir, 'message.sig')} < ${join(dir, 'message')}`), 'Good "test" signature for hive')
  })

  t.test('create-key-pair --key-format ppk rsa - PuTTY-User-Key-File-2 whose MAC and fields check out', async t => {
    const out = ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'rsa-ppk', '--key-format', 'ppk']))
    const ppk = parsePpk(out.KeyMaterial)
    t.same(ppk.lines.slice(0, 3), ['PuTTY-User-Key-File-2: ssh-rsa', 'Encryption: none', 'Comment: imported-openssh-key'])
    t.equal(ppk.headers['Private-MAC'], ppkMac('ssh-rsa', 'imported-openssh-key', ppk.publicBlob, ppk.privateBlob), 'the MAC verifies')
    const [type, e, n] = sshFields(ppk.publicBlob)
    const [d, p, q, iqmp] = sshFields(ppk.privateBlob).map(big)
    t.equal(type.toString(), 'ssh-rsa')
    t.equal(big(e), 65537n)
    t.equal(p * q, big(n), 'n = p·q')
    t.equal((iqmp * q) % p, 1n, 'iqmp = q⁻¹ mod p')
    t.equal((d * big(e)) % ((p - 1n) * (q - 1n) / gcd(p - 1n, q - 1n)), 1n, 'd·e ≡ 1 mod λ(n)')
    const [info] = describe('--key-names', 'rsa-ppk', '--include-public-key')
    t.equal(info.PublicKey.split(' ')[1], ppk.publicBlob.toString('base64'))
    // The fingerprint is still that of the DER PKCS#8 private key: rebuild it from the PuTTY fields.
    const jwk = (x: bigint): string => Buffer.from(x.toString(16).padStart(2 * Math.ceil(x.toString(16).length / 2), '0'), 'hex').toString('base64url')
    const key = createPrivateKey({
      key: { kty: 'RSA', n: jwk(big(n)), e: jwk(big(e)), d: jwk(d), p: jwk(p), q: jwk(q), dp: jwk(d % (p - 1n)), dq: jwk(d % (q - 1n)), qi: jwk(iqmp) },
      format: 'jwk'
    })
    const file = saveKey('rsa-ppk.pem', key.export({ type: 'pkcs1', format: 'pem' }) as string)
    t.equal(out.KeyFingerprint, opensslDigest(sh(`openssl pkcs8 -topk8 -nocrypt -in ${file} -outform DER | openssl sha1 -c`)))
  })

  t.test('create-key-pair --key-format ppk ed25519 - the private seed gives the public key shown', async t => {
    const out = ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'ed-ppk', '--key-type', 'ed25519', '--key-format', 'ppk']))
    const ppk = parsePpk(out.KeyMaterial)
    t.equal(ppk.lines[0], 'PuTTY-User-Key-File-2: ssh-ed25519')
    t.equal(ppk.headers['Private-MAC'], ppkMac('ssh-ed25519', 'imported-openssh-key', ppk.publicBlob, ppk.privateBlob))
    const [, publicKey] = sshFields(ppk.publicBlob)
    const [exponent] = sshFields(ppk.privateBlob)
    // PuTTY stores the seed as a little-endian integer in an mpint.
    const seed = Buffer.from(big(exponent).toString(16).padStart(64, '0'), 'hex').reverse()
    const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' })
    t.equal(key.export({ format: 'jwk' }).x, publicKey.toString('base64url'))
    const [info] = describe('--key-names', 'ed-ppk', '--include-public-key')
    t.equal(info.PublicKey.split(' ')[1], ppk.publicBlob.toString('base64'))
    t.equal(info.KeyFingerprint, createHash('sha256').update(ppk.publicBlob).digest('base64'))
  })

  t.test('import-key-pair rsa - fingerprint = MD5 of the DER public key, in every format EC2 takes', async t => {
    const key = join(dir, 'id_rsa')
    sh(`ssh-keygen -q -t rsa -b 3072 -N '' -C me@laptop -f ${key}`)
    const expected = opensslDigest(sh(`ssh-keygen -e -m PKCS8 -f ${key}.pub | openssl pkey -pubin -outform DER | openssl md5 -c`))
    t.match(expected, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/)
    const out = ok(t, aws(node, ['ec2', 'import-key-pair', '--key-name', 'imported-rsa', '--public-key-material', `fileb://${key}.pub`]))
    t.match(out, { KeyName: 'imported-rsa', KeyFingerprint: expected, KeyPairId: /^key-[0-9a-f]{17}$/ })
    t.notOk('KeyMaterial' in out)
    const [info] = describe('--key-names', 'imported-rsa', '--include-public-key')
    t.match(info, { KeyType: 'rsa', KeyFingerprint: expected })
    t.equal(keyOf(info.PublicKey), keyOf(readFileSync(`${key}.pub`, 'utf8').trim()))

    writeFileSync(`${key}.rfc4716`, sh(`ssh-keygen -e -f ${key}.pub`))
    writeFileSync(`${key}.pkcs8.pem`, sh(`ssh-keygen -e -m PKCS8 -f ${key}.pub`))
    writeFileSync(`${key}.pkcs1.pem`, sh(`ssh-keygen -e -m PEM -f ${key}.pub`))
    writeFileSync(`${key}.der.b64`, sh(`openssl pkey -pubin -in ${key}.pkcs8.pem -outform DER | base64 -w0`))
    for (const format of ['rfc4716', 'pkcs8.pem', 'pkcs1.pem', 'der.b64']) {
      const r = ok(t, aws(node, ['ec2', 'import-key-pair', '--key-name', `imported-rsa-${format}`, '--public-key-material', `fileb://${key}.${format}`]))
      t.equal(r?.KeyFingerprint, expected, `${format}: the same fingerprint`)
    }
    t.equal(keyOf(describe('--key-names', 'imported-rsa-rfc4716', '--include-public-key')[0].PublicKey), keyOf(info.PublicKey), 'stored in OpenSSH form')
  })

  t.test('import-key-pair ed25519 - fingerprint = ssh-keygen\'s SHA256, padded', async t => {
    const key = join(dir, 'id_ed25519')
    sh(`ssh-keygen -q -t ed25519 -N '' -C me@laptop -f ${key}`)
    const out = ok(t, aws(node, ['ec2', 'import-key-pair', '--key-name', 'imported-ed', '--public-key-material', `fileb://${key}.pub`]))
    t.equal(out.KeyFingerprint, `${sshKeygenSha256(sh(`ssh-keygen -l -E sha256 -f ${key}.pub`))}=`)
    const [info] = describe('--key-names', 'imported-ed', '--include-public-key')
    t.equal(info.KeyType, 'ed25519')
    t.equal(info.PublicKey, `${keyOf(readFileSync(`${key}.pub`, 'utf8').trim())} imported-ed`)
  })

  t.test('import-key-pair - material EC2 does not take → InvalidKey.Format', async t => {
    const ecdsa = join(dir, 'id_ecdsa')
    sh(`ssh-keygen -q -t ecdsa -N '' -f ${ecdsa}`)
    writeFileSync(join(dir, 'garbage'), 'ssh-rsa not-base64!')
    writeFileSync(join(dir, 'truncated'), readFileSync(join(dir, 'id_ed25519.pub'), 'utf8').slice(0, 40))
    writeFileSync(join(dir, 'mislabelled'), readFileSync(join(dir, 'id_ed25519.pub'), 'utf8').replace('ssh-ed25519', 'ssh-rsa'))
    writeFileSync(join(dir, 'private'), readFileSync(join(dir, 'rsa-pem.pem')))
    // ssh-keygen will not make an RSA key under 1024 bits; openssl will.
    writeFileSync(join(dir, 'small'), sh('openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:768 2>/dev/null | openssl pkey -pubout'))
    for (const file of [`${ecdsa}.pub`, join(dir, 'garbage'), join(dir, 'truncated'), join(dir, 'mislabelled'), join(dir, 'private'), join(dir, 'small')]) {
      fails(t, aws(node, ['ec2', 'import-key-pair', '--key-name', 'bad', '--public-key-material', `fileb://${file}`]), 'InvalidKey.Format',
        'Key is not in valid OpenSSH public key format')
    }
    t.same(describe('--filters', 'Name=key-name,Values=bad'), [], 'nothing stored')
  })

  t.test('duplicates - create or import under a taken name → InvalidKeyPair.Duplicate', async t => {
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'rsa-pem']), 'InvalidKeyPair.Duplicate', "The keypair 'rsa-pem' already exists.")
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'imported-ed', '--key-type', 'ed25519']), 'InvalidKeyPair.Duplicate')
    fails(t, aws(node, ['ec2', 'import-key-pair', '--key-name', 'ed-pem', '--public-key-material', `fileb://${join(dir, 'id_ed25519.pub')}`]), 'InvalidKeyPair.Duplicate')
  })

  t.test('not found - describe of a missing name or id → InvalidKeyPair.NotFound', async t => {
    fails(t, aws(node, ['ec2', 'describe-key-pairs', '--key-names', 'rsa-pem', 'nope']), 'InvalidKeyPair.NotFound', "The key pair 'nope' does not exist")
    fails(t, aws(node, ['ec2', 'describe-key-pairs', '--key-pair-ids', 'key-0123456789abcdef0']), 'InvalidKeyPair.NotFound', "The key pair ID 'key-0123456789abcdef0' does not exist")
  })

  t.test('bad requests - names, types, formats and tag specifications', async t => {
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'x'.repeat(256)]), 'InvalidParameterValue', 'Length exceeds maximum of 255 characters')
    t.equal(ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'y'.repeat(255), '--key-type', 'ed25519']))?.KeyName.length, 255)
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', ' padded']), 'InvalidParameterValue')
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'clé']), 'InvalidParameterValue', 'Character sets beyond ASCII are not supported')
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'k', '--key-type', 'dsa']), 'InvalidParameterValue', 'Value (dsa) for parameter KeyType is invalid')
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'k', '--key-format', 'der']), 'InvalidParameterValue', 'Value (der) for parameter KeyFormat is invalid')
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'k', '--tag-specifications', 'ResourceType=instance,Tags=[{Key=a,Value=b}]']),
      'InvalidParameterValue', "'instance' is not a valid taggable resource type")
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'k', '--tag-specifications', 'ResourceType=key-pair,Tags=[{Key=aws:x,Value=b}]']), 'InvalidParameterValue')
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', '']), 'MissingParameter', 'The request must contain the parameter KeyName')
    fails(t, aws(node, ['ec2', 'delete-key-pair']), 'MissingParameter')
    fails(t, aws(node, ['ec2', 'describe-key-pairs', '--filters', 'Name=bogus,Values=x']), 'InvalidParameterValue', "The filter 'bogus' is invalid")
    t.same(describe('--filters', 'Name=key-name,Values=k'), [], 'no failed request left a key pair')
  })

  t.test('--dry-run - DryRunOperation, and nothing created', async t => {
    fails(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'dry', '--dry-run']), 'DryRunOperation')
    fails(t, aws(node, ['ec2', 'describe-key-pairs', '--dry-run']), 'DryRunOperation')
    t.same(describe('--filters', 'Name=key-name,Values=dry'), [])
  })

  t.test('describe-key-pairs - filters on id, name, fingerprint, type and tags', async t => {
    const blue = ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'team-blue', '--key-type', 'ed25519',
      '--tag-specifications', 'ResourceType=key-pair,Tags=[{Key=team,Value=blue},{Key=env,Value=prod}]']))
    t.same(blue.Tags, [{ Key: 'team', Value: 'blue' }, { Key: 'env', Value: 'prod' }])
    const red = ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'team-red', '--tag-specifications', 'ResourceType=key-pair,Tags=[{Key=team,Value=red}]']))
    const names = (...filters: string[]): string[] => describe('--filters', ...filters).map(k => k.KeyName)
    t.same(names('Name=key-name,Values=team-*'), ['team-blue', 'team-red'], 'sorted by name')
    t.same(names('Name=tag:team,Values=blue'), ['team-blue'])
    t.same(names('Name=tag-key,Values=env'), ['team-blue'])
    t.same(names('Name=tag-value,Values=red'), ['team-red'])
    t.same(names('Name=key-pair-id,Values=' + red.KeyPairId), ['team-red'])
    t.same(names('Name=fingerprint,Values=' + blue.KeyFingerprint), ['team-blue'])
    t.same(names('Name=key-name,Values=team-*', 'Name=key-type,Values=rsa'), ['team-red'])
    t.same(names('Name=key-name,Values=team-*', 'Name=tag:team,Values=green'), [])
    t.same(describe('--key-pair-ids', blue.KeyPairId, red.KeyPairId).map(k => k.KeyName), ['team-blue', 'team-red'])
    t.same(describe('--key-names', 'team-red').map(k => k.Tags), [[{ Key: 'team', Value: 'red' }]])
    const all = describe().map(k => k.KeyName)
    t.ok(all.includes('rsa-pem') && all.includes('imported-ed') && all.includes('team-red'), 'no selection: every key pair')
  })

  t.test('delete-key-pair - by name and by id; a missing key pair deletes quietly', async t => {
    // The CLI's model, like the one Hive serves, gives DeleteKeyPair no output: success is exit 0.
    ok(t, aws(node, ['ec2', 'delete-key-pair', '--key-name', 'team-blue']))
    const red = describe('--key-names', 'team-red')[0]
    ok(t, aws(node, ['ec2', 'delete-key-pair', '--key-pair-id', red.KeyPairId]))
    t.same(describe('--filters', 'Name=key-name,Values=team-*'), [])
    fails(t, aws(node, ['ec2', 'describe-key-pairs', '--key-names', 'team-blue']), 'InvalidKeyPair.NotFound')
    ok(t, aws(node, ['ec2', 'delete-key-pair', '--key-name', 'team-blue']))
    ok(t, aws(node, ['ec2', 'delete-key-pair', '--key-pair-id', 'key-0123456789abcdef0']))
    // The name is free again.
    ok(t, aws(node, ['ec2', 'create-key-pair', '--key-name', 'team-blue', '--key-type', 'ed25519']))
  })

  t.test('sdk - create, import, describe and delete', async t => {
    const created = await ec2.send(new CreateKeyPairCommand({ KeyName: 'sdk-ed', KeyType: 'ed25519', KeyFormat: 'ppk', TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: 'by', Value: 'sdk' }] }] }))
    t.match(created, { KeyName: 'sdk-ed', KeyPairId: /^key-/, KeyMaterial: /^PuTTY-User-Key-File-2: ssh-ed25519\n/, Tags: [{ Key: 'by', Value: 'sdk' }] })
    const imported = await ec2.send(new ImportKeyPairCommand({ KeyName: 'sdk-imported', PublicKeyMaterial: readFileSync(join(dir, 'id_rsa.pub')) }))
    t.equal(imported.KeyFingerprint, opensslDigest(sh(`ssh-keygen -e -m PKCS8 -f ${join(dir, 'id_rsa.pub')} | openssl pkey -pubin -outform DER | openssl md5 -c`)))
    const described = await ec2.send(new DescribeKeyPairsCommand({ KeyPairIds: [created.KeyPairId ?? ''], IncludePublicKey: true }))
    t.match(described.KeyPairs, [{ KeyName: 'sdk-ed', KeyType: 'ed25519', KeyFingerprint: created.KeyFingerprint, PublicKey: /^ssh-ed25519 \S+ sdk-ed$/, Tags: [{ Key: 'by', Value: 'sdk' }] }])
    t.type(described.KeyPairs?.[0].CreateTime, Date)
    await t.rejects(ec2.send(new CreateKeyPairCommand({ KeyName: 'sdk-ed' })), { name: 'InvalidKeyPair.Duplicate' })
    await t.rejects(ec2.send(new ImportKeyPairCommand({ KeyName: 'sdk-bad', PublicKeyMaterial: Buffer.from('nonsense') })), { name: 'InvalidKey.Format' })
    await t.rejects(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['sdk-missing'] })), { name: 'InvalidKeyPair.NotFound' })
    await t.rejects(ec2.send(new CreateKeyPairCommand({ KeyName: 'sdk-dry', DryRun: true })), { name: 'DryRunOperation' })
    t.match(await ec2.send(new DeleteKeyPairCommand({ KeyName: 'sdk-imported' })), { Return: true })
    await ec2.send(new DeleteKeyPairCommand({ KeyPairId: created.KeyPairId }))
    t.same((await ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: ['sdk-*'] }] }))).KeyPairs, [])
  })

  t.test('sdk - of concurrent creates and imports of one name, exactly one wins', async t => {
    const material = readFileSync(join(dir, 'id_ed25519.pub'))
    const results = await Promise.allSettled([
      ...Array.from({ length: 4 }, async () => await ec2.send(new CreateKeyPairCommand({ KeyName: 'contended', KeyType: 'ed25519' }))),
      ...Array.from({ length: 4 }, async () => await ec2.send(new ImportKeyPairCommand({ KeyName: 'contended', PublicKeyMaterial: material })))
    ])
    const won = results.filter(r => r.status === 'fulfilled')
    t.equal(won.length, 1)
    t.ok(results.every(r => r.status === 'fulfilled' || (r.reason as Error).name === 'InvalidKeyPair.Duplicate'), 'the others are duplicates')
    const kept = (await ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['contended'] }))).KeyPairs ?? []
    t.equal(kept.length, 1)
    t.equal(kept[0].KeyPairId, (won[0] as PromiseFulfilledResult<{ KeyPairId?: string }>).value.KeyPairId)
  })
})

function gcd (a: bigint, b: bigint): bigint {
  return b === 0n ? a : gcd(b, a % b)
}
