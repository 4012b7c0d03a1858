/**
 * Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs and DeleteKeyPair, and publicKeyOf for
 * the instances that launch with a key. Like EC2, Hive keeps only the public half: a created key's
 * private half is handed back once and forgotten.
 *
 *   hive_ec2_key_pairs  <accountId>.<base64url(KeyName)> → KeyPairRecord. Key names are free ASCII
 *                       and KV keys are not, hence the encoding. One entry per name, written with
 *                       create(): of two requests for one name (create or import) only one wins.
 *
 * Fingerprints are computed as EC2 computes them (EC2 User Guide, verify-keys, "How the fingerprints are calculated"):
 *   created RSA     SHA-1 of the private key as DER PKCS#8, colon-separated hex
 *   imported RSA    MD5 of the public key as DER SubjectPublicKeyInfo, colon-separated hex (RFC 4716 §4)
 *   ED25519         SHA-256 of the OpenSSH public key blob, base64 with its '=' padding (which
 *                   ssh-keygen leaves off), however the key came
 */
import { createHash, createHmac, createPublicKey, generateKeyPair, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import {
  CoreErrors, kvBucketName, matchFilters, RevisionConflict, serveTaggedResources, tagsForResource, TagStore,
  type ActionHandler, type ActionSpec, type Bucket, type Filter, type FilterFields, type Hive, type KvStore, type Tag, type TagSpecification
} from '../../core/index.js'
import { Ec2Errors } from './errors.js'

export type KeyType = 'rsa' | 'ed25519'
type KeyFormat = 'pem' | 'ppk'

export interface KeyPairRecord {
  keyPairId: string
  keyName: string
  keyType: KeyType
  /** Computed once, by the rule for how the key came (created or imported). */
  fingerprint: string
  /** The authorized_keys line `<type> <base64 blob> <KeyName>`: what a guest is given. */
  publicKey: string
  /** ISO-8601. */
  createTime: string
}

interface CreateKeyPairInput {
  KeyName?: string
  KeyType?: string
  KeyFormat?: string
  TagSpecifications?: TagSpecification[]
}

interface ImportKeyPairInput {
  KeyName?: string
  PublicKeyMaterial?: Buffer
  TagSpecifications?: TagSpecification[]
}

interface DescribeKeyPairsInput {
  KeyNames?: string[]
  KeyPairIds?: string[]
  Filters?: Filter[]
  IncludePublicKey?: boolean
}

interface DeleteKeyPairInput {
  KeyName?: string
  KeyPairId?: string
}

export const KEY_PAIR_ACTIONS: Record<string, ActionSpec> = {
  CreateKeyPair: {
    note: '2048-bit RSA (PKCS#1 PEM) or ED25519 (OpenSSH private key format) keys, or either as a PuTTY-User-Key-File-2 (ppk), with EC2\'s fingerprints. The private key is not kept.'
  },
  ImportKeyPair: {
    note: 'OpenSSH public keys (ssh-rsa, ssh-ed25519); for RSA also RFC 4716 and base64 DER or PEM (SubjectPublicKeyInfo or PKCS#1). RSA keys of 1024 to 16384 bits, the sizes OpenSSH accepts.'
  },
  DescribeKeyPairs: {
    note: 'Filters key-pair-id, key-name, fingerprint, tag:, tag-key and tag-value, and also key-type. PublicKey is the OpenSSH line with the key name as its comment.'
  },
  DeleteKeyPair: {
    note: 'Deleting a key pair that does not exist succeeds, as on AWS. The answer is Return true without KeyPairId: the EC2 model Hive serves has no DeleteKeyPairResult.'
  }
}

const KEY_TYPES: KeyType[] = ['rsa', 'ed25519']
const KEY_FORMATS: KeyFormat[] = ['pem', 'ppk']

const KEY_PAIR_FILTERS: FilterFields<KeyPairRecord> = {
  fingerprint: k => k.fingerprint,
  'key-name': k => k.keyName,
  'key-pair-id': k => k.keyPairId,
  'key-type': k => k.keyType
}

async function keyPairs (kv: KvStore): Promise<Bucket<KeyPairRecord>> {
  return await kv.bucket<KeyPairRecord>(kvBucketName('ec2', 'key_pairs'))
}

const entryKey = (accountId: string, keyName: string): string => `${accountId}.${Buffer.from(keyName).toString('base64url')}`

const newKeyPairId = (): string => `key-${randomBytes(9).toString('hex').slice(0, 17)}`

/** Answers CreateTags and DeleteTags whether the account has a key pair (ids `key-…`). */
export function serveKeyPairTags (hive: Pick<Hive, 'bus' | 'kv'>): void {
  serveTaggedResources(hive.bus, {
    key: async (accountId, keyPairId) => (await (await keyPairs(hive.kv)).list(accountId)).some(e => e.value.keyPairId === keyPairId)
  })
}

/**
 * The OpenSSH public key line of the account's key pair, for an instance launched with it;
 * InvalidKeyPair.NotFound when the account has no key pair of that name.
 */
export async function publicKeyOf (kv: KvStore, accountId: string, keyName: string): Promise<string> {
  const record = (await (await keyPairs(kv)).get(entryKey(accountId, keyName)))?.value
  if (record === undefined) throw Ec2Errors.keyPairNotFound(keyName)
  return record.publicKey
}

export function keyPairHandlers (kv: KvStore): Record<string, ActionHandler> {
  const tagStore = new TagStore(kv)
  /** Stores a new key pair; InvalidKeyPair.Duplicate when the name is taken, whoever took it first. */
  const store = async (accountId: string, record: KeyPairRecord): Promise<void> => {
    if (await (await keyPairs(kv)).create(entryKey(accountId, record.keyName), record) === undefined) {
      throw Ec2Errors.keyPairDuplicate(record.keyName)
    }
  }
  // Fails fast, before the work of making a key, in the usual case of a name taken long ago.
  const checkFree = async (accountId: string, keyName: string): Promise<void> => {
    if (await (await keyPairs(kv)).get(entryKey(accountId, keyName)) !== undefined) throw Ec2Errors.keyPairDuplicate(keyName)
  }

  return {
    CreateKeyPair: async (raw, ctx) => {
      const input = raw as CreateKeyPairInput
      const keyName = checkKeyName(input.KeyName)
      const keyType = oneOf(input.KeyType ?? 'rsa', KEY_TYPES, 'KeyType')
      const keyFormat = oneOf(input.KeyFormat ?? 'pem', KEY_FORMATS, 'KeyFormat')
      const tags = tagsForResource(input.TagSpecifications, 'key-pair')
      await checkFree(ctx.accountId, keyName)
      const made = keyType === 'rsa' ? await makeRsa(keyFormat) : await makeEd25519(keyFormat)
      const record: KeyPairRecord = {
        keyPairId: newKeyPairId(),
        keyName,
        keyType,
        fingerprint: made.fingerprint,
        publicKey: authorizedKey(made.blob, keyName),
        createTime: new Date().toISOString()
      }
      await store(ctx.accountId, record)
      await tagStore.put(ctx.accountId, record.keyPairId, tags)
      return {
        KeyFingerprint: record.fingerprint,
        KeyMaterial: made.material,
        KeyName: keyName,
        KeyPairId: record.keyPairId,
        ...(tags.length > 0 ? { Tags: tags } : {})
      }
    },

    ImportKeyPair: async (raw, ctx) => {
      const input = raw as ImportKeyPairInput
      const keyName = checkKeyName(input.KeyName)
      if (input.PublicKeyMaterial === undefined || input.PublicKeyMaterial.length === 0) throw CoreErrors.missingParameter('PublicKeyMaterial')
      const key = parsePublicKey(input.PublicKeyMaterial)
      const tags = tagsForResource(input.TagSpecifications, 'key-pair')
      const record: KeyPairRecord = {
        keyPairId: newKeyPairId(),
        keyName,
        keyType: key.keyType,
        fingerprint: key.fingerprint,
        publicKey: authorizedKey(key.blob, keyName),
        createTime: new Date().toISOString()
      }
      await store(ctx.accountId, record)
      await tagStore.put(ctx.accountId, record.keyPairId, tags)
      return {
        KeyFingerprint: record.fingerprint,
        KeyName: keyName,
        KeyPairId: record.keyPairId,
        ...(tags.length > 0 ? { Tags: tags } : {})
      }
    },

    DescribeKeyPairs: async (raw, ctx) => {
      const input = raw as DescribeKeyPairsInput
      const all = (await (await keyPairs(kv)).list(ctx.accountId)).map(e => e.value)
        .sort((a, b) => a.keyName < b.keyName ? -1 : a.keyName > b.keyName ? 1 : 0)
      const names = input.KeyNames ?? []
      const ids = input.KeyPairIds ?? []
      const missingName = names.find(name => !all.some(k => k.keyName === name))
      if (missingName !== undefined) throw Ec2Errors.keyPairNotFound(missingName)
      const missingId = ids.find(id => !all.some(k => k.keyPairId === id))
      if (missingId !== undefined) throw Ec2Errors.keyPairIdNotFound(missingId)
      const selected = all.filter(k => (names.length === 0 || names.includes(k.keyName)) && (ids.length === 0 || ids.includes(k.keyPairId)))
      const tags = await tagStore.getMany(ctx.accountId, selected.map(k => k.keyPairId))
      const tagsOf = (k: KeyPairRecord): Tag[] => tags.get(k.keyPairId) ?? []
      return {
        KeyPairs: matchFilters(selected, input.Filters, KEY_PAIR_FILTERS, tagsOf).map(k => ({
          KeyPairId: k.keyPairId,
          KeyFingerprint: k.fingerprint,
          KeyName: k.keyName,
          KeyType: k.keyType,
          Tags: tagsOf(k),
          ...(input.IncludePublicKey === true ? { PublicKey: k.publicKey } : {}),
          CreateTime: new Date(k.createTime)
        }))
      }
    },

    DeleteKeyPair: async (raw, ctx) => {
      const input = raw as DeleteKeyPairInput
      if ((input.KeyName ?? '') === '' && (input.KeyPairId ?? '') === '') throw CoreErrors.missingParameter('KeyName or KeyPairId')
      const bucket = await keyPairs(kv)
      const find = async (): Promise<{ key: string, value: KeyPairRecord, revision: number } | undefined> => {
        if (input.KeyPairId !== undefined && input.KeyPairId !== '') {
          return (await bucket.list(ctx.accountId)).find(e => e.value.keyPairId === input.KeyPairId)
        }
        const key = entryKey(ctx.accountId, input.KeyName ?? '')
        const entry = await bucket.get(key)
        return entry === undefined ? undefined : { key, ...entry }
      }
      // Deleting at the revision read: a pair deleted and made again under the same name meanwhile
      // is another key pair, which this request must leave alone.
      for (let attempt = 0; attempt < 50; attempt++) {
        const found = await find()
        if (found === undefined) return { Return: true }
        try {
          await bucket.delete(found.key, found.revision)
          await tagStore.drop(ctx.accountId, found.value.keyPairId)
          return { Return: true, KeyPairId: found.value.keyPairId }
        } catch (e) {
          if (!(e instanceof RevisionConflict)) throw e
        }
      }
      throw CoreErrors.contention(input.KeyPairId ?? input.KeyName ?? '')
    }
  }
}

/** EC2's rule: 1 to 255 ASCII characters, no leading or trailing spaces. */
function checkKeyName (name: string | undefined): string {
  if (name === undefined || name === '') throw CoreErrors.missingParameter('KeyName')
  if (name.length > 255) throw Ec2Errors.invalidKeyName(name, 'Length exceeds maximum of 255 characters.')
  // Printable ASCII only: the name is the comment of the guest's authorized_keys line.
  if (!/^[\x20-\x7e]+$/.test(name)) throw Ec2Errors.invalidKeyName(name, 'Character sets beyond ASCII are not supported.')
  if (name.trim() !== name) throw Ec2Errors.invalidKeyName(name, 'Leading and trailing spaces are not supported.')
  return name
}

function oneOf<T extends string> (value: string, valid: T[], parameter: string): T {
  if (!(valid as string[]).includes(value)) throw Ec2Errors.invalidEnum(parameter, value, valid)
  return value as T
}

// The SSH wire encoding (RFC 4251 §5): uint32 lengths, strings, mpints.

function uint32 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function sshString (data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data
  return Buffer.concat([uint32(b.length), b])
}

/** An unsigned big-endian integer as an mpint: no leading zeros, one zero byte when the top bit is set. */
function mpint (unsigned: Buffer): Buffer {
  let i = 0
  while (i < unsigned.length && unsigned[i] === 0) i++
  const digits = unsigned.subarray(i)
  return sshString(digits.length > 0 && (digits[0] & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), digits]) : digits)
}

