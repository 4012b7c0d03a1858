import { AwsError } from '../errors.js'

/**
 * The errors the protocol layer raises beyond CoreErrors, each with the code, message and status
 * the AWS service speaking that protocol answers.
 */
export const ProtocolErrors = {
  /** Query services. */
  missingAction: () =>
    new AwsError('MissingAction', 'The request must contain the parameter Action', 400),
  /** AWS's common-errors table gives MalformedQueryString status 404, not 400. */
  malformedQueryString: (detail: string) =>
    new AwsError('MalformedQueryString', `The query string contains a syntax error: ${detail}`, 404),
  /** IAM and STS report constraint violations as ValidationError, json services as ValidationException. */
  validationError: (message: string) =>
    new AwsError('ValidationError', message, 400),
  validationException: (message: string) =>
    new AwsError('ValidationException', message, 400),
  /** json / rest-json: a body that is not JSON, or a value of the wrong JSON type. */
  serialization: (message: string) =>
    new AwsError('SerializationException', message, 400),
  unknownOperation: (statusCode = 400) =>
    new AwsError('UnknownOperationException', 'The requested operation is not recognized by this service.', statusCode),
  /** S3. */
  malformedXml: () =>
    new AwsError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema', 400),
  missingRequestBody: () =>
    new AwsError('MissingRequestBodyError', 'Request Body is empty', 400),
  methodNotAllowed: (method: string, resourceType: string) =>
    new AwsError('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405,
      { Method: method, ResourceType: resourceType }),
  invalidArgument: (message: string, name: string, value: string) =>
    new AwsError('InvalidArgument', message, 400, { ArgumentName: name, ArgumentValue: value }),
  missingHeader: (header: string) =>
    new AwsError('InvalidRequest', `Missing required header for this request: ${header}`, 400),
  invalidUri: () =>
    new AwsError('InvalidURI', "Couldn't parse the specified URI.", 400)
} as const
