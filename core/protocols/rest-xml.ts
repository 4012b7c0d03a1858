/**
 * The REST-XML protocol (S3), path-style: `/{Bucket}/{Key+}` plus subresource keys (`?uploads`,
 * `?tagging`, `?list-type=2`) pick the operation (see rest.ts); members are bound to the URI, query
 * string, headers (`x-amz-meta-*` into a map) and the body — raw for a blob payload (PutObject's
 * Body), else an XML document. Responses put header members in headers (timestamps as HTTP dates)
 * and the rest in an XML document named by the output shape or payload; every response carries
 * `x-amz-request-id`. Errors are
 *
 *   <Error><Code>NoSuchKey</Code><Message>…</Message><Key>…</Key><RequestId>…</RequestId></Error>
 *
 * S3 does not enforce the model's enums or lengths; it reports a missing header as InvalidRequest,
 * a missing body as MissingRequestBodyError, a bad body as MalformedXML and a value of the wrong
 * type as InvalidArgument. HEAD responses lose their body in Node's HTTP server, as S3's do.
 * An output may name a status the model has no member for in `$status` (GetObject's 206 for a range),
 * and give a blob payload as a Readable, which is streamed (a handler on this node only: a stream
 * does not cross the bus).
 */
import { Readable } from 'node:stream'
import type { HttpRequest, HttpResponse } from '../http.js'
import type { Operation, ServiceModel, Shape, ShapeRef } from '../model.js'
import { ProtocolErrors } from './errors.js'
import type { Protocol } from './index.js'
import { formValues } from './querystring.js'
import { bindingsOf, readBound, route, writeBound, type Bindings } from './rest.js'
import { toBuffer } from './scalars.js'
import { validate, type Violation } from './validate.js'
import { XmlReader } from './xml-reader.js'
import { escapeXml, XML_DECLARATION, XmlWriter, xmlnsAttribute } from './xml-writer.js'

/**
 * A virtual-hosted-style request (`bucket.s3.example.com/key`) as the path-style request the
 * router reads (`/bucket/key`), for the edge to call once it has taken the bucket from Host.
 */
export function pathStyle (req: HttpRequest, bucket: string): HttpRequest {
  return { ...req, path: `/${encodeURIComponent(bucket)}${req.path === '/' ? '' : req.path}` }
}

function resourceType (path: string): string {
  const parts = path.split('/').filter(p => p !== '')
  return parts.length === 0 ? 'SERVICE' : parts.length === 1 ? 'BUCKET' : 'OBJECT'
}

function violationError (v: Violation, b: Bindings, req: HttpRequest): Error {
  const top = v.path[0]
  const member = typeof top === 'object' && 'member' in top ? top : undefined
  if (v.path.length === 1 && member !== undefined) {
    if (member.ref.location === 'header') return ProtocolErrors.missingHeader(member.ref.locationName ?? member.member)
    // Without its subresource key an operation is not routed: `POST /bucket/key` with no uploadId.
    if (member.ref.location === 'querystring') return ProtocolErrors.methodNotAllowed(req.method, resourceType(req.path))
    if (b.payload?.name === member.member) return ProtocolErrors.missingRequestBody()
  }
  return ProtocolErrors.malformedXml()
}

function readBody (model: ServiceModel, operation: Operation, shape: Shape, body: Buffer, input: Record<string, unknown>): void {
  const b = bindingsOf(model, shape)
  const p = b.payload
  if (p === undefined) {
    if (b.body.length === 0 || body.length === 0) return
    const ref = operation.input as ShapeRef
    const doc = XmlReader.for(model).readDocument(body, ref.locationName ?? shape.locationName ?? ref.shape, ref, shape) as Record<string, unknown>
    for (const m of b.body) if (doc[m.name] !== undefined) input[m.name] = doc[m.name]
    return
  }
  if (body.length === 0) return
  if (p.shape.type === 'blob') input[p.name] = body
  else if (p.shape.type === 'string') input[p.name] = body.toString('utf8')
  else input[p.name] = XmlReader.for(model).readDocument(body, p.ref.locationName ?? p.shape.locationName ?? p.name, p.ref, p.shape)
}