class SshReader {
  private at = 0
  constructor (private readonly buf: Buffer) {}

  string (): Buffer {
    if (this.at + 4 > this.buf.length) throw Ec2Errors.keyFormat()
    const n = this.buf.readUInt32BE(this.at)
    if (this.at + 4 + n > this.buf.length) throw Ec2Errors.keyFormat()
    const out = this.buf.subarray(this.at + 4, this.at + 4 + n)
    this.at += 4 + n
    return out
  }

  /** A non-negative mpint, as an unsigned big-endian integer without leading zeros. */
  mpint (): Buffer {
    const b = this.string()
    if (b.length > 0 && (b[0] & 0x80) !== 0) throw Ec2Errors.keyFormat()
    let i = 0
    while (i < b.length && b[i] === 0) i++
    return b.subarray(i)
  }

  get done (): boolean {
    return this.at === this.buf.length
  }
}

const b64url = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url')

function rsaBlob (jwk: JsonWebKey): Buffer {
  return Buffer.concat([sshString('ssh-rsa'), mpint(b64url(jwk.e)), mpint(b64url(jwk.n))])
}

function ed25519Blob (publicKey: Buffer): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(publicKey)])
}

function authorizedKey (blob: Buffer, keyName: string): string {
  return `${new SshReader(blob).string().toString('latin1')} ${blob.toString('base64')} ${keyName}`
}

