/**
 * JSON documents ⇄ values, for the json and rest-json protocols. Members are keyed by locationName
 * else member name; timestamps are epoch seconds, blobs base64, and floats may be the strings
 * "NaN", "Infinity", "-Infinity". Reading follows Coral: null means absent, unknown members are
 * ignored, a value of the wrong JSON type is a SerializationException.
 */
import type { ServiceModel, Shape, ShapeRef } from '../model.js'
import { MAX_DEPTH, setEntry } from './guards.js'
import { memoize } from './memoize.js'
import { ProtocolErrors } from './errors.js'
import { INVALID, parseScalar, timestampFormatOf, toBuffer } from './scalars.js'
import { dateAt, epochSeconds, formatTimestamp, toDate } from './timestamps.js'

interface MemberPlan { name: string, key: string, ref: ShapeRef, shape: Shape }

/** Coral's words for a JSON value it cannot convert, by the JSON token it found. */
function wrongType (value: unknown, expected: string): never {
  if (Array.isArray(value)) throw ProtocolErrors.serialization('Start of list found where not expected')
  if (typeof value === 'object') throw ProtocolErrors.serialization('Start of structure or map found where not expected.')
  const token = typeof value === 'string' ? 'STRING_VALUE' : typeof value === 'number' ? 'NUMBER_VALUE' : value === true ? 'TRUE_VALUE' : 'FALSE_VALUE'
  throw ProtocolErrors.serialization(`${token} cannot be converted to ${expected}`)
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export class JsonCodec {
  /** One per model: its plans are computed once per shape. */
  static readonly for = memoize((model: ServiceModel) => new JsonCodec(model))

  private constructor (private readonly model: ServiceModel) {}

  /** JSON key → member, for reading; iteration order is the model's, for writing. */
  private readonly plan = memoize((shape: Shape): Map<string, MemberPlan> => {
    const plan = new Map<string, MemberPlan>()
    for (const [name, ref] of Object.entries(shape.members ?? {})) {
      const key = ref.locationName ?? name
      plan.set(key, { name, key, ref, shape: this.model.shape(ref.shape) })
    }
    return plan
  })

  /** Parses a body; an empty one is an empty object, as SDKs send `{}` but other clients send nothing. */
  parseDocument (body: Buffer): Record<string, unknown> {
    if (body.length === 0) return {}
    let doc: unknown
    try {
      doc = JSON.parse(body.toString('utf8'))
    } catch {
      throw ProtocolErrors.serialization('Malformed JSON body')
    }
    if (!isObject(doc)) wrongType(doc, 'Structure')
    return doc
  }

  /** Reads members of `shape` from `doc`, only those in `only` when given (rest-json leaves bound members out). */
  readStructure (shape: Shape, doc: Record<string, unknown>, only?: ReadonlySet<string>, depth = 0): Record<string, unknown> {
    const plan = this.plan(shape)
    const out: Record<string, unknown> = {}
    for (const key in doc) {
      const m = plan.get(key)
      const v = doc[key]
      if (m === undefined || v === null || (only !== undefined && !only.has(m.name))) continue
      out[m.name] = this.read(m.ref, m.shape, v, depth + 1)
    }
    return out
  }

  read (ref: ShapeRef, shape: Shape, v: unknown, depth = 0): unknown {
    if (depth > MAX_DEPTH) throw ProtocolErrors.serialization(`Document nests deeper than ${MAX_DEPTH} levels`)
    switch (shape.type) {
      case 'structure':
        if (shape.document === true) return v
        if (!isObject(v)) wrongType(v, 'Structure')
        return this.readStructure(shape, v, undefined, depth)
      case 'list': {
        if (!Array.isArray(v)) wrongType(v, 'List')
        const member = shape.member as ShapeRef
        const itemShape = this.model.shape(member.shape)
        return v.filter(item => item !== null).map(item => this.read(member, itemShape, item, depth + 1))
      }
      case 'map': {
        if (!isObject(v)) wrongType(v, 'Map')
        const valueRef = shape.value as ShapeRef
        const valueShape = this.model.shape(valueRef.shape)
        const out: Record<string, unknown> = {}
        for (const k in v) if (v[k] !== null) setEntry(out, k, this.read(valueRef, valueShape, v[k], depth + 1))
        return out
      }
      case 'string':
        if (typeof v !== 'string') wrongType(v, 'String')
        return v
      case 'boolean':
        if (typeof v !== 'boolean') wrongType(v, 'Boolean')
        return v
      case 'integer':
      case 'long':
        if (typeof v !== 'number' || !Number.isInteger(v)) wrongType(v, shape.type === 'long' ? 'Long' : 'Integer')
        return v
      case 'float':
      case 'double':
        if (typeof v === 'number') return v
        if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v)
        return wrongType(v, 'Double')
      case 'timestamp': {
        if (typeof v === 'number') return dateAt(v * 1000) ?? wrongType(v, 'Date')
        const d = typeof v === 'string' ? parseScalar(shape, v, timestampFormatOf(ref, shape, 'unixTimestamp')) : INVALID
        return d === INVALID ? wrongType(v, 'Date') : d
      }
      case 'blob': {
        const b = typeof v === 'string' ? parseScalar(shape, v, 'unixTimestamp') : INVALID
        return b === INVALID ? wrongType(v, 'ByteBuffer') : b
      }
    }
  }

  /** A JSON-ready copy of a value of `shape`. */
  write (ref: ShapeRef, shape: Shape, v: unknown): unknown {
    switch (shape.type) {
      case 'structure': {
        if (shape.document === true) return v
        const out: Record<string, unknown> = {}
        const struct = v as Record<string, unknown>
        for (const m of this.plan(shape).values()) {
          const x = struct[m.name]
          if (x !== undefined && x !== null) out[m.key] = this.write(m.ref, m.shape, x)
        }
        return out
      }
      case 'list': {
        const member = shape.member as ShapeRef
        const itemShape = this.model.shape(member.shape)
        return (v as unknown[]).map(item => this.write(member, itemShape, item))
      }
      case 'map': {
        const valueRef = shape.value as ShapeRef
        const valueShape = this.model.shape(valueRef.shape)
        const out: Record<string, unknown> = {}
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined && x !== null) setEntry(out, k, this.write(valueRef, valueShape, x))
        return out
      }
      case 'timestamp': {
        const format = timestampFormatOf(ref, shape, 'unixTimestamp')
        return format === 'unixTimestamp' ? epochSeconds(toDate(v)) : formatTimestamp(toDate(v), format)
      }
      case 'blob':
        return toBuffer(v).toString('base64')
      case 'float':
      case 'double':
        return Number.isFinite(v) ? v : String(v)
      default:
        return v
    }
  }
}
