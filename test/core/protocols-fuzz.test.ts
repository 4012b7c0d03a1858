/**
 * Whatever the bytes, parse refuses only with an AwsError a client can be shown (a 4xx, rendered
 * by serializeError), what it accepts crosses the bus (codec.ts) unharmed, and well-typed outputs,
 * once they have crossed the bus as handlers' outputs do, always serialize to well-formed XML or JSON.
 *
 * Two kinds of input per service: noise (random methods, paths, query strings, headers and bodies
 * from fast-check), and model-shaped requests — a random operation with random member values,
 * mostly of the right type, encoded as the protocol expects and then sometimes mangled — so the
 * deep paths of every reader are reached, not only their first check.
 */
import t from 'tap'
import fc from 'fast-check'
import { XMLValidator } from 'fast-xml-parser'
import { decode, encode } from '../../core/codec.js'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { ServiceModel, type Operation, type Shape } from '../../core/model.js'
import { protocolFor } from '../../core/protocols/index.js'

const SERVICES = ['ec2', 'iam', 'sts', 'ssm', 's3', 'ebs']

const NASTY = ['', ' ', 'a', 'abc', '0', '-1', '1.5', '1e309', '99999999999999999999', 'true', 'false', 'NaN', 'Infinity',
  '2024-01-01T00:00:00Z', 'Wed, 21 Oct 2015 07:28:00 GMT', '%', '%ZZ', '%E0%A4%A', '+', '&', '=', '.', '..', '.1', '1.',
  '__proto__', 'constructor', 'toString', '<a>', ']]>', '&amp;', '&bogus;', '\u0000', '\r\n', '🚀', '\uD800', 'a'.repeat(300),
  'member', 'entry', 'item', 'key', 'value', 'snap-0a1', 'i-12345678', '100000000000000000000', '1e20']

/** Timestamps as the wire may carry them, beyond what a Date holds (±8.64e15 ms). */
const FAR_TIMESTAMPS = [1e20, -1e20, 8.64e12 + 1, '100000000000000000000', '+275760-09-14T00:00:00Z', '9999-12-31T23:59:59-23:59']

/** Strings that often satisfy a model's patterns, so that requests get past validation to what follows it. */
const PLAUSIBLE = ['abc', 'a-b_c.d', 'AbC123', '/a/b', 'arn:aws:iam::123456789012:role/r', 'oi-0123456789ab', 'ami-12345678',
  'us-east-1', '2024-01-01', 'AWS-RunShellScript', '123456789012', 'a'.repeat(64)]

const fitting = new WeakMap<Shape, string[]>()

/** The strings of NASTY and PLAUSIBLE that meet a string shape's length and pattern. */
function fittingTexts (shape: Shape): string[] {
  let texts = fitting.get(shape)
  if (texts === undefined) {
    let pattern: RegExp | undefined
    try {
      pattern = shape.pattern === undefined ? undefined : new RegExp(`^(?:${shape.pattern})$`, 'u')
    } catch {}
    texts = [...NASTY, ...PLAUSIBLE].filter(s => s.length >= (shape.min ?? 0) && s.length <= (shape.max ?? Infinity) && pattern?.test(s) !== false)
    fitting.set(shape, texts)
  }
  return texts
}

