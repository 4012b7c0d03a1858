/**
 * What the protocol tests share: the real AWS SDK on both ends of the protocol layer (the SDK's
 * request is parsed by our protocol, the handler's output serialized by it, and the SDK
 * deserializes what we answered), the error a refused request raises, and a one-operation model
 * for wire details the shipped models lack.
 */
import { Readable } from 'node:stream'
import { AwsError } from '../../core/errors.js'
import type { HttpRequest } from '../../core/http.js'
import { ServiceModel, type ProtocolName, type ShapeRef } from '../../core/model.js'
import { protocolFor, type ParsedRequest } from '../../core/protocols/index.js'

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1'

interface SdkRequest {
  method: string
  path: string
  query?: Record<string, string | string[] | null>
  headers: Record<string, string>
  body?: string | Uint8Array
}

export const sdkConfig = {
  region: 'us-east-1',
  endpoint: 'http://localhost:1',
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  maxAttempts: 1
}

export function toHttpRequest (req: SdkRequest): HttpRequest {
  const query = Object.entries(req.query ?? {}).flatMap(([k, v]) =>
    (Array.isArray(v) ? v : [v]).map(x => x === null ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(x)}`)).join('&')
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v
  const body = req.body === undefined ? Buffer.alloc(0) : typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.from(req.body)
  return { method: req.method, path: req.path, query, headers, body }
}

export interface Exchange {
  /** What our protocol parsed from the SDK's request. */
  parsed?: ParsedRequest
  /** The raw body we answered with. */
  response?: string
}

/**
 * A requestHandler for an SDK client: parses each request with `model`'s protocol, runs `handler`
 * (which may throw an AwsError), and answers with the serialized output or error.
 */
export function loopback (model: ServiceModel, handler: (p: ParsedRequest) => Record<string, unknown> | undefined, exchange: Exchange): any {
  const protocol = protocolFor(model)
  return {
    async handle (sdkReq: SdkRequest) {
      const ctx = { requestId: 'req-0001' }
      let res
      try {
        exchange.parsed = protocol.parse(model, toHttpRequest(sdkReq))
        res = protocol.serialize(model, exchange.parsed.operation, handler(exchange.parsed), ctx)
      } catch (e) {
        if (!(e instanceof AwsError)) throw e
        res = protocol.serializeError(model, e, ctx)
      }
      if (res.body instanceof Readable) throw new Error('this harness serializes in-memory bodies only')
      exchange.response = res.body.toString()
      const body = Buffer.isBuffer(res.body) ? res.body : Buffer.from(res.body)
      return { response: { statusCode: res.statusCode, headers: res.headers, body: Readable.from([body]) } }
    },
    updateHttpClientConfig () {},
    httpHandlerConfigs () { return {} }
  }
}

/** The AwsError `model`'s protocol refuses `req` with; fails the test if parse accepts it. */
export function parseError (model: ServiceModel, req: HttpRequest): AwsError {
  try {
    protocolFor(model).parse(model, req)
  } catch (e) {
    if (e instanceof AwsError) return e
    throw e
  }
  throw new Error('parse accepted the request')
}

/**
 * A service of one operation, `Op` at `POST /` (target `Test.Op`), whose input structure `OpInput`
 * has `members`. Shapes to refer to: String, and Epoch, a timestamp in epoch seconds.
 */
export function oneOperationModel (protocol: ProtocolName, members: Record<string, ShapeRef>): ServiceModel {
  return new ServiceModel({
    metadata: { protocol, apiVersion: '2024-01-01', endpointPrefix: 'test', serviceId: 'Test', targetPrefix: 'Test', jsonVersion: '1.1', xmlNamespace: 'https://test.example/doc/' },
    operations: { Op: { name: 'Op', http: { method: 'POST', requestUri: '/' }, input: { shape: 'OpInput' } } },
    shapes: { OpInput: { type: 'structure', members }, String: { type: 'string' }, Epoch: { type: 'timestamp', timestampFormat: 'unixTimestamp' } }
  })
}
