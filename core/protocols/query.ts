/**
 * The AWS query protocol (IAM, STS). Requests are form pairs named by locationName else member
 * name; lists are `Name.member.N` (`Name.N` when flattened, `Name=` when empty), maps
 * `Name.entry.N.key` / `.value`. Responses wrap the output in the operation's resultWrapper:
 *
 *   <GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
 *     <GetUserResult>…</GetUserResult>
 *     <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
 *   </GetUserResponse>
 *
 * and errors are `<ErrorResponse><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/>`.
 * IAM and STS run Coral's validation: every constraint of the model, all violations reported in
 * one ValidationError.
 */
import type { ServiceModel, ShapeRef } from '../model.js'
import { ProtocolErrors } from './errors.js'
import type { Protocol } from './index.js'
import { parseQuery, type QueryDialect } from './query-input.js'
import { coralMessage } from './validate.js'
import { escapeXml, XML_DECLARATION, XmlWriter } from './xml-writer.js'

const dialect: QueryDialect = {
  // A flattened list whose member is named goes by that name: botocore's SQS `AttributeName.N`.
  wireName: (model: ServiceModel, name: string, ref: ShapeRef) => {
    const target = model.shape(ref.shape)
    if (target.type === 'list' && (ref.flattened === true || target.flattened === true) && target.member?.locationName !== undefined) {
      return target.member.locationName
    }
    return ref.locationName ?? name
  },
  flattensAllLists: false
}

/**
 * The headers of a query or ec2 response. The SDKs take $metadata.requestId from the header; the
 * body's request id is for older clients.
 */
export function responseHeaders (requestId: string, contentType = 'text/xml'): Record<string, string> {
  return { 'content-type': contentType, 'x-amzn-requestid': requestId }
}

export const query: Protocol = {
  parse (model, req) {
    return parseQuery(model, req, dialect, 'all', violations => ProtocolErrors.validationError(coralMessage(violations)))
  },

  serialize (model, operation, output, ctx) {
    const root = `${operation.name}Response`
    let xml = `${XML_DECLARATION}<${root} xmlns="${escapeXml(model.metadata.xmlNamespace ?? '')}">`
    if (operation.output !== undefined) {
      const members = XmlWriter.for(model).members(model.shape(operation.output.shape), output ?? {})
      const wrapper = operation.output.resultWrapper
      xml += wrapper === undefined ? members : `<${wrapper}>${members}</${wrapper}>`
    }
    xml += `<ResponseMetadata><RequestId>${escapeXml(ctx.requestId)}</RequestId></ResponseMetadata></${root}>`
    return { statusCode: 200, headers: responseHeaders(ctx.requestId), body: xml }
  },

  serializeError (model, err, ctx) {
    const body = `${XML_DECLARATION}<ErrorResponse xmlns="${escapeXml(model.metadata.xmlNamespace ?? '')}"><Error><Type>${err.fault}</Type>` +
      `<Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message></Error>` +
      `<RequestId>${escapeXml(ctx.requestId)}</RequestId></ErrorResponse>`
    return { statusCode: err.statusCode, headers: responseHeaders(ctx.requestId), body }
  }
}
