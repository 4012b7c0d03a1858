/**
 * AWS Signature Version 4, verified: the Authorization-header form and the presigned-URL form,
 * with every payload mode the SDKs and the aws CLI send (a hex SHA-256, UNSIGNED-PAYLOAD and the
 * aws-chunked STREAMING-* bodies of sigv4-streaming.ts).
 *
 * The canonical request is rebuilt from the raw request exactly as the client's signer built it:
 *   - S3 signs its path encoded once and never normalised. Each segment is decoded and re-encoded
 *     in the spec's form (RFC 3986 unreserved kept, everything else %XX), which is what the SDKs
 *     put on the wire, so a client that left e.g. '!' unescaped still verifies.
 *   - Every other service signs the wire path escaped a second time, after dropping empty, '.'
 *     and '..' segments: `/a b` goes out as `/a%20b` and is signed as `/a%2520b`.
 *   - The query is decoded pair by pair ('+' is a space, as in a form), re-encoded, and sorted by
 *     key, then value; X-Amz-Signature is left out.
 * Failures are AwsErrors in the codes and statuses of the service named by the credential scope:
 * see authErrorsFor.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { ProtocolName } from './model.js'
import { AwsError } from './errors.js'
import type { HttpRequest } from './http.js'
import type { Credentials, CredentialsProvider } from './credentials.js'
import { sha256Hex } from './sha256.js'
import { decodeAwsChunked } from './sigv4-streaming.js'
import type { PayloadSha256 } from './streamed-body.js'

export interface SigV4Result {
  /** From the credential scope, e.g. 'ec2', 's3', 'ssm', 'iam', 'sts', 'ebs'. */
  service: string
  region: string
  credentials: Credentials
  /** The payload as the handler must see it: aws-chunked bodies decoded (and every chunk signature checked). */
  body: Buffer
  /**
   * Trailing headers of an aws-chunked body (names lower-cased), e.g. `x-amz-checksum-crc32`.
   * Only their signature is checked here; the checksum itself is the S3 handler's to verify, as it
   * verifies the same checksums sent as headers.
   */
  trailers?: Record<string, string>
  presigned: boolean
  /** With `payloadFollows`: the SHA-256 the streamed body must have, and the error when it has not. */
  payloadSha256?: PayloadSha256
}

export interface VerifyOptions {
  now?: Date
  /**
   * The service the edge routed the request to, used for the error shapes only when the request
   * names none in a credential scope (anonymous or unparseable requests).
   */
  defaultService?: string
  /** The routed service's wire protocol: picks the error shapes for any service, known by name or not. */
  protocol?: ProtocolName
  /** The region this endpoint serves: a credential scoped to another one is refused, as AWS does. */
  region?: string
  /**
   * The body is not in `req` but streams to the handler (streamed-body.ts): a signed SHA-256 is
   * then returned as `payloadSha256`, for the stream to check at its end.
   */
  payloadFollows?: boolean
}

const ALGORITHM = 'AWS4-HMAC-SHA256'
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD'
const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
/** x-amz-content-sha256 naming a hash (not a payload mode). */
export const SHA256_HEX = /^[0-9a-fA-F]{64}$/
const MAX_SKEW_MS = 15 * 60 * 1000
const MAX_PRESIGN_EXPIRES = 7 * 24 * 60 * 60

// ---------------------------------------------------------------------------------------------
// Errors: one table per wire protocol; a service known by name maps to its protocol.
// ---------------------------------------------------------------------------------------------

export interface SignatureMismatch {
  accessKeyId: string
  stringToSign: string
  signatureProvided: string
  /** Absent for chunk and trailer signatures, which have no canonical request of their own. */
  canonicalRequest?: string
}

export interface ClockViolation {
  /** The request's timestamp as signed (ISO 8601 basic) and as a Date. */
  amzDate: string
  requestTime: Date
  now: Date
  direction: 'past' | 'future'
  /** X-Amz-Expires, when the request was presigned. */
  expires?: number
}

