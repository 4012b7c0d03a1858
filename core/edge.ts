import type { Readable } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Bus } from './bus.js'
import type { CredentialsProvider } from './credentials.js'
import { AwsError, CoreErrors } from './errors.js'
import type { HttpRequest, HttpResponse } from './http.js'
import type { Operation } from './model.js'
import { pathStyle } from './protocols/rest-xml.js'
import type { ServiceEntry, ServiceRegistry } from './services.js'
import { credentialScopeOf, verifySigV4 } from './sigv4.js'
import { arrivingBody, collectBody, registerBodyStreaming, streamedBodyOf } from './streamed-body.js'

export interface EdgeOptions {
  bus: Bus
  services: ServiceRegistry
  credentials: CredentialsProvider
  /** The region this node serves; requests signed for another are refused. */
  region: string
  /** Largest body of a request to any service but S3, whose object bodies the server's own bodyLimit caps. */
  bodyLimit: number
  /** How many nodes serve an action now: DryRun succeeds only for actions that would run. */
  serversOf: (service: string, action: string) => Promise<number>
}

/**
 * The one route every AWS request takes: HTTP → SigV4 → model parse → central DryRun → the bus →
 * model serialize. Whatever goes wrong on the way is an AwsError rendered in the wire shape of the
 * service the request was for.
 */
export function registerEdge (app: FastifyInstance, opts: EdgeOptions): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  registerBodyStreaming(app, request => credentialScopeOf(toHttpRequest(request))?.service)
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const started = process.hrtime.bigint()
    const req = toHttpRequest(request)
    const streamed = streamedBodyOf(request)
    const { res, action } = await handle(req, request.id, opts, request, streamed)
    // A handler that failed before reading all of a streamed body: the rest is read and dropped,
    // so the connection can carry the answer and the next request.
    if (streamed !== undefined && !streamed.readableEnded) streamed.resume()
    send(reply, res)
    request.log.info({ action, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'aws request')
    // An async handler that resolves to nothing makes fastify end the reply empty: a streamed body
    // (a large GetObject) is still being sent.
    return reply
  }
  // Refused before the body is read: only S3 carries objects (an API call is a few KB), and only
  // for a key this cluster knows — the signature itself can be checked only once the body is in.
  app.addHook('onRequest', async (request, reply) => {
    const length = request.headers['content-length']
    const unbounded = length === undefined && request.headers['transfer-encoding'] !== undefined
    if (!unbounded && Number(length ?? 0) <= opts.bodyLimit) return
    const req = toHttpRequest(request)
    const scope = credentialScopeOf(req)
    let refusal = CoreErrors.requestTooLarge(opts.bodyLimit)
    if (scope?.service === 's3') {
      if (await opts.credentials.lookup(scope.accessKeyId) !== undefined) return
      refusal = new AwsError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403, { AWSAccessKeyId: scope.accessKeyId })
    }
    send(reply, renderError(opts.services, opts.services.get(scope?.service ?? opts.services.guess(req)), refusal, request.id))
    return await reply
  })
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/*', handler, exposeHeadRoute: false })

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode ?? 500
    const toS3 = credentialScopeOf(toHttpRequest(request))?.service === 's3'
    const aws = status === 413
      ? (toS3 ? entityTooLarge(request.routeOptions.bodyLimit ?? 0) : CoreErrors.requestTooLarge(request.routeOptions.bodyLimit ?? 0))
      : status < 500 ? CoreErrors.invalidRequest(err.message) : CoreErrors.internal()
    if (aws.statusCode >= 500) request.log.error({ err }, 'edge failure')
    const req = toHttpRequest(request)
    const entry = opts.services.get(credentialScopeOf(req)?.service ?? opts.services.guess(req))
    send(reply, renderError(opts.services, entry, aws, request.id))
  })
}

async function handle (req: HttpRequest, requestId: string, opts: EdgeOptions, request: FastifyRequest, streamed?: Readable): Promise<{ res: HttpResponse, action?: string }> {
  let entry: ServiceEntry | undefined
  let action: string | undefined
  try {
    const service = credentialScopeOf(req)?.service ?? opts.services.guess(req)
    entry = opts.services.get(service)
    if (entry === undefined) throw CoreErrors.unknownService(service)
    const length = Number(req.headers['content-length'])
    let stream: { member: string, body: Readable } | undefined
    if (streamed !== undefined) {
      const member = streamingMember(service, entry, req, opts.bus)
      if (member === undefined) req = { ...req, body: await collectBody(streamed, length) }
      else stream = { member, body: streamed }
    }
    const auth = await verifySigV4(req, opts.credentials, { protocol: entry.model.metadata.protocol, region: opts.region, payloadFollows: stream !== undefined })
    // aws-chunked trailers (x-amz-checksum-crc32 …) bind to their members as the same headers would.
    const signed = auth.body === req.body && auth.trailers === undefined
      ? req
      : { ...req, body: auth.body, headers: { ...req.headers, ...checksumTrailers(auth.trailers ?? {}) } }
    const bucket = entry.model.metadata.protocol === 'rest-xml' ? virtualHostBucket(req.headers.host) : undefined
    const { operation, input } = entry.protocol.parse(entry.model, bucket === undefined ? signed : pathStyle(signed, bucket))
    action = `${service}:${operation.name}`
    if (input.DryRun === true && entry.model.hasMember(operation.name, 'DryRun')) {
      if (!auth.credentials.principal.isRoot) throw CoreErrors.unauthorizedOperation()
      if (await opts.serversOf(service, operation.name) === 0) {
        throw CoreErrors.capabilityUnavailable(service, operation.name, await opts.bus.capabilityOf(service, operation.name))
      }
      throw CoreErrors.dryRunOperation()
    }
    if (stream !== undefined) input[stream.member] = arrivingBody(stream.body, length, auth.payloadSha256)
    const output = await opts.bus.request(service, operation.name, input, {
      requestId,
      region: auth.region,
      accountId: auth.credentials.principal.accountId,
      principalArn: auth.credentials.principal.arn
    }, stream === undefined ? undefined : STREAMED_TIMEOUT_MS + length / MIN_UPLOAD_BYTES_PER_MS)
    return { res: entry.protocol.serialize(entry.model, operation, output, { requestId }), action }
  } catch (e) {
    if (!(e instanceof AwsError)) request.log.error({ err: e, action }, 'unexpected failure')
    return { res: renderError(opts.services, entry, e instanceof AwsError ? e : CoreErrors.internal(), requestId), action }
  }
}

/** A streamed upload's action may take this long plus the time to receive its body at 1 MB/s. */
const STREAMED_TIMEOUT_MS = 60_000
const MIN_UPLOAD_BYTES_PER_MS = 1000