/** A seeded die, so a failing case is reproduced from the seed fast-check reports. */
class Dice {
  private a: number
  constructor (seed: number) { this.a = seed >>> 0 }
  next (): number {
    this.a = (this.a + 0x6d2b79f5) | 0
    let x = Math.imul(this.a ^ (this.a >>> 15), 1 | this.a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }

  int (n: number): number { return Math.floor(this.next() * n) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }
  text (): string {
    if (this.chance(0.6)) return this.pick(NASTY)
    return String.fromCharCode(...Array.from({ length: this.int(12) }, () => this.chance(0.7) ? 32 + this.int(95) : this.int(0x10000)))
  }
}

function junk (d: Dice): unknown {
  return d.pick([null, 0, 1.5, 1e20, true, 'x', [], {}, [1, 'a'], { a: { b: 1 } }, d.text()])
}

/** Whether a value of `shape` can hold a timestamp or blob: the values codec.ts carries specially, so where parse and bus can disagree. */
function holdsDatesOrBytes (model: ServiceModel, shape: Shape, seen = new Set<Shape>()): boolean {
  if (shape.type === 'timestamp' || shape.type === 'blob') return true
  if (seen.has(shape)) return false
  seen.add(shape)
  const refs = [...Object.values(shape.members ?? {}), shape.member, shape.value]
  return refs.some(r => r !== undefined && holdsDatesOrBytes(model, model.shape(r.shape), seen))
}

/** How far requests stray from the model; outputs never do. */
interface Mix {
  /** The chance that a value is of the wrong type. */
  junk: number
  /** Timestamps are sometimes beyond what a Date holds. */
  far: boolean
  /** The encoded request is sometimes cut or spliced. */
  mangled: boolean
}

const HOSTILE: Mix = { junk: 0.08, far: true, mangled: true }
const WELL_TYPED: Mix = { junk: 0, far: true, mangled: false }
const OUTPUT: Mix = { junk: 0, far: false, mangled: false }

function valueOf (model: ServiceModel, shape: Shape, d: Dice, mix: Mix, depth = 0): unknown {
  if (d.chance(mix.junk)) return junk(d)
  switch (shape.type) {
    case 'structure': {
      const out: Record<string, unknown> = {}
      for (const [name, ref] of Object.entries(shape.members ?? {})) {
        const member = model.shape(ref.shape)
        const p = shape.required?.includes(name) === true ? 0.8 : holdsDatesOrBytes(model, member) ? 0.5 : 0.2
        if (depth < 5 && d.chance(p)) out[name] = valueOf(model, member, d, mix, depth + 1)
      }
      return out
    }
    case 'list':
      return Array.from({ length: depth < 5 ? d.int(4) : 0 }, () => valueOf(model, model.shape(shape.member?.shape ?? ''), d, mix, depth + 1))
    case 'map':
      return Object.fromEntries(Array.from({ length: depth < 5 ? d.int(3) : 0 }, () => [d.text(), valueOf(model, model.shape(shape.value?.shape ?? ''), d, mix, depth + 1)]))
    case 'string': {
      if (shape.enum !== undefined && d.chance(0.5)) return d.pick(shape.enum)
      const fitting = d.chance(0.5) ? fittingTexts(shape) : []
      return fitting.length > 0 ? d.pick(fitting) : d.text()
    }
    case 'integer': case 'long': return d.pick(mix.junk === 0 ? [0, 1, -1, 5, 100, 2 ** 31 - 1] : [0, 1, -1, 5, 100, 2 ** 31, 2 ** 53, 1.5])
    case 'float': case 'double': return d.pick([0, 1.5, -2, NaN, Infinity, 1e308])
    case 'boolean': return d.chance(0.5)
    case 'timestamp': return mix.far && d.chance(0.3) ? d.pick(FAR_TIMESTAMPS) : new Date(d.pick([0, 1e12, -1e12, 1.7e12 + 123]))
    case 'blob': return Buffer.from(d.text())
  }
}

const ucfirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

function scalarText (v: unknown): string {
  if (v instanceof Date) return v.toISOString()
  if (Buffer.isBuffer(v)) return v.toString('base64')
  return typeof v === 'object' ? JSON.stringify(v) : String(v)
}

/** Form pairs the way the SDKs write them for the ec2 and query protocols. */
function queryPairs (model: ServiceModel, shape: Shape, v: unknown, prefix: string, ec2: boolean, out: Array<[string, string]>): void {
  const join = (s: string): string => prefix === '' ? s : `${prefix}.${s}`
  if (shape.type === 'structure' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [name, x] of Object.entries(v)) {
      const ref = shape.members?.[name]
      if (ref === undefined) continue
      const wire = ec2 ? ref.queryName ?? (ref.locationName === undefined ? name : ucfirst(ref.locationName)) : ref.locationName ?? name
      queryPairs(model, model.shape(ref.shape), x, join(wire), ec2, out)
    }
  } else if (shape.type === 'list' && Array.isArray(v) && shape.member !== undefined) {
    const item = model.shape(shape.member.shape)
    const base = ec2 || shape.flattened === true ? prefix : `${prefix}.${shape.member.locationName ?? 'member'}`
    if (v.length === 0 && !ec2) out.push([prefix, ''])
    v.forEach((x, i) => { queryPairs(model, item, x, `${base}.${i + 1}`, ec2, out) })
  } else if (shape.type === 'map' && typeof v === 'object' && v !== null && shape.value !== undefined) {
    Object.entries(v).forEach(([k, x], i) => {
      out.push([`${prefix}.entry.${i + 1}.key`, k])
      queryPairs(model, model.shape(shape.value?.shape ?? ''), x, `${prefix}.entry.${i + 1}.value`, ec2, out)
    })
  } else {
    out.push([prefix, scalarText(v)])
  }
}