/** What a failed authentication tells the client, in the code and status of the service it called. */
export interface AuthErrors {
  /** The request carries no signature at all. */
  missing (): AwsError
  /** The Authorization header or the X-Amz-* query parameters cannot be used as they are. */
  malformed (problem: string, presigned: boolean): AwsError
  /** No credentials for this access key id, or a session token that does not go with it. */
  unknownKey (accessKeyId: string): AwsError
  /** The request's, a chunk's or the trailer's signature is not the one we compute. */
  badSignature (mismatch: SignatureMismatch): AwsError
  /** The credential scope is dated another day than the request. */
  scopeDateMismatch (scopeDate: string, amzDate: string, presigned: boolean): AwsError
  /** More than 15 minutes off our clock, or past a presigned URL's expiry. */
  clock (violation: ClockViolation): AwsError
  /** x-amz-content-sha256 names a hash the body does not have. */
  contentMismatch (claimed: string, computed: string): AwsError
  /** x-amz-content-sha256 is neither a hash nor a payload mode. */
  badContentSha256 (value: string): AwsError
  /** The credential scope names a region this endpoint does not serve. */
  wrongRegion (scoped: string, served: string): AwsError
  /** x-amz-* headers a presigned request did not sign: only S3 refuses them. */
  unsignedHeaders? (names: string[]): AwsError
}

const SIGNATURE_MESSAGE = 'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'
const INVALID_TOKEN_MESSAGE = 'The security token included in the request is invalid.'
const BAD_CONTENT_SHA256 = 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, ' +
  'or a valid sha256 value.'

/** The Coral services (query, JSON, REST-JSON) share their codes' shape and differ in names and statuses. */
interface CoralCodes {
  missing: { code: string, status: number, message: string }
  incomplete: { code: string, status: number }
  unknownKey: { code: string, status: number }
  signature: { code: string, status: number }
}

function coral (c: CoralCodes): AuthErrors {
  const signature = (message: string): AwsError => new AwsError(c.signature.code, message, c.signature.status)
  const incomplete = (message: string): AwsError => new AwsError(c.incomplete.code, message, c.incomplete.status)
  return {
    missing: () => new AwsError(c.missing.code, c.missing.message, c.missing.status),
    malformed: incomplete,
    unknownKey: () => new AwsError(c.unknownKey.code, INVALID_TOKEN_MESSAGE, c.unknownKey.status),
    badSignature: () => signature(SIGNATURE_MESSAGE),
    scopeDateMismatch: (scopeDate, amzDate) => signature('Date in Credential scope does not match YYYYMMDD ' +
      `from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`),
    clock: v => signature(coralClockMessage(v)),
    // These services sign the body's hash whatever the header claims, so a wrong claim is a bad signature.
    contentMismatch: () => signature(SIGNATURE_MESSAGE),
    badContentSha256: () => incomplete(BAD_CONTENT_SHA256),
    wrongRegion: scoped => signature(`Credential should be scoped to a valid region, not '${scoped}'.`)
  }
}

function coralClockMessage ({ amzDate, now, direction, expires }: ClockViolation): string {
  if (direction === 'future') {
    return `Signature not yet current: ${amzDate} is still later than ` +
      `${basicIso(new Date(now.getTime() + MAX_SKEW_MS))} (${basicIso(now)} + 15 min.)`
  }
  const windowMs = expires === undefined ? MAX_SKEW_MS : expires * 1000
  const window = expires === undefined ? '15 min.' : `${expires} sec.`
  return `Signature expired: ${amzDate} is now earlier than ` +
    `${basicIso(new Date(now.getTime() - windowMs))} (${basicIso(now)} - ${window})`
}

const query = coral({
  missing: { code: 'MissingAuthenticationToken', status: 403, message: 'Request is missing Authentication Token' },
  incomplete: { code: 'IncompleteSignature', status: 400 },
  unknownKey: { code: 'InvalidClientTokenId', status: 403 },
  signature: { code: 'SignatureDoesNotMatch', status: 403 }
})

const json = coral({
  missing: { code: 'MissingAuthenticationTokenException', status: 400, message: 'Missing Authentication Token' },
  incomplete: { code: 'IncompleteSignatureException', status: 400 },
  unknownKey: { code: 'UnrecognizedClientException', status: 400 },
  signature: { code: 'InvalidSignatureException', status: 400 }
})