/**
 * The member a streamed body goes into: the operation's blob payload when it streams (PutObject,
 * UploadPart) and this node runs the action. Undefined sends the body the usual way, whole — also
 * when the request cannot be parsed, so its error comes in the usual order (after SigV4).
 */
function streamingMember (service: string, entry: ServiceEntry, req: HttpRequest, bus: Bus): string | undefined {
  if (entry.model.metadata.protocol !== 'rest-xml') return undefined
  let operation: Operation
  try {
    const bucket = virtualHostBucket(req.headers.host)
    operation = entry.protocol.parse(entry.model, bucket === undefined ? req : pathStyle(req, bucket)).operation
  } catch {
    return undefined
  }
  if (operation.input === undefined || !bus.servesLocally(service, operation.name)) return undefined
  const shape = entry.model.shape(operation.input.shape)
  const ref = shape.payload === undefined ? undefined : shape.members?.[shape.payload]
  if (ref === undefined || entry.model.shape(ref.shape).type !== 'blob') return undefined
  return ref.streaming === true || entry.model.shape(ref.shape).streaming === true ? shape.payload : undefined
}

/**
 * The bucket a virtual-hosted-style S3 request names in its Host: `<bucket>.s3.<anything>`,
 * `<bucket>.s3-<region>.<anything>` or `<bucket>.localhost` (which resolves to loopback, so
 * `http://mybucket.localhost:9999/key` reaches a local node). An IP address or a bare name is
 * path-style.
 */
export function virtualHostBucket (host: string | undefined): string | undefined {
  if (host === undefined) return undefined
  const name = host.replace(/:\d+$/, '').toLowerCase()
  if (name.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) return undefined
  const labels = name.split('.')
  const s3 = labels.findIndex((l, i) => i > 0 && (l === 's3' || l.startsWith('s3-')))
  if (s3 > 0) return labels.slice(0, s3).join('.')
  if (labels.length > 1 && labels[labels.length - 1] === 'localhost' && labels[0] !== 's3' && !labels[0].startsWith('s3-')) {
    return labels.slice(0, -1).join('.')
  }
  return undefined
}

/** The trailers a body's checksum may arrive in; no trailer stands in for any other header. */
function checksumTrailers (h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]).filter(([k]) => k.startsWith('x-amz-checksum-')))
}

/** S3 answers an oversized single PUT with EntityTooLarge (AWS's ceiling is 5 GiB; Hive's the body limit). */
function entityTooLarge (limit: number): AwsError {
  return new AwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400,
    { MaxSizeAllowed: String(limit) })
}

/** In the service's shape; when no service could be told, in EC2's (the query services' common form). */
function renderError (services: ServiceRegistry, entry: ServiceEntry | undefined, err: AwsError, requestId: string): HttpResponse {
  const e = entry ?? services.get('ec2') as ServiceEntry
  return e.protocol.serializeError(e.model, err, { requestId })
}

/** A fastify request as the protocols and SigV4 see it. */
export function toHttpRequest (request: FastifyRequest): HttpRequest {
  const url = request.raw.url ?? '/'
  const q = url.indexOf('?')
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(request.headers)) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v
  }
  return {
    method: request.method,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    headers,
    body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
  }
}

function send (reply: FastifyReply, res: HttpResponse): void {
  reply.code(res.statusCode).headers(res.headers).send(res.body)
}
