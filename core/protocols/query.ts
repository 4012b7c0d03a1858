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
import { actionOf, queryParams, QueryReader, type QueryDialect } from './query-input.js'
import { coralMessage, validate } from './validate.js'
import { escapeXml, XmlWriter } from './xml-writer.js'

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

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
/** The SDKs take $metadata.requestId from this header; the body's request id is for older clients. */
function headersOf (requestId: string): Record<string, string> {
  return { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }
}

export const query: Protocol = {
  parse (model, req) {
    const params = queryParams(req)
    const operation = actionOf(model, params)
    const input = QueryReader.for(model, dialect).readInput(operation, params)
    if (operation.input !== undefined) {
      const violations = validate(model, operation.input.shape, input, 'all')
      if (violations.length > 0) throw ProtocolErrors.validationError(coralMessage(violations))
    }
    return { operation, input }
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
    return { statusCode: 200, headers: headersOf(ctx.requestId), body: xml }
  },

  serializeError (model, err, ctx) {
    const body = `${XML_DECLARATION}<ErrorResponse xmlns="${escapeXml(model.metadata.xmlNamespace ?? '')}"><Error><Type>${err.fault}</Type>` +
      `<Code>${escapeXml(err.code)}</Code><Message>${escapeXml(err.message)}</Message></Error>` +
      `<RequestId>${escapeXml(ctx.requestId)}</RequestId></ErrorResponse>`
    return { statusCode: err.statusCode, headers: headersOf(ctx.requestId), body }
  }
}
