/**
 * The AWS JSON protocol (SSM): `POST /` with `X-Amz-Target: AmazonSSM.PutParameter` and a JSON
 * body (`application/x-amz-json-1.1`); the response is the output as JSON, an error is
 * `{"__type":"ParameterNotFound","message":"…"}` with its status. An unknown target is
 * UnknownOperationException; a body that is not JSON, or holds a value of the wrong JSON type, is
 * SerializationException; constraint violations are one Coral ValidationException.
 */
import type { AwsError } from '../errors.js'
import type { ServiceModel } from '../model.js'
import { ProtocolErrors } from './errors.js'
import type { Protocol } from './index.js'
import { JsonCodec } from './json-value.js'
import { coralMessage, validate } from './validate.js'

function headersOf (model: ServiceModel, requestId: string): Record<string, string> {
  return { 'content-type': `application/x-amz-json-${model.metadata.jsonVersion ?? '1.0'}`, 'x-amzn-requestid': requestId }
}

/** The error body, with `message` spelled as the model's exception shape spells it (EBS says `Message`). */
export function errorDocument (model: ServiceModel, err: AwsError): Record<string, unknown> {
  const members = model.errorShape(err.code)?.members ?? {}
  const messageKey = Object.keys(members).find(k => k.toLowerCase() === 'message') ?? 'message'
  return { __type: err.code, [messageKey]: err.message, ...err.extra }
}

export const json: Protocol = {
  parse (model, req) {
    const target = req.headers['x-amz-target'] ?? ''
    const prefix = `${model.metadata.targetPrefix ?? ''}.`
    const operation = target.startsWith(prefix) ? model.operation(target.slice(prefix.length)) : undefined
    if (operation === undefined) throw ProtocolErrors.unknownOperation()
    const codec = JsonCodec.for(model)
    const doc = codec.parseDocument(req.body)
    if (operation.input === undefined) return { operation, input: {} }
    const input = codec.readStructure(model.shape(operation.input.shape), doc)
    const violations = validate(model, operation.input.shape, input, 'all')
    if (violations.length > 0) throw ProtocolErrors.validationException(coralMessage(violations))
    return { operation, input }
  },

  serialize (model, operation, output, ctx) {
    const out = operation.output
    const body = out === undefined ? {} : JsonCodec.for(model).write(out, model.shape(out.shape), output ?? {})
    return { statusCode: 200, headers: headersOf(model, ctx.requestId), body: JSON.stringify(body) }
  },

  serializeError (model, err, ctx) {
    return { statusCode: err.statusCode, headers: headersOf(model, ctx.requestId), body: JSON.stringify(errorDocument(model, err)) }
  }
}
