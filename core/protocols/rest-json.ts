/**
 * The REST-JSON protocol (the EBS direct APIs): routed by method and requestUri, members bound to
 * the URI, query string and headers (see rest.ts), the rest in a JSON body — or, when the shape
 * names a blob payload (PutSnapshotBlock's BlockData), the raw body. Errors are a JSON body with
 * the code in `x-amzn-ErrorType`. Validation is Coral's, as for the json protocol.
 */
import type { HttpResponse } from '../http.js'
import type { ServiceModel } from '../model.js'
import { ProtocolErrors } from './errors.js'
import type { Protocol } from './index.js'
import { errorDocument } from './json.js'
import { JsonCodec } from './json-value.js'
import { formValues } from './querystring.js'
import { toBuffer } from './scalars.js'
import { bindingsOf, readBound, route, writeBound } from './rest.js'
import { coralMessage, validate } from './validate.js'

export const restJson: Protocol = {
  parse (model, req) {
    const query = formValues(req.query)
    const match = route(model, req, query)
    if (match === undefined) throw ProtocolErrors.unknownOperation(404)
    if (match === 'method') throw ProtocolErrors.unknownOperation(405)
    if (match.labels === undefined) throw ProtocolErrors.serialization('Malformed URI path')
    const { operation } = match
    if (operation.input === undefined) return { operation, input: {} }
    const shape = model.shape(operation.input.shape)
    const input = readBound(model, shape, req, match, query, v => ProtocolErrors.serialization(`Invalid value '${v.raw}' for ${v.location} ${v.name}`))
    const b = bindingsOf(model, shape)
    const codec = JsonCodec.for(model)
    if (b.payload !== undefined) {
      const p = b.payload
      if (p.shape.type === 'blob') {
        if (req.body.length > 0) input[p.name] = req.body
      } else if (p.shape.type === 'string') {
        if (req.body.length > 0) input[p.name] = req.body.toString('utf8')
      } else if (req.body.length > 0) {
        input[p.name] = codec.read(p.ref, p.shape, codec.parseDocument(req.body))
      }
    } else if (b.body.length > 0) {
      Object.assign(input, codec.readStructure(shape, codec.parseDocument(req.body), b.bodyNames))
    }
    const violations = validate(model, operation.input.shape, input, 'all')
    if (violations.length > 0) throw ProtocolErrors.validationException(coralMessage(violations))
    return { operation, input }
  },

  serialize (model, operation, output, ctx) {
    const headers: Record<string, string> = { 'x-amzn-requestid': ctx.requestId }
    if (operation.output === undefined) return { statusCode: operation.http.responseCode ?? 200, headers, body: '' }
    const shape = model.shape(operation.output.shape)
    const out = output ?? {}
    const bound = writeBound(model, operation, shape, out)
    const res: HttpResponse = { statusCode: bound.statusCode, headers: { ...headers, ...bound.headers }, body: '' }
    const b = bindingsOf(model, shape)
    const codec = JsonCodec.for(model)
    const p = b.payload
    if (p !== undefined) {
      const v = out[p.name]
      if (v === undefined || v === null) return res
      if (p.shape.type === 'blob' || p.shape.type === 'string') {
        res.headers['content-type'] ??= 'application/octet-stream'
        res.body = typeof v === 'string' ? v : toBuffer(v)
      } else {
        res.headers['content-type'] = 'application/json'
        res.body = JSON.stringify(codec.write(p.ref, p.shape, v))
      }
    } else if (b.body.length > 0) {
      const doc: Record<string, unknown> = {}
      for (const m of b.body) {
        const v = out[m.name]
        if (v !== undefined && v !== null) doc[m.ref.locationName ?? m.name] = codec.write(m.ref, m.shape, v)
      }
      res.headers['content-type'] = 'application/json'
      res.body = JSON.stringify(doc)
    }
    return res
  },

  serializeError (model: ServiceModel, err, ctx) {
    return {
      statusCode: err.statusCode,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': err.code, 'x-amzn-requestid': ctx.requestId },
      body: JSON.stringify(errorDocument(model, err))
    }
  }
}