const restJson = coral({
  missing: { code: 'MissingAuthenticationTokenException', status: 403, message: 'Missing Authentication Token' },
  incomplete: { code: 'IncompleteSignatureException', status: 403 },
  unknownKey: { code: 'UnrecognizedClientException', status: 403 },
  signature: { code: 'InvalidSignatureException', status: 403 }
})

/** EC2 says little: every credential or signature problem is one AuthFailure. */
const authFailure = (): AwsError => new AwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401)
const ec2: AuthErrors = {
  missing: () => new AwsError('MissingAuthenticationToken',
    'The request must contain either a valid (registered) AWS access key ID or X.509 certificate.', 401),
  malformed: problem => new AwsError('IncompleteSignature', problem, 400),
  unknownKey: authFailure,
  badSignature: authFailure,
  scopeDateMismatch: authFailure,
  clock: () => new AwsError('RequestExpired', 'Request has expired.', 400),
  contentMismatch: authFailure,
  badContentSha256: () => new AwsError('IncompleteSignature', BAD_CONTENT_SHA256, 400),
  wrongRegion: authFailure
}

const s3: AuthErrors = {
  missing: () => new AwsError('AccessDenied', 'Access Denied', 403),
  malformed: (problem, presigned) => presigned
    ? new AwsError('AuthorizationQueryParametersError', problem, 400)
    : new AwsError('AuthorizationHeaderMalformed', `The authorization header is malformed; ${problem}`, 400),
  unknownKey: accessKeyId => new AwsError('InvalidAccessKeyId',
    'The AWS Access Key Id you provided does not exist in our records.', 403, { AWSAccessKeyId: accessKeyId }),
  badSignature: m => new AwsError('SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    403, {
      AWSAccessKeyId: m.accessKeyId,
      StringToSign: m.stringToSign,
      SignatureProvided: m.signatureProvided,
      StringToSignBytes: hexBytes(m.stringToSign),
      ...(m.canonicalRequest === undefined
        ? {}
        : { CanonicalRequest: m.canonicalRequest, CanonicalRequestBytes: hexBytes(m.canonicalRequest) })
    }),
  scopeDateMismatch: (_scopeDate, _amzDate, presigned) =>
    s3.malformed('Invalid credential date. Date is not the same as X-Amz-Date.', presigned),
  clock: v => {
    const ServerTime = isoSeconds(v.now)
    if (v.expires === undefined) {
      return new AwsError('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.',
        403, { RequestTime: v.amzDate, ServerTime, MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS) })
    }
    const Expires = isoSeconds(new Date(v.requestTime.getTime() + v.expires * 1000))
    return v.direction === 'past'
      ? new AwsError('AccessDenied', 'Request has expired', 403, { 'X-Amz-Expires': String(v.expires), Expires, ServerTime })
      : new AwsError('AccessDenied', 'Request is not yet valid', 403, { 'X-Amz-Date': v.amzDate, Expires, ServerTime })
  },
  contentMismatch: (claimed, computed) => new AwsError('XAmzContentSHA256Mismatch',
    "The provided 'x-amz-content-sha256' header does not match what was computed.", 400,
    { ClientComputedContentSHA256: claimed, S3ComputedContentSHA256: computed }),
  badContentSha256: value => new AwsError('InvalidArgument', BAD_CONTENT_SHA256, 400,
    { ArgumentName: 'x-amz-content-sha256', ArgumentValue: value }),
  wrongRegion: (scoped, served) => new AwsError('AuthorizationHeaderMalformed',
    `The authorization header is malformed; the region '${scoped}' is wrong; expecting '${served}'`, 400, { Region: served }),
  unsignedHeaders: names => new AwsError('AccessDenied', 'There were headers present in the request which were not signed',
    403, { HeadersNotSigned: names.join(', ') })
}

/** Auth errors follow the wire protocol: every JSON service answers like SSM, every query one like STS. */
const PROTOCOL_ERRORS: Readonly<Record<ProtocolName, AuthErrors>> = {
  ec2, query, json, 'rest-json': restJson, 'rest-xml': s3
}

