/**
 * Streamed request bodies: a large S3 upload reaches its handler as it arrives, not once it is
 * whole, so the store writes stripes and the handler hashes while the client is still sending —
 * and a 1 GiB PUT never sits in memory.
 *
 * A request is streamed when all of these hold, judged from its headers before the body is read:
 *   - PUT with a Content-Length of at least STREAM_BODY_FROM, within the route's body limit (above
 *     it fastify answers 413 as for any body), and no Transfer-Encoding;
 *   - signed for s3 (its credential scope, as the edge reads it);
 *   - its payload is UNSIGNED-PAYLOAD, a hex SHA-256 (checked as the last byte arrives), or absent
 *     on a presigned URL — never aws-chunked, whose framing sigv4-streaming.ts decodes whole;
 * and, once routed, its operation's payload member streams (PutObject, UploadPart) and this node
 * serves it: a stream does not cross the bus. Any other request flagged here is collected into a
 * Buffer and goes the usual way.
 *
 * The preParsing hook keeps the request stream aside and gives fastify an empty one that claims the
 * declared length, so fastify's own body reading (and its limit) sees a complete empty body.
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AwsError } from './errors.js'
import { SHA256_HEX } from './sigv4.js'

export const STREAM_BODY_FROM = 1024 * 1024

const kStreamedBody = Symbol('hive.streamedBody')

type WithStreamedBody = FastifyRequest & { [kStreamedBody]?: Readable }

/** `serviceOf`: the service a request is signed for (its credential scope), as the edge reads it. */
export function registerBodyStreaming (app: FastifyInstance, serviceOf: (request: FastifyRequest) => string | undefined): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (!streamable(request) || serviceOf(request) !== 's3') return payload
    ;(request as WithStreamedBody)[kStreamedBody] = payload
    const empty = Readable.from([]) as Readable & { receivedEncodedLength?: number }
    empty.receivedEncodedLength = Number(request.headers['content-length'])
    return empty
  })
}

/** The body kept aside by the preParsing hook, if this request's is streamed. */
export function streamedBodyOf (request: FastifyRequest): Readable | undefined {
  return (request as WithStreamedBody)[kStreamedBody]
}

function streamable (request: FastifyRequest): boolean {
  const h = request.headers
  if (request.method !== 'PUT' || h['transfer-encoding'] !== undefined) return false
  const length = Number(h['content-length'])
  if (!Number.isSafeInteger(length) || length < STREAM_BODY_FROM || length > (request.routeOptions.bodyLimit ?? 0)) return false
  if ((h['content-encoding'] ?? '').includes('aws-chunked')) return false
  const claimed = h['x-amz-content-sha256']
  // None on a presigned URL (no Authorization header) means UNSIGNED-PAYLOAD.
  if (claimed === undefined) return h.authorization === undefined
  return claimed === 'UNSIGNED-PAYLOAD' || (typeof claimed === 'string' && SHA256_HEX.test(claimed))
}

/** What a signed payload must hash to, checked once the last byte is in. */
export interface PayloadSha256 {
  expected: string
  mismatch: (computed: string) => AwsError
}

const incompleteBody = (): AwsError => new AwsError('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.', 400)

/**
 * The body as the handler reads it: exactly `length` bytes (a client that stops short fails the
 * read with IncompleteBody), then its SHA-256 checked when one was signed. The request stream is
 * not destroyed when the handler stops reading early (an error): the edge drains it, so the
 * response still goes out on a connection that stays usable.
 */
export function arrivingBody (raw: Readable, length: number, sha256?: PayloadSha256): Readable {
  async function * chunks (): AsyncGenerator<Buffer> {
    const hash = sha256 === undefined ? undefined : createHash('sha256')
    let received = 0
    const it = raw.iterator({ destroyOnReturn: false })
    for (;;) {
      let next: IteratorResult<Buffer>
      try {
        next = await it.next()
      } catch {
        throw incompleteBody()
      }
      if (next.done === true) break
      received += next.value.length
      hash?.update(next.value)
      yield next.value
    }
    if (received !== length) throw incompleteBody()
    if (hash !== undefined && sha256 !== undefined) {
      const computed = hash.digest('hex')
      if (computed !== sha256.expected.toLowerCase()) throw sha256.mismatch(computed)
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}

/** The whole body in one Buffer, for a flagged request that is not streamed after all. */
export async function collectBody (raw: Readable, length: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let received = 0
  try {
    for await (const chunk of raw) {
      received += (chunk as Buffer).length
      chunks.push(chunk as Buffer)
    }
  } catch {
    throw incompleteBody()
  }
  if (received !== length) throw incompleteBody()
  return Buffer.concat(chunks, received)
}
