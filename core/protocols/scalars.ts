/**
 * Scalars written as text — in query strings, URI labels, headers and XML — read into their JS
 * values, and back. A value that does not fit its shape reads as INVALID; each protocol words the
 * error its own way.
 */
import type { Shape, ShapeRef, TimestampFormat } from '../model.js'
import { formatTimestamp, parseTimestamp, toDate } from './timestamps.js'

export const INVALID = Symbol('invalid')

const INTEGER = /^[+-]?\d+$/
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/
const INT32 = 2 ** 31

export function timestampFormatOf (ref: ShapeRef, shape: Shape, fallback: TimestampFormat): TimestampFormat {
  return ref.timestampFormat ?? shape.timestampFormat ?? fallback
}

export function parseScalar (shape: Shape, raw: string, tsFormat: TimestampFormat): unknown {
  switch (shape.type) {
    case 'string':
      return raw
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : INVALID
    case 'integer':
    case 'long': {
      if (!INTEGER.test(raw)) return INVALID
      const n = Number(raw)
      return (shape.type === 'integer' ? n >= -INT32 && n < INT32 : Number.isSafeInteger(n)) ? n : INVALID
    }
    case 'float':
    case 'double':
      if (raw === 'NaN' || raw === 'Infinity' || raw === '-Infinity') return Number(raw)
      return DECIMAL.test(raw) ? Number(raw) : INVALID
    case 'timestamp':
      return parseTimestamp(raw, tsFormat) ?? INVALID
    case 'blob':
      return BASE64.test(raw) ? Buffer.from(raw, 'base64') : INVALID
    default:
      return INVALID
  }
}

export function formatScalar (shape: Shape, value: unknown, tsFormat: TimestampFormat): string {
  switch (shape.type) {
    case 'timestamp':
      return formatTimestamp(toDate(value), tsFormat)
    case 'blob':
      return toBuffer(value).toString('base64')
    default:
      return String(value)
  }
}

export function toBuffer (v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  return Buffer.from(String(v))
}