/** The protocols of the services Hive knows by name, for requests that reach us before any model does. */
const SERVICE_PROTOCOLS: ReadonlyMap<string, ProtocolName> = new Map([
  ['ec2', 'ec2'], ['s3', 'rest-xml'], ['iam', 'query'], ['sts', 'query'], ['ssm', 'json'], ['ebs', 'rest-json']
])

/** The auth errors of `service` (a credential scope's service name); AWS's common query errors otherwise. */
export function authErrorsFor (service: string | undefined): AuthErrors {
  return PROTOCOL_ERRORS[SERVICE_PROTOCOLS.get(service?.toLowerCase() ?? '') ?? 'query']
}

/** aws-chunked framing errors: S3's code, since only S3 clients stream. */
function incompleteBody (message: string): AwsError {
  return new AwsError('IncompleteBody', message, 400)
}

// ---------------------------------------------------------------------------------------------
// Parsing the signature out of the request.
// ---------------------------------------------------------------------------------------------

interface CredentialParts {
  accessKeyId: string
  date: string
  region: string
  service: string
  terminal: string
}

interface SignedRequest {
  presigned: boolean
  credential: CredentialParts
  /** date/region/service/aws4_request, as in the string to sign. */
  scope: string
  signedHeaders: string[]
  signature: string
  amzDate: string
  time: Date
  expires?: number
  securityToken?: string
  /** The payload hash the client claims (x-amz-content-sha256), if it claims one. */
  contentSha256?: string
}

const SCOPE_NAME = /^[A-Za-z0-9-]+$/

function splitCredential (text: string): CredentialParts | undefined {
  const parts = text.split('/')
  if (parts.length !== 5 || parts[0] === '') return undefined
  const [accessKeyId, date, region, service, terminal] = parts as [string, string, string, string, string]
  return { accessKeyId, date, region, service, terminal }
}

/** Cheap pre-auth peek (no crypto) so the edge knows which service's error shapes to use even when auth fails. */
export function credentialScopeOf (req: HttpRequest): { accessKeyId: string, date: string, region: string, service: string } | undefined {
  const authorization = req.headers.authorization
  const text = authorization !== undefined
    ? /Credential=([^,\s]*)/.exec(authorization)?.[1]
    : parseQuery(req.query).params.get('x-amz-credential')
  const parts = text === undefined ? undefined : splitCredential(text)
  return parts === undefined ? undefined : { accessKeyId: parts.accessKeyId, date: parts.date, region: parts.region, service: parts.service }
}

function parseSignedRequest (req: HttpRequest, params: ReadonlyMap<string, string>, errors: AuthErrors): SignedRequest {
  const authorization = req.headers.authorization
  const presigned = params.has('x-amz-algorithm') || params.has('x-amz-credential') || params.has('x-amz-signature')
  if (authorization !== undefined && presigned) {
    throw errors.malformed('only one auth mechanism allowed; only the X-Amz-Algorithm query parameter ' +
      'or the Authorization header should be specified', false)
  }
  if (presigned) return parsePresigned(req, params, errors)
  if (authorization === undefined) throw errors.missing()
  return parseAuthorizationHeader(req, authorization, errors)
}

function parseAuthorizationHeader (req: HttpRequest, authorization: string, errors: AuthErrors): SignedRequest {
  const space = authorization.indexOf(' ')
  const algorithm = space < 0 ? authorization : authorization.slice(0, space)
  if (algorithm !== ALGORITHM) throw errors.malformed(`unsupported algorithm '${algorithm}'; use ${ALGORITHM}.`, false)
  const fields = new Map<string, string>()
  for (const part of authorization.slice(space + 1).split(',')) {
    const field = part.trim()
    const eq = field.indexOf('=')
    if (eq <= 0) throw errors.malformed(`'${field}' not a valid key=value pair (missing equal-sign) in Authorization header: '${authorization}'.`, false)
    fields.set(field.slice(0, eq), field.slice(eq + 1))
  }
  const credential = fields.get('Credential')
  const signedHeaders = fields.get('SignedHeaders')
  const signature = fields.get('Signature')
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw errors.malformed('the authorization header requires three components: Credential, SignedHeaders, and Signature.', false)
  }
  const amzDate = req.headers['x-amz-date'] ?? rfc7231ToAmzDate(req.headers.date)
  if (amzDate === undefined) throw errors.malformed("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", false)
  return signedRequest(false, { credential, signedHeaders, signature, amzDate }, errors, {
    securityToken: req.headers['x-amz-security-token'],
    contentSha256: req.headers['x-amz-content-sha256']
  })
}

