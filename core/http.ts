import type { Readable } from 'node:stream'

/**
 * The protocol layer's view of HTTP: plain values, no fastify types, so protocols and SigV4 can be
 * tested without a server and fuzzed with arbitrary bytes.
 */
export interface HttpRequest {
  method: string
  /** Raw path as sent, percent-encoding intact, without the query string. */
  path: string
  /** Raw query string without the leading '?', percent-encoding intact ('' when absent). */
  query: string
  /** Header names lower-cased; repeated headers joined with ','. */
  headers: Record<string, string>
  body: Buffer
}

export interface HttpResponse {
  statusCode: number
  headers: Record<string, string>
  /** A stream for large blob payloads (S3 GetObject), sent as it is read. */
  body: Buffer | string | Readable
}
