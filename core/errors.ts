/**
 * Errors are values: every failure a client can see is an AwsError with the code and HTTP status
 * AWS uses. Handlers throw them; the protocol layer renders them once, in the wire shape of the
 * service the request came in on (EC2 `<Response><Errors>`, query `<ErrorResponse>`, S3 `<Error>`,
 * JSON `__type`). Anything else that escapes a handler is logged and rendered as InternalError.
 */
export class AwsError extends Error {
  readonly code: string
  readonly statusCode: number
  /** Extra members some error shapes carry (S3's BucketName, Key, ...), serialized beside Code/Message. */
  readonly extra?: Record<string, string>
  /** Response headers the error carries (S3's 304 Not Modified names the ETag it matched). */
  readonly headers?: Record<string, string>

  constructor (code: string, message: string, statusCode = 400, extra?: Record<string, string>, headers?: Record<string, string>) {
    super(message)
    this.name = 'AwsError'
    this.code = code
    this.statusCode = statusCode
    if (extra !== undefined) this.extra = extra
    if (headers !== undefined) this.headers = headers
  }

  /** 'Sender' for 4xx (the client must change the request), 'Receiver' for 5xx, as query services say. */
  get fault (): 'Sender' | 'Receiver' {
    return this.statusCode >= 500 ? 'Receiver' : 'Sender'
  }

  toJSON (): AwsErrorJSON {
    return { code: this.code, message: this.message, statusCode: this.statusCode, ...(this.extra ? { extra: this.extra } : {}), ...(this.headers ? { headers: this.headers } : {}) }
  }

  static fromJSON (j: AwsErrorJSON): AwsError {
    return new AwsError(j.code, j.message, j.statusCode, j.extra, j.headers)
  }
}

export interface AwsErrorJSON {
  code: string
  message: string
  statusCode: number
  extra?: Record<string, string>
  headers?: Record<string, string>
}

export function isAwsError (e: unknown): e is AwsError {
  return e instanceof AwsError
}

/**
 * The errors the core itself raises, shared by every protocol. Service-specific codes live with the
 * plugin that raises them. Statuses are the ones AWS answers with.
 */
export const CoreErrors = {
  invalidAction: (action: string) =>
    new AwsError('InvalidAction', `The action ${action} is not valid for this web service.`, 400),
  unknownParameter: (name: string) =>
    new AwsError('UnknownParameter', `The parameter ${name} is not recognized`, 400),
  missingParameter: (name: string) =>
    new AwsError('MissingParameter', `The request must contain the parameter ${name}`, 400),
  invalidParameterValue: (message: string) =>
    new AwsError('InvalidParameterValue', message, 400),
  requestTooLarge: (limit: number) =>
    new AwsError('RequestEntityTooLarge', `Request body is larger than ${limit} bytes`, 413),
  dryRunOperation: () =>
    new AwsError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412),
  unauthorizedOperation: () =>
    new AwsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403),
  capabilityUnavailable: (service: string, action: string, capability?: string) =>
    new AwsError('ServiceUnavailable', capability !== undefined
      ? `No node in this Hive cluster serves the ${capability} capability needed for ${service}:${action}. ` +
        `Start a node with --cap ${capability}.`
      : `No node in this Hive cluster serves ${service}:${action}.`, 503),
  actionTimedOut: (service: string, action: string) =>
    new AwsError('ServiceUnavailable', `${service}:${action} did not answer in time.`, 503),
  invalidRequest: (message: string) =>
    new AwsError('InvalidRequest', message, 400),
  unknownService: (service: string) =>
    new AwsError('InvalidAction', `Hive does not serve the service '${service}'.`, 400),
  invalidFilter: (name: string) =>
    new AwsError('InvalidParameterValue', `The filter '${name}' is invalid`, 400),
  invalidPaginationToken: (code: string) =>
    new AwsError(code, 'The specified pagination token is not valid or is expired.', 400),
  contention: (key: string) =>
    new AwsError('ServiceUnavailable', `Too many concurrent updates of ${key}; retry.`, 503),
  internal: () =>
    new AwsError('InternalError', 'An internal error has occurred.', 500)
} as const