function parsePresigned (req: HttpRequest, params: ReadonlyMap<string, string>, errors: AuthErrors): SignedRequest {
  const malformed = (problem: string): AwsError => errors.malformed(problem, true)
  const algorithm = params.get('x-amz-algorithm')
  const credential = params.get('x-amz-credential')
  const amzDate = params.get('x-amz-date')
  const expiresText = params.get('x-amz-expires')
  const signedHeaders = params.get('x-amz-signedheaders')
  const signature = params.get('x-amz-signature')
  if (algorithm === undefined || credential === undefined || amzDate === undefined || expiresText === undefined ||
    signedHeaders === undefined || signature === undefined) {
    throw malformed('Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, ' +
      'X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.')
  }
  if (algorithm !== ALGORITHM) throw malformed(`X-Amz-Algorithm only supports "${ALGORITHM}"`)
  if (!/^-?\d+$/.test(expiresText)) throw malformed('X-Amz-Expires should be a number')
  const expires = Number(expiresText)
  if (expires < 0) throw malformed('X-Amz-Expires must be non-negative')
  if (expires > MAX_PRESIGN_EXPIRES) {
    throw malformed('X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires ' +
      `must be less than ${MAX_PRESIGN_EXPIRES} seconds`)
  }
  return signedRequest(true, { credential, signedHeaders, signature, amzDate }, errors, {
    expires,
    securityToken: params.get('x-amz-security-token') ?? req.headers['x-amz-security-token'],
    // SDK v3 presigns with x-amz-content-sha256 hoisted into the query like every x-amz-* header.
    contentSha256: params.get('x-amz-content-sha256') ?? req.headers['x-amz-content-sha256']
  })
}

