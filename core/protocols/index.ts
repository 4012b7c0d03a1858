/**
 * The wire protocols of AWS, driven by the service models: any operation of any model parses and
 * serializes without code of its own. Values on both sides are plain JS, keyed by the model's
 * member names: structures are objects, lists arrays, maps objects, timestamps Dates, blobs
 * Buffers, numbers numbers, booleans booleans, strings and enums strings; absent members are
 * undefined.
 */
import type { AwsError } from '../errors.js'
import type { HttpRequest, HttpResponse } from '../http.js'
import type { Operation, ServiceModel } from '../model.js'
import { ec2 } from './ec2.js'
import { json } from './json.js'
import { query } from './query.js'
import { restJson } from './rest-json.js'
import { restXml } from './rest-xml.js'

export interface ParsedRequest {
  operation: Operation
  input: Record<string, unknown>
}

export interface ResponseContext {
  requestId: string
}

export interface Protocol {
  /**
   * Identifies the operation and parses and validates its input against the model. Throws only
   * AwsError, with the code and status the service's AWS counterpart answers, whatever the bytes.
   */
  parse: (model: ServiceModel, req: HttpRequest) => ParsedRequest
  /** Renders an operation's output; undefined members are left out. */
  serialize: (model: ServiceModel, operation: Operation, output: Record<string, unknown> | undefined, ctx: ResponseContext) => HttpResponse
  /** Renders an error in the service's error shape, with the error's status. */
  serializeError: (model: ServiceModel, err: AwsError, ctx: ResponseContext) => HttpResponse
}

const protocols: Record<ServiceModel['metadata']['protocol'], Protocol> = {
  ec2,
  query,
  json,
  'rest-json': restJson,
  'rest-xml': restXml
}

export function protocolFor (model: ServiceModel): Protocol {
  const name = model.metadata.protocol
  const p = Object.hasOwn(protocols, name) ? protocols[name] : undefined
  if (p === undefined) throw new Error(`${model.metadata.serviceId}: unsupported protocol '${String(model.metadata.protocol)}'`)
  return p
}
