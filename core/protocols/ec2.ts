/**
 * The EC2 query protocol. Requests are form pairs (a POST body or a GET query string):
 *
 *   Action=DescribeAccountAttributes&Version=2016-11-15&AttributeName.1=default-vpc
 *
 * A member's wire name is its queryName, else its locationName with the first letter upper-cased,
 * else its member name; every list is `Name.N`, whatever `flattened` says. Responses are
 *
 *   <DescribeAccountAttributesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
 *     <requestId>…</requestId><accountAttributeSet><item>…</item></accountAttributeSet>
 *   </DescribeAccountAttributesResponse>
 *
 * and errors `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
 * EC2 checks types, required members and numeric ranges from the model; enums and patterns are
 * the handlers' to judge, as EC2 words those errors per action.
 */
import { CoreErrors } from '../errors.js'
import type { ServiceModel, ShapeRef } from '../model.js'
import type { Protocol } from './index.js'
import { actionOf, queryParams, QueryReader, type QueryDialect } from './query-input.js'
import { validate, type PathSegment, type Violation } from './validate.js'
import { escapeXml, XmlWriter } from './xml-writer.js'

const ucfirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)
const lcfirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1)

const dialect: QueryDialect = {
  wireName: (_model, name: string, ref: ShapeRef) => ref.queryName ?? (ref.locationName === undefined ? name : ucfirst(ref.locationName)),
  flattensAllLists: true
}

function wirePath (model: ServiceModel, path: PathSegment[]): string {
  return path.map(s => typeof s === 'number' ? String(s + 1) : 'key' in s ? s.key : dialect.wireName(model, s.member, s.ref)).join('.')
}

function violationError (model: ServiceModel, v: Violation): Error {
  const name = wirePath(model, v.path)
  if (v.constraint === 'required') return CoreErrors.missingParameter(name)
  // As EC2 words it: "Value ( 1 ) for parameter maxResults is invalid. Expecting a value greater than 5."
  const bound = v.constraint === 'min' ? `greater than ${v.shape.min ?? ''}` : `less than ${v.shape.max ?? ''}`
  return CoreErrors.invalidParameterValue(`Value ( ${String(v.value)} ) for parameter ${lcfirst(name)} is invalid. Expecting a value ${bound}.`)
}

/** EC2's metadata omits the trailing slash its responses carry. */
function namespaceOf (model: ServiceModel): string {
  const ns = model.metadata.xmlNamespace ?? ''
  return ns.endsWith('/') ? ns : ns + '/'
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
/** The SDKs take $metadata.requestId from this header; the body's request id is for older clients. */
function headersOf (requestId: string): Record<string, string> {
  return { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId }
}

export const ec2: Protocol = {
  parse (model, req) {
    const params = queryParams(req)
    const operation = actionOf(model, params)
    const input = QueryReader.for(model, dialect).readInput(operation, params)
    if (operation.input !== undefined) {
      const violations = validate(model, operation.input.shape, input, 'ranges')
      if (violations.length > 0) throw violationError(model, violations[0])
    }
    return { operation, input }
  },

  serialize (model, operation, output, ctx) {
    const root = `${operation.name}Response`
    let xml = `${XML_DECLARATION}<${root} xmlns="${escapeXml(namespaceOf(model))}"><requestId>${escapeXml(ctx.requestId)}</requestId>`
    // Actions without an output answer `<return>true</return>`, as EC2 does.
    xml += operation.output === undefined
      ? '<return>true</return>'
      : XmlWriter.for(model).members(model.shape(operation.output.shape), output ?? {})
    return { statusCode: 200, headers: headersOf(ctx.requestId), body: `${xml}</${root}>` }
  },

  serializeError (_model, err, ctx) {
    const body = `${XML_DECLARATION}<Response><Errors><Error><Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message>` +
      `</Error></Errors><RequestID>${escapeXml(ctx.requestId)}</RequestID></Response>`
    return { statusCode: err.statusCode, headers: headersOf(ctx.requestId), body }
  }
}