function jsonOf (model: ServiceModel, shape: Shape, v: unknown): unknown {
  if (v instanceof Date) return v.getTime() / 1000
  if (Buffer.isBuffer(v)) return v.toString('base64')
  if (Array.isArray(v)) return shape.type === 'list' ? v.map(x => jsonOf(model, model.shape(shape.member?.shape ?? ''), x)) : v
  if (typeof v !== 'object' || v === null) return v
  if (shape.type === 'map') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonOf(model, model.shape(shape.value?.shape ?? ''), x)]))
  if (shape.type !== 'structure') return v
  const out: Record<string, unknown> = {}
  for (const [name, x] of Object.entries(v)) {
    const ref = shape.members?.[name]
    if (ref !== undefined && ref.location === undefined) out[ref.locationName ?? name] = jsonOf(model, model.shape(ref.shape), x)
  }
  return out
}

function xmlOf (model: ServiceModel, name: string, shape: Shape, v: unknown): string {
  if (shape.type === 'structure' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
    let inner = ''
    for (const [member, x] of Object.entries(v)) {
      const ref = shape.members?.[member]
      if (ref === undefined || ref.location !== undefined) continue
      const target = model.shape(ref.shape)
      const el = ref.locationName ?? member
      if (target.type === 'list' && Array.isArray(x) && (ref.flattened === true || target.flattened === true)) {
        for (const item of x) inner += xmlOf(model, el, model.shape(target.member?.shape ?? ''), item)
      } else {
        inner += xmlOf(model, el, target, x)
      }
    }
    return `<${name}>${inner}</${name}>`
  }
  if (shape.type === 'list' && Array.isArray(v)) {
    const item = shape.member?.locationName ?? 'member'
    return `<${name}>${v.map(x => xmlOf(model, item, model.shape(shape.member?.shape ?? ''), x)).join('')}</${name}>`
  }
  return `<${name}>${scalarText(v).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</${name}>`
}

function mangle (d: Dice, mix: Mix, s: string): string {
  if (!mix.mangled) return s
  switch (d.int(6)) {
    case 0: return s.slice(0, d.int(s.length + 1))
    case 1: { const i = d.int(s.length + 1); return s.slice(0, i) + d.text() + s.slice(i) }
    case 2: return s + '&' + d.text()
    default: return s
  }
}

/** Every byte escaped; lone surrogates go as the U+FFFD a UTF-8 client would send. */
const enc = (s: string): string => Buffer.from(s).toString('hex').replace(/../g, '%$&')

const specialOperations = new Map<ServiceModel, string[]>()

/** Half the time an operation whose input holds timestamps or blobs, else any: in most models they are few. */
function pickOperation (model: ServiceModel, d: Dice): Operation {
  let special = specialOperations.get(model)
  if (special === undefined) {
    special = model.operationNames().filter(n => {
      const input = model.operation(n)?.input
      return input !== undefined && holdsDatesOrBytes(model, model.shape(input.shape))
    })
    specialOperations.set(model, special)
  }
  return model.operation(d.pick(special.length > 0 && d.chance(0.5) ? special : model.operationNames())) as Operation
}