const colonHex = (digest: Buffer): string => digest.toString('hex').replace(/(..)(?!$)/g, '$1:')

const ed25519Fingerprint = (blob: Buffer): string => createHash('sha256').update(blob).digest('base64')

function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width))
  return lines
}

interface MadeKey {
  blob: Buffer
  fingerprint: string
  material: string
}

const generate = promisify(generateKeyPair)

async function makeRsa (format: KeyFormat): Promise<MadeKey> {
  const { privateKey } = await generate('rsa', { modulusLength: 2048 })
  const jwk = privateKey.export({ format: 'jwk' })
  const blob = rsaBlob(jwk)
  const fingerprint = colonHex(createHash('sha1').update(privateKey.export({ type: 'pkcs8', format: 'der' })).digest())
  // PuTTY's RSA private fields: d, p, q and q⁻¹ mod p (JWK's qi).
  const material = format === 'pem'
    ? (privateKey.export({ type: 'pkcs1', format: 'pem' }) as string).trimEnd()
    : ppk('ssh-rsa', blob, Buffer.concat([mpint(b64url(jwk.d)), mpint(b64url(jwk.p)), mpint(b64url(jwk.q)), mpint(b64url(jwk.qi))]))
  return { blob, fingerprint, material }
}

async function makeEd25519 (format: KeyFormat): Promise<MadeKey> {
  const { privateKey } = await generate('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  const seed = b64url(jwk.d)
  const publicKey = b64url(jwk.x)
  const blob = ed25519Blob(publicKey)
  // OpenSSH keeps the seed and public key together as the 64-byte secret; PuTTY keeps the seed
  // alone, read as a little-endian integer.
  const material = format === 'pem'
    ? openSshPrivateKey(blob, Buffer.concat([sshString('ssh-ed25519'), sshString(publicKey), sshString(Buffer.concat([seed, publicKey]))]))
    : ppk('ssh-ed25519', blob, mpint(Buffer.from(seed).reverse()))
  return { blob, fingerprint: ed25519Fingerprint(blob), material }
}

/**
 * An unencrypted key in OpenSSH's own format (PROTOCOL.key):
 *
 *   "openssh-key-v1\0" string ciphername="none" string kdfname="none" string kdfoptions=""
 *   uint32 keys=1 string publickey string private-section
 *
 * the private section being uint32 checkint twice, the key's private fields, string comment, and
 * padding bytes 1, 2, 3 … to a multiple of 8 (the block size of cipher "none"). Base64 lines are
 * 70 characters, as ssh-keygen writes them.
 */
function openSshPrivateKey (publicBlob: Buffer, privateFields: Buffer): string {
  const check = randomBytes(4)
  const section = Buffer.concat([check, check, privateFields, sshString('')])
  const padding = Buffer.from(Array.from({ length: (8 - section.length % 8) % 8 }, (_, i) => i + 1))
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'), sshString('none'), sshString('none'), sshString(''), uint32(1),
    sshString(publicBlob), sshString(Buffer.concat([section, padding]))
  ])
  return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...wrap(body.toString('base64'), 70), '-----END OPENSSH PRIVATE KEY-----'].join('\n')
}

