/**
 * JSON that keeps the two value kinds the service models have beyond JSON: timestamps travel as
 * {"$t": ISO-8601} and blobs as {"$b": base64}. Used for every bus message and KV value.
 */
const te = new TextEncoder()
const td = new TextDecoder()

function replacer (this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key]
  if (raw instanceof Date) return { $t: raw.toISOString() }
  if (raw instanceof Uint8Array) return { $b: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') }
  return value
}

function reviver (_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>
    if (typeof o.$t === 'string' && Object.keys(o).length === 1) return new Date(o.$t)
    if (typeof o.$b === 'string' && Object.keys(o).length === 1) return Buffer.from(o.$b, 'base64')
  }
  return value
}

export function encode (value: unknown): Uint8Array {
  return te.encode(JSON.stringify(value, replacer) ?? 'null')
}

export function decode (bytes: Uint8Array): unknown {
  const text = td.decode(bytes)
  // A reviver makes JSON.parse several times slower, and most values carry neither kind.
  return text.includes('"$') ? JSON.parse(text, reviver) : JSON.parse(text)
}