function modelShapedRequest (model: ServiceModel, d: Dice, mix: Mix): HttpRequest {
  const op = pickOperation(model, d)
  const shape = op.input === undefined ? { type: 'structure' as const, members: {} } : model.shape(op.input.shape)
  const raw = valueOf(model, shape, d, mix)
  const input = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>
  const protocol = model.metadata.protocol
  if (protocol === 'ec2' || protocol === 'query') {
    const pairs: Array<[string, string]> = [['Action', op.name], ['Version', model.metadata.apiVersion]]
    queryPairs(model, shape, input, '', protocol === 'ec2', pairs)
    const body = mangle(d, mix, pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&'))
    return { method: 'POST', path: '/', query: '', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(body) }
  }
  if (protocol === 'json') {
    const body = mangle(d, mix, JSON.stringify(jsonOf(model, shape, input)))
    return { method: 'POST', path: '/', query: '', headers: { 'x-amz-target': `${model.metadata.targetPrefix ?? ''}.${op.name}` }, body: Buffer.from(body) }
  }
  const [template, literal = ''] = op.http.requestUri.split('?')
  const path = template.replace(/\{([^}+]+)\+?\}/g, (_, label: string) => {
    const member = Object.entries(shape.members ?? {}).find(([n, r]) => (r.locationName ?? n) === label)?.[0]
    const v = member === undefined ? undefined : input[member]
    return mix.mangled && d.chance(0.1) ? d.text() : enc(v === undefined ? d.text() : scalarText(v))
  })
  const query = literal === '' ? [] : [literal]
  const headers: Record<string, string> = {}
  let body = ''
  for (const [name, ref] of Object.entries(shape.members ?? {})) {
    const v = input[name]
    if (v === undefined) continue
    const wire = ref.locationName ?? name
    if (ref.location === 'querystring') query.push(`${enc(wire)}=${enc(scalarText(v))}`)
    else if (ref.location === 'header') headers[wire.toLowerCase()] = scalarText(v)
    else if (ref.location === 'headers' && typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) headers[`${wire}${k}`.toLowerCase()] = scalarText(x)
    else if (ref.location === undefined && name === shape.payload) {
      const target = model.shape(ref.shape)
      body = target.type === 'structure' ? (protocol === 'rest-xml' ? xmlOf(model, ref.locationName ?? name, target, v) : JSON.stringify(jsonOf(model, target, v))) : scalarText(v)
    }
  }
  if (shape.payload === undefined && protocol === 'rest-json') body = JSON.stringify(jsonOf(model, shape, input))
  return { method: op.http.method, path, query: mangle(d, mix, query.join('&')), headers, body: Buffer.from(mangle(d, mix, body)) }
}

const noise = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'get', ''),
  path: fc.oneof(fc.constant('/'), fc.array(fc.oneof(fc.string(), fc.constantFrom(...NASTY)), { maxLength: 5 }).map(p => '/' + p.join('/'))),
  query: fc.oneof(fc.string(), fc.array(fc.tuple(fc.constantFrom('Action', 'uploads', 'uploadId', 'list-type', 'max-keys', 'AttributeName.1', ...NASTY), fc.oneof(fc.string(), fc.constantFrom(...NASTY))))
    .map(kv => kv.map(([k, v]) => `${k}=${v}`).join('&'))),
  headers: fc.dictionary(fc.constantFrom('x-amz-target', 'content-type', 'x-amz-copy-source', 'x-amz-meta-a', 'x-amz-data-length', 'content-length', 'expires'),
    fc.oneof(fc.string(), fc.constantFrom('AmazonSSM.PutParameter', 'AmazonSSM.GetInventory', ...NASTY))),
  body: fc.oneof(fc.uint8Array({ maxLength: 256 }).map(b => Buffer.from(b)), fc.json().map(j => Buffer.from(j)), fc.string().map(s => Buffer.from(s)),
    fc.constantFrom('<Delete><Object><Key>k</Key></Object></Delete>', 'Action=DescribeRegions&RegionName.1=x', '{"Name":"n","Value":"v"}').map(s => Buffer.from(s)))
})