function signedRequest (
  presigned: boolean,
  raw: { credential: string, signedHeaders: string, signature: string, amzDate: string },
  errors: AuthErrors,
  rest: { expires?: number, securityToken?: string | undefined, contentSha256?: string | undefined }
): SignedRequest {
  const credential = splitCredential(raw.credential)
  if (credential === undefined) {
    throw errors.malformed('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".', presigned)
  }
  if (credential.terminal !== 'aws4_request') {
    throw errors.malformed(`incorrect terminal "${credential.terminal}". This endpoint uses "aws4_request".`, presigned)
  }
  // Validated here also because they key the signing-key cache, which must not be ambiguous.
  if (!/^\d{8}$/.test(credential.date) || !SCOPE_NAME.test(credential.region) || !SCOPE_NAME.test(credential.service)) {
    throw errors.malformed(`the Credential scope '${raw.credential}' is not YYYYMMDD/REGION/SERVICE/aws4_request.`, presigned)
  }
  const time = parseAmzDate(raw.amzDate)
  if (time === undefined) {
    throw errors.malformed(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`, presigned)
  }
  if (credential.date !== raw.amzDate.slice(0, 8)) throw errors.scopeDateMismatch(credential.date, raw.amzDate, presigned)
  const signedHeaders = raw.signedHeaders.split(';')
  if (signedHeaders.some(name => name === '')) throw errors.malformed(`invalid SignedHeaders '${raw.signedHeaders}'.`, presigned)
  return {
    presigned,
    credential,
    scope: `${credential.date}/${credential.region}/${credential.service}/${credential.terminal}`,
    signedHeaders,
    signature: raw.signature,
    amzDate: raw.amzDate,
    time,
    ...(rest.expires === undefined ? {} : { expires: rest.expires }),
    ...(rest.securityToken === undefined ? {} : { securityToken: rest.securityToken }),
    ...(rest.contentSha256 === undefined ? {} : { contentSha256: rest.contentSha256 })
  }
}

// ---------------------------------------------------------------------------------------------
// Verification.
// ---------------------------------------------------------------------------------------------

/**
 * Verifies the request's signature (Authorization header or presigned query) against the keys of
 * `provider`, and returns who signed it and the payload to hand on. Checks run in this order: the
 * form of the signature, the clock, the key, the signature, then the payload (its claimed hash or
 * its chunk chain). Throws the AwsError that authErrorsFor gives for the credential scope's
 * service; rejects with the provider's own error when its store fails.
 */
export async function verifySigV4 (req: HttpRequest, provider: CredentialsProvider, opts: VerifyOptions = {}): Promise<SigV4Result> {
  const now = opts.now ?? new Date()
  const errors = opts.protocol !== undefined ? PROTOCOL_ERRORS[opts.protocol] : authErrorsFor(credentialScopeOf(req)?.service ?? opts.defaultService)
  const query = parseQuery(req.query)
  const signed = parseSignedRequest(req, query.params, errors)
  checkClock(signed, now, errors)

  const { accessKeyId, date, region, service } = signed.credential
  if (opts.region !== undefined && region !== opts.region) throw errors.wrongRegion(region, opts.region)
  const credentials = await provider.lookup(accessKeyId)
  if (credentials === undefined || !sameSessionToken(credentials.sessionToken, signed.securityToken)) {
    throw errors.unknownKey(accessKeyId)
  }

  const isS3 = service === 's3'
  const key = signingKey(credentials.secretAccessKey, date, region, service)
  const payloadHash = signed.contentSha256 ?? (signed.presigned && isS3 ? UNSIGNED_PAYLOAD : sha256Hex(req.body))
  const canonicalRequest = [
    req.method,
    canonicalPath(req.path, isS3),
    query.canonical,
    ...signed.signedHeaders.map(name => `${name}:${canonicalHeaderValue(req.headers[name.toLowerCase()])}`),
    '',
    signed.signedHeaders.join(';'),
    payloadHash
  ].join('\n')
  const stringToSign = [ALGORITHM, signed.amzDate, signed.scope, sha256Hex(canonicalRequest)].join('\n')
  if (!sameSignature(hmac(key, stringToSign).toString('hex'), signed.signature)) {
    throw errors.badSignature({ accessKeyId, stringToSign, signatureProvided: signed.signature, canonicalRequest })
  }
  if (signed.presigned && errors.unsignedHeaders !== undefined) {
    const signedNames = new Set(signed.signedHeaders.map(name => name.toLowerCase()))
    const unsigned = Object.keys(req.headers).filter(name => name.startsWith('x-amz-') && !signedNames.has(name))
    if (unsigned.length > 0) throw errors.unsignedHeaders(unsigned)
  }

  const payload = verifiedPayload(req, signed, key, errors, opts.payloadFollows === true)
  return {
    service,
    region,
    credentials,
    body: payload.body,
    ...(payload.trailers === undefined ? {} : { trailers: payload.trailers }),
    ...(payload.sha256 === undefined ? {} : { payloadSha256: payload.sha256 }),
    presigned: signed.presigned
  }
}

function checkClock (signed: SignedRequest, now: Date, errors: AuthErrors): void {
  const behindMs = now.getTime() - signed.time.getTime()
  const allowedMs = signed.expires === undefined ? MAX_SKEW_MS : signed.expires * 1000
  const direction = behindMs > allowedMs ? 'past' : -behindMs > MAX_SKEW_MS ? 'future' : undefined
  if (direction === undefined) return
  throw errors.clock({
    amzDate: signed.amzDate,
    requestTime: signed.time,
    now,
    direction,
    ...(signed.expires === undefined ? {} : { expires: signed.expires })
  })
}

/** A temporary key must come with its own token; a long-term key with none. */
function sameSessionToken (expected: string | undefined, provided: string | undefined): boolean {
  if (expected === undefined || provided === undefined) return expected === provided
  return sameSignature(expected, provided)
}

interface Payload { body: Buffer, trailers?: Record<string, string>, sha256?: PayloadSha256 }

/**
 * The payload as signed. `follows`: the body is not in `req` but streams to the handler
 * (streamed-body.ts), so a signed hash is handed on for the stream to check at its end.
 */
function verifiedPayload (req: HttpRequest, signed: SignedRequest, key: Buffer, errors: AuthErrors, follows: boolean): Payload {
  const claimed = signed.contentSha256
  if (claimed === undefined || claimed === UNSIGNED_PAYLOAD) return { body: req.body }
  const streaming = claimed === STREAMING_SIGNED || claimed === STREAMING_SIGNED_TRAILER || claimed === STREAMING_UNSIGNED_TRAILER
  if (!streaming) {
    if (!SHA256_HEX.test(claimed)) throw errors.badContentSha256(claimed)
    if (follows) return { body: req.body, sha256: { expected: claimed, mismatch: computed => errors.contentMismatch(claimed, computed) } }
    const computed = sha256Hex(req.body)
    if (claimed.toLowerCase() !== computed) throw errors.contentMismatch(claimed, computed)
    return { body: req.body }
  }

  const decoded = decodeAwsChunked(req.body, {
    trailers: claimed !== STREAMING_SIGNED,
    ...(claimed === STREAMING_UNSIGNED_TRAILER
      ? {}
      : {
          signing: {
            amzDate: signed.amzDate,
            scope: signed.scope,
            seed: signed.signature,
            verify: (stringToSign, signature) => sameSignature(hmac(key, stringToSign).toString('hex'), signature)
          }
        })
  })
  if (!decoded.ok) {
    if (decoded.problem === 'malformed') throw incompleteBody(`Invalid aws-chunked body: ${decoded.message}`)
    throw errors.badSignature({
      accessKeyId: signed.credential.accessKeyId,
      stringToSign: decoded.stringToSign,
      signatureProvided: decoded.signatureProvided
    })
  }
  const declared = req.headers['x-amz-decoded-content-length']
  if (declared !== undefined && Number(declared) !== decoded.body.length) {
    throw incompleteBody(`You did not provide the number of bytes specified by the x-amz-decoded-content-length header (${declared}).`)
  }
  const trailers = Object.keys(decoded.trailers).length > 0 ? { trailers: decoded.trailers } : {}
  return { body: decoded.body, ...trailers }
}

// ---------------------------------------------------------------------------------------------
// Canonical forms.
// ---------------------------------------------------------------------------------------------

/** %XX for every byte but the RFC 3986 unreserved set, as SigV4's UriEncode. */
const ENCODED_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)

function uriEncode (bytes: Buffer): string {
  let out = ''
  for (const b of bytes) out += ENCODED_BYTE[b]
  return out
}

/** Decodes %XX to bytes; a '%' not followed by two hex digits stays literal, as servers tolerate it. */
function percentDecode (text: string, plusIsSpace: boolean): Buffer {
  const raw = Buffer.from(text)
  if (!text.includes('%') && !(plusIsSpace && text.includes('+'))) return raw
  const out = Buffer.alloc(raw.length)
  let n = 0
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (c === 0x25 && i + 2 < raw.length && isHexDigit(raw[i + 1]) && isHexDigit(raw[i + 2])) {
      out[n++] = parseInt(raw.toString('latin1', i + 1, i + 3), 16)
      i += 2
    } else {
      out[n++] = c === 0x2b && plusIsSpace ? 0x20 : c
    }
  }
  return out.subarray(0, n)
}

function isHexDigit (c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}

/** RFC 3986's unreserved characters, which SigV4 leaves as they are, and the path's '/'. */
const UNRESERVED_PATH = /^[A-Za-z0-9\-._~/]*$/

function canonicalPath (rawPath: string, isS3: boolean): string {
  const path = rawPath === '' ? '/' : rawPath
  // Most S3 keys need neither decoding nor encoding: the path is then its own canonical form.
  if (isS3 && UNRESERVED_PATH.test(path)) return path
  if (isS3) return path.split('/').map(segment => uriEncode(percentDecode(segment, false))).join('/')
  const segments: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') segments.pop()
    else segments.push(segment)
  }
  const trailingSlash = segments.length > 0 && path.endsWith('/') ? '/' : ''
  return '/' + segments.map(segment => uriEncode(Buffer.from(segment))).join('/') + trailingSlash
}

/**
 * The query both ways: canonical for the string to sign, and decoded with lower-cased names (first
 * occurrence wins) to read the X-Amz-* presign parameters from.
 */
function parseQuery (rawQuery: string): { canonical: string, params: ReadonlyMap<string, string> } {
  const pairs: Array<[string, string]> = []
  const params = new Map<string, string>()
  for (const part of rawQuery.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = percentDecode(eq < 0 ? part : part.slice(0, eq), true)
    const value = percentDecode(eq < 0 ? '' : part.slice(eq + 1), true)
    const lowerName = name.toString().toLowerCase()
    if (!params.has(lowerName)) params.set(lowerName, value.toString())
    if (lowerName !== 'x-amz-signature') pairs.push([uriEncode(name), uriEncode(value)])
  }
  pairs.sort(([ak, av], [bk, bv]) => ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0)
  return { canonical: pairs.map(([k, v]) => `${k}=${v}`).join('&'), params }
}

function canonicalHeaderValue (value: string | undefined): string {
  return (value ?? '').replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '')
}

// ---------------------------------------------------------------------------------------------
// Crypto and time.
// ---------------------------------------------------------------------------------------------

/**
 * Derived keys change only daily per (secret, region, service), and deriving one costs four HMACs
 * per request. Bounded so that scopes made up by unauthenticated clients cannot grow it; the
 * oldest entry goes first.
 */
const signingKeys = new Map<string, Buffer>()
const SIGNING_KEY_CACHE_SIZE = 1024

function signingKey (secret: string, date: string, region: string, service: string): Buffer {
  const id = `${secret}\n${date}\n${region}\n${service}`
  let key = signingKeys.get(id)
  if (key === undefined) {
    key = [date, region, service, 'aws4_request'].reduce((k: Buffer, part) => hmac(k, part), Buffer.from(`AWS4${secret}`))
    if (signingKeys.size >= SIGNING_KEY_CACHE_SIZE) signingKeys.delete(signingKeys.keys().next().value!)
    signingKeys.set(id, key)
  }
  return key
}

function hmac (key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

function sameSignature (expected: string, provided: string): boolean {
  const a = Buffer.from(expected)
  const b = Buffer.from(provided)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The last X-Amz-Date parsed: requests of the same second share it, and parsing took 2% of the
 * event loop under small S3 requests.
 */
let lastAmzDate: { text: string, ms: number | undefined } = { text: '', ms: undefined }

function parseAmzDate (text: string): Date | undefined {
  if (text !== lastAmzDate.text) lastAmzDate = { text, ms: parseAmzDateUncached(text)?.getTime() }
  return lastAmzDate.ms === undefined ? undefined : new Date(lastAmzDate.ms)
}

function parseAmzDateUncached (text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (m === null) return undefined
  const [year, month, day, hours, minutes, seconds] = m.slice(1).map(Number)
  const time = new Date(Date.UTC(year, month - 1, day, hours, minutes, seconds))
  // Date.UTC rolls 20240231 over into March; a date that does not survive the round trip is invalid.
  return basicIso(time) === text ? time : undefined
}

/** SigV4 also accepts the HTTP Date header; its string to sign carries that time in basic ISO form. */
function rfc7231ToAmzDate (httpDate: string | undefined): string | undefined {
  const time = httpDate === undefined ? NaN : Date.parse(httpDate)
  return Number.isNaN(time) ? undefined : basicIso(new Date(time))
}

function basicIso (time: Date): string {
  return time.toISOString().replace(/[-:]|\.\d{3}/g, '')
}

function isoSeconds (time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function hexBytes (text: string): string {
  return Buffer.from(text).toString('hex').replace(/(..)(?!$)/g, '$1 ')
}