/** The comment EC2's PuTTY keys carry. */
const PPK_COMMENT = 'imported-openssh-key'

/**
 * An unencrypted PuTTY-User-Key-File-2, the version EC2 hands out: the public blob and the private
 * fields in 64-character base64 lines, and a MAC over both, HMAC-SHA-1 keyed with
 * SHA-1("putty-private-key-file-mac-key") (plus the passphrase, here none) of
 * string algorithm, string encryption, string comment, string public blob, string private blob.
 */
function ppk (algorithm: string, publicBlob: Buffer, privateBlob: Buffer): string {
  const macKey = createHash('sha1').update('putty-private-key-file-mac-key').digest()
  const mac = createHmac('sha1', macKey)
    .update(Buffer.concat([sshString(algorithm), sshString('none'), sshString(PPK_COMMENT), sshString(publicBlob), sshString(privateBlob)]))
    .digest('hex')
  const publicLines = wrap(publicBlob.toString('base64'), 64)
  const privateLines = wrap(privateBlob.toString('base64'), 64)
  return [
    `PuTTY-User-Key-File-2: ${algorithm}`,
    'Encryption: none',
    `Comment: ${PPK_COMMENT}`,
    `Public-Lines: ${publicLines.length}`,
    ...publicLines,
    `Private-Lines: ${privateLines.length}`,
    ...privateLines,
    `Private-MAC: ${mac}`,
    ''
  ].join('\n')
}