/**
 * parse may refuse anything, but only with a client error that renders in the service's shape;
 * what it accepts must encode for the bus, where a handler receives it.
 */
function refusesCleanly (model: ServiceModel, req: HttpRequest): boolean {
  const protocol = protocolFor(model)
  let parsed
  try {
    parsed = protocol.parse(model, req)
  } catch (e) {
    if (!(e instanceof AwsError)) throw e
    if (e.statusCode < 400 || e.statusCode >= 500) throw new Error(`${e.code} answered with status ${e.statusCode}`)
    const res = protocol.serializeError(model, e, { requestId: 'fuzz' })
    if (res.statusCode !== e.statusCode) throw new Error(`${e.code} rendered with status ${res.statusCode}`)
    return false
  }
  try {
    encode(parsed.input)
  } catch (e) {
    throw new Error(`${parsed.operation.name}: parsed input does not encode for the bus: ${(e as Error).message}`)
  }
  return true
}

for (const service of SERVICES) {
  const model = ServiceModel.load(service)
  const protocol = protocolFor(model)

  t.test(`fuzz - ${service} - noise is refused only with AwsErrors, never a 5xx`, async t => {
    fc.assert(fc.property(noise, req => { refusesCleanly(model, req) }), { numRuns: 300 })
    t.pass()
  })

  for (const [kind, mix] of [['random member values', HOSTILE], ['well-typed member values', WELL_TYPED]] as const) {
    t.test(`fuzz - ${service} - random operations with ${kind} parse, and encode for the bus, or are refused cleanly`, async t => {
      const numRuns = 400
      let accepted = 0
      fc.assert(fc.property(fc.integer(), seed => { if (refusesCleanly(model, modelShapedRequest(model, new Dice(seed), mix))) accepted++ }), { numRuns })
      t.ok(accepted > 0, `${accepted} of ${numRuns} model-shaped requests parsed`)
    })
  }

  t.test(`fuzz - ${service} - well-typed outputs serialize, after the bus, to well-formed documents`, async t => {
    fc.assert(fc.property(fc.integer(), seed => {
      const d = new Dice(seed)
      const op = model.operation(d.pick(model.operationNames())) as Operation
      const output = op.output === undefined ? undefined : valueOf(model, model.shape(op.output.shape), d, OUTPUT)
      const res = protocol.serialize(model, op, decode(encode(output)) as Record<string, unknown> | undefined, { requestId: 'fuzz' })
      const text = res.body.toString()
      const type = res.headers['content-type'] ?? ''
      if (type.includes('xml') && XMLValidator.validate(text) !== true) throw new Error(`${op.name}: malformed XML ${text.slice(0, 200)}`)
      if (type.includes('json')) JSON.parse(text)
    }), { numRuns: 200 })
    t.pass()
  })
}

t.test('fuzz - nesting deeper than any model is refused, not a stack overflow', async t => {
  const ssm = ServiceModel.load('ssm')
  const deep = '{"Aggregators":['.repeat(5000) + '{}' + ']}'.repeat(5000)
  t.notOk(refusesCleanly(ssm, { method: 'POST', path: '/', query: '', headers: { 'x-amz-target': 'AmazonSSM.GetInventory' }, body: Buffer.from(deep) }))
  const s3 = ServiceModel.load('s3')
  const xml = '<Delete>' + '<Object>'.repeat(5000) + '</Object>'.repeat(5000) + '</Delete>'
  t.notOk(refusesCleanly(s3, { method: 'POST', path: '/b', query: 'delete', headers: {}, body: Buffer.from(xml) }))
  const ec2 = ServiceModel.load('ec2')
  t.notOk(refusesCleanly(ec2, { method: 'GET', path: '/', query: 'Action=RunInstances&' + 'A.'.repeat(100000) + 'B=1', headers: {}, body: Buffer.alloc(0) }))
})
