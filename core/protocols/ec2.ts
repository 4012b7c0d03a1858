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
import { parseQuery, type QueryDialect } from './query-input.js'
import { responseHeaders } from './query.js'
import { lcfirst, type PathSegment, type Violation } from './validate.js'
import { escapeXml, XML_DECLARATION, XmlWriter } from './xml-writer.js'

const ucfirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

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

/** EC2 names the charset; IAM and STS do not. */
const CONTENT_TYPE = 'text/xml;charset=UTF-8'

export const ec2: Protocol = {
  parse (model, req) {
    return parseQuery(model, req, dialect, 'ranges', violations => violationError(model, violations[0]))
  },

  serialize (model, operation, output, ctx) {
    const root = `${operation.name}Response`
    let xml = `${XML_DECLARATION}<${root} xmlns="${escapeXml(namespaceOf(model))}"><requestId>${escapeXml(ctx.requestId)}</requestId>`
    // Actions without an output answer `<return>true</return>`, as EC2 does.
    xml += operation.output === undefined
      ? '<return>true</return>'
      : XmlWriter.for(model).members(model.shape(operation.output.shape), output ?? {})
    return { statusCode: 200, headers: responseHeaders(ctx.requestId, CONTENT_TYPE), body: `${xml}</${root}>` }
  },

  serializeError (_model, err, ctx) {
    const body = `${XML_DECLARATION}<Response><Errors><Error><Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message>` +
      `</Error></Errors><RequestID>${escapeXml(ctx.requestId)}</RequestID></Response>`
    return { statusCode: err.statusCode, headers: responseHeaders(ctx.requestId, CONTENT_TYPE), body }
  }
}
