/**
 * The three timestamp formats of the models: `iso8601` (query strings, XML bodies, URI labels),
 * `rfc822` (HTTP headers, as the IMF-fixdate of RFC 7231) and `unixTimestamp` (JSON bodies, epoch
 * seconds, fractions allowed).
 */
import type { TimestampFormat } from '../model.js'

const ISO8601 = /^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?)?$/
const HTTP_DATE = /^(?:[A-Za-z]{3}, )?\d{1,2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/
const EPOCH = /^-?\d+(?:\.\d+)?$/

/** undefined when `raw` is not a timestamp in `format`. */
export function parseTimestamp (raw: string, format: TimestampFormat): Date | undefined {
  let ms: number
  if (format === 'unixTimestamp') {
    ms = EPOCH.test(raw) ? Number(raw) * 1000 : NaN
  } else if (format === 'rfc822') {
    ms = HTTP_DATE.test(raw) ? Date.parse(raw) : NaN
  } else {
    const m = ISO8601.exec(raw)
    if (m === null) return undefined
    // Date.parse wants at most millisecond digits and a colon in the offset.
    const zone = m[4] === undefined || m[4] === 'z' ? 'Z' : m[4].length === 5 ? `${m[4].slice(0, 3)}:${m[4].slice(3)}` : m[4]
    ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${(m[3] ?? '').slice(0, 4)}${zone}`)
  }
  return dateAt(ms)
}

/**
 * The Date `ms` after the epoch, or undefined beyond the ±8.64e15 ms a Date holds: `new Date(1e23)`
 * is an Invalid Date, which nothing downstream can encode.
 */
export function dateAt (ms: number): Date | undefined {
  const d = new Date(ms)
  return Number.isFinite(d.getTime()) ? d : undefined
}

export function epochSeconds (d: Date): number {
  return d.getTime() / 1000
}

/** The text form of a timestamp, for XML, query strings and headers. */
export function formatTimestamp (d: Date, format: TimestampFormat): string {
  if (format === 'unixTimestamp') return String(epochSeconds(d))
  if (format === 'rfc822') return d.toUTCString()
  return d.toISOString()
}

/** Handlers hand back Dates; a string or epoch number from a looser one is read rather than rejected. */
export function toDate (v: unknown): Date {
  return v instanceof Date ? v : new Date(typeof v === 'number' ? v * 1000 : String(v))
}