function document (model: ServiceModel, name: string, shape: Shape, inner: string): string {
  const ns = shape.xmlNamespace ?? (model.metadata.xmlNamespace === undefined ? undefined : { uri: model.metadata.xmlNamespace })
  return `${XML_DECLARATION}<${name}${xmlnsAttribute(ns)}>${inner}</${name}>`
}

export const restXml: Protocol = {
  parse (model, req) {
    const query = formValues(req.query)
    const match = route(model, req, query)
    if (match === undefined || match === 'method') throw ProtocolErrors.methodNotAllowed(req.method, resourceType(req.path))
    if (match.labels === undefined) throw ProtocolErrors.invalidUri()
    const { operation } = match
    if (operation.input === undefined) return { operation, input: {} }
    const shape = model.shape(operation.input.shape)
    const input = readBound(model, shape, req, match, query, v =>
      ProtocolErrors.invalidArgument(`Invalid value for ${v.name}: '${v.raw}' is not a valid ${v.shape.type}`, v.name, v.raw))
    readBody(model, operation, shape, req.body, input)
    const violations = validate(model, operation.input.shape, input, 'required')
    if (violations.length > 0) throw violationError(violations[0], bindingsOf(model, shape), req)
    return { operation, input }
  },

  serialize (model, operation, output, ctx) {
    const res: HttpResponse = { statusCode: operation.http.responseCode ?? 200, headers: { 'x-amz-request-id': ctx.requestId }, body: '' }
    if (operation.output === undefined) return res
    const shape = model.shape(operation.output.shape)
    const out = output ?? {}
    const bound = writeBound(model, operation, shape, out)
    res.statusCode = typeof out.$status === 'number' ? out.$status : bound.statusCode
    Object.assign(res.headers, bound.headers)
    const b = bindingsOf(model, shape)
    const p = b.payload
    if (p !== undefined) {
      const v = out[p.name]
      if (v === undefined || v === null) return res
      if (p.shape.type === 'blob' || p.shape.type === 'string') {
        res.body = typeof v === 'string' ? v : v instanceof Readable ? v : toBuffer(v)
      } else {
        res.headers['content-type'] = 'application/xml'
        res.body = document(model, p.ref.locationName ?? p.shape.locationName ?? p.name, p.shape, XmlWriter.for(model).members(p.shape, v as Record<string, unknown>))
      }
    } else if (b.body.length > 0) {
      const root = shape.locationName ?? operation.output.shape
      const only = b.body[0]
      // S3's GetBucketLocation answers the bare `<LocationConstraint>eu-west-1</LocationConstraint>`.
      const inner = b.body.length === 1 && only.name === root && only.shape.type === 'string'
        ? escapeXml(String(out[only.name] ?? ''))
        : XmlWriter.for(model).members(shape, out, b.bodyNames)
      res.headers['content-type'] = 'application/xml'
      res.body = document(model, root, shape, inner)
    }
    return res
  },

  serializeError (_model, err, ctx) {
    // A 304 is no error to HTTP: no body, and the validators of what the client already has.
    if (err.statusCode === 304) {
      const headers: Record<string, string> = { ...err.headers, 'x-amz-request-id': ctx.requestId }
      return { statusCode: 304, headers, body: '' }
    }
    let extra = ''
    for (const [k, v] of Object.entries(err.extra ?? {})) extra += `<${k}>${escapeXml(v)}</${k}>`
    return {
      statusCode: err.statusCode,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': ctx.requestId },
      body: `${XML_DECLARATION}<Error><Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message>${extra}` +
        `<RequestId>${escapeXml(ctx.requestId)}</RequestId></Error>`
    }
  }
}