interface ParsedKey {
  keyType: KeyType
  blob: Buffer
  fingerprint: string
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function base64 (text: string): Buffer {
  if (!BASE64.test(text)) throw Ec2Errors.keyFormat()
  return Buffer.from(text, 'base64')
}

/** OpenSSH's bounds on RSA moduli. */
const RSA_BITS = { min: 1024, max: 16384 }

/**
 * ImportKeyPair's material, in the formats EC2 takes: an OpenSSH public key line (RSA or ED25519),
 * and for RSA an RFC 4716 "SSH2 PUBLIC KEY" block or DER (SubjectPublicKeyInfo or PKCS#1), as base64,
 * PEM or raw bytes.
 */
function parsePublicKey (material: Buffer): ParsedKey {
  const text = material.toString('latin1').trim()
  const line = /^(ssh-rsa|ssh-ed25519)\s+(\S+)(?:\s.*)?$/s.exec(text)
  if (line !== null) {
    const key = parseBlob(base64(line[2]))
    if (new SshReader(key.blob).string().toString('latin1') !== line[1]) throw Ec2Errors.keyFormat()
    return key
  }
  if (text.startsWith('---- BEGIN SSH2 PUBLIC KEY ----')) {
    const key = parseBlob(base64(rfc4716Body(text)))
    if (key.keyType !== 'rsa') throw Ec2Errors.keyFormat()
    return key
  }
  const pem = /^-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY)-----\s+([A-Za-z0-9+/=\s]+?)\s*-----END \1-----$/.exec(text)
  const der = pem !== null ? base64(pem[2].replace(/\s+/g, '')) : BASE64.test(text) && text !== '' ? Buffer.from(text, 'base64') : material
  return rsaKey(derPublicKey(der))
}

/** The base64 body of an RFC 4716 block: the lines between its markers, less headers and their continuations. */
function rfc4716Body (text: string): string {
  const lines = text.split(/\r?\n/).map(l => l.trim())
  if (lines[lines.length - 1] !== '---- END SSH2 PUBLIC KEY ----') throw Ec2Errors.keyFormat()
  const body: string[] = []
  let continued = false
  for (const l of lines.slice(1, -1)) {
    const header: boolean = continued || l.includes(':')
    continued = header && l.endsWith('\\')
    if (!header) body.push(l)
  }
  return body.join('')
}

function derPublicKey (der: Buffer): KeyObject {
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      return createPublicKey({ key: der, format: 'der', type })
    } catch {}
  }
  throw Ec2Errors.keyFormat()
}

/** An OpenSSH public key blob: `string "ssh-rsa", mpint e, mpint n` or `string "ssh-ed25519", string key`. */
function parseBlob (blob: Buffer): ParsedKey {
  const r = new SshReader(blob)
  const type = r.string().toString('latin1')
  if (type === 'ssh-rsa') {
    const e = r.mpint()
    const n = r.mpint()
    if (!r.done) throw Ec2Errors.keyFormat()
    let key: KeyObject
    try {
      key = createPublicKey({ key: { kty: 'RSA', e: e.toString('base64url'), n: n.toString('base64url') }, format: 'jwk' })
    } catch {
      throw Ec2Errors.keyFormat()
    }
    return rsaKey(key)
  }
  if (type === 'ssh-ed25519') {
    const publicKey = r.string()
    if (!r.done || publicKey.length !== 32) throw Ec2Errors.keyFormat()
    return { keyType: 'ed25519', blob, fingerprint: ed25519Fingerprint(blob) }
  }
  throw Ec2Errors.keyFormat()
}

function rsaKey (key: KeyObject): ParsedKey {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (key.asymmetricKeyType !== 'rsa' || bits < RSA_BITS.min || bits > RSA_BITS.max) throw Ec2Errors.keyFormat()
  return {
    keyType: 'rsa',
    blob: rsaBlob(key.export({ format: 'jwk' })),
    fingerprint: colonHex(createHash('md5').update(key.export({ type: 'spki', format: 'der' })).digest())
  }
}
