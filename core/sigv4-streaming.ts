/**
 * aws-chunked bodies: the STREAMING-* payload modes of SigV4 (S3 API reference, "sigv4-streaming"
 * and "sigv4-streaming-trailers"), decoded and, when signed, verified chunk by chunk.
 *
 *   body       = *chunk last-chunk *trailer [CRLF]
 *   chunk      = hex-size [";chunk-signature=" sig] CRLF data CRLF
 *   last-chunk = "0" [";chunk-signature=" sig] CRLF
 *   trailer    = name ":" value CRLF
 *
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 66560 bytes in two data chunks (the S3 docs' example):
 *
 *   10000;chunk-signature=ad80…\r\n <65536 bytes> \r\n
 *   400;chunk-signature=0055…\r\n <1024 bytes> \r\n
 *   0;chunk-signature=b6c6…\r\n
 *   \r\n
 *
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER (SDK v3 and the aws CLI for PutObject) drops the extensions
 * and ends with its checksum: `…0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n`.
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER signs both, the trailers closing with
 * `x-amz-trailer-signature:<sig>\r\n`.
 *
 * Chunk i is signed over
 *   "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" sig(i-1) "\n" sha256("") "\n" sha256(data_i)
 * with sig(-1) the request's own (seed) signature, so chunks can be neither altered, reordered,
 * dropped nor appended. The trailer signature covers
 *   "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" sig(last) "\n" sha256(trailers)
 * where trailers are "name:value\n" each, sorted by name.
 */
import { sha256Hex } from './sha256.js'

export interface ChunkSigning {
  /** The request's timestamp (ISO 8601 basic) and credential scope, as in its string to sign. */
  amzDate: string
  scope: string
  /** The request's own signature: the first link of the chain. */
  seed: string
  /** Whether `signature` is the request key's HMAC of `stringToSign` (compared in constant time). */
  verify (stringToSign: string, signature: string): boolean
}

export interface ChunkedOptions {
  /** Present for the signed modes: every chunk (and the trailer, if any) must carry a signature. */
  signing?: ChunkSigning
  /** Whether trailing headers may follow the last chunk (the *-TRAILER modes). */
  trailers: boolean
}

export type ChunkedDecoding =
  | { ok: true, body: Buffer, trailers: Record<string, string> }
  | { ok: false, problem: 'malformed', message: string }
  | { ok: false, problem: 'signature', stringToSign: string, signatureProvided: string }

const CRLF = Buffer.from('\r\n')
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const TRAILER_SIGNATURE = 'x-amz-trailer-signature'

export function decodeAwsChunked (wire: Buffer, opts: ChunkedOptions): ChunkedDecoding {
  const parts: Buffer[] = []
  let previous = opts.signing?.seed ?? ''
  let pos = 0
  for (;;) {
    const eol = wire.indexOf(CRLF, pos)
    if (eol < 0) return malformed('a chunk header is not terminated by CRLF')
    const [sizeText = '', ...extensions] = wire.toString('latin1', pos, eol).split(';')
    // 16 hex digits already exceed any body we buffer; the length check below rejects them.
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) return malformed(`invalid chunk size '${sizeText}'`)
    const size = parseInt(sizeText, 16)
    pos = eol + 2
    if (size > wire.length - pos) return malformed('a chunk is longer than the rest of the body')
    const data = wire.subarray(pos, pos + size)
    if (opts.signing !== undefined) {
      const provided = extensionValue(extensions, 'chunk-signature') ?? ''
      const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', opts.signing.amzDate, opts.signing.scope,
        previous, EMPTY_SHA256, sha256Hex(data)].join('\n')
      if (!opts.signing.verify(stringToSign, provided)) {
        return { ok: false, problem: 'signature', stringToSign, signatureProvided: provided }
      }
      previous = provided
    }
    if (size === 0) break
    parts.push(data)
    pos += size
    if (!wire.subarray(pos, pos + 2).equals(CRLF)) return malformed('chunk data is not followed by CRLF')
    pos += 2
  }
  const trailers = parseTrailers(wire.toString('latin1', pos))
  if (typeof trailers === 'string') return malformed(trailers)
  const result = { ok: true as const, body: Buffer.concat(parts), trailers }
  const names = Object.keys(trailers)
  if (!opts.trailers) return names.length === 0 ? result : malformed('trailing headers in a payload mode without trailers')
  if (opts.signing === undefined) return names.includes(TRAILER_SIGNATURE) ? malformed('a trailer signature in an unsigned payload') : result

  const provided = trailers[TRAILER_SIGNATURE]
  if (provided === undefined) return malformed(`the trailing headers lack ${TRAILER_SIGNATURE}`)
  delete trailers[TRAILER_SIGNATURE]
  const canonical = Object.keys(trailers).sort().map(name => `${name}:${trailers[name]}\n`).join('')
  const stringToSign = ['AWS4-HMAC-SHA256-TRAILER', opts.signing.amzDate, opts.signing.scope,
    previous, sha256Hex(Buffer.from(canonical, 'latin1'))].join('\n')
  if (!opts.signing.verify(stringToSign, provided)) {
    return { ok: false, problem: 'signature', stringToSign, signatureProvided: provided }
  }
  return result
}

/**
 * Everything after the last chunk is trailer lines. Blank lines are skipped rather than taken as
 * the end: some clients end each checksum line with LF and add a CRLF of their own, and the SDK
 * omits the closing CRLF when it sends no trailer.
 */
function parseTrailers (text: string): Record<string, string> | string {
  const trailers: Record<string, string> = Object.create(null)
  for (const line of text.split('\n')) {
    const field = line.replace(/\r$/, '')
    if (field.trim() === '') continue
    const colon = field.indexOf(':')
    const name = field.slice(0, colon).trim().toLowerCase()
    if (colon <= 0 || name === '') return `malformed trailing header '${field}'`
    trailers[name] = field.slice(colon + 1).trim()
  }
  return trailers
}

function extensionValue (extensions: string[], name: string): string | undefined {
  for (const extension of extensions) {
    const eq = extension.indexOf('=')
    if (eq > 0 && extension.slice(0, eq).trim() === name) return extension.slice(eq + 1).trim()
  }
  return undefined
}

function malformed (message: string): ChunkedDecoding {
  return { ok: false, problem: 'malformed', message }
}
