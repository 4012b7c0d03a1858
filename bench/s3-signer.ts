// SigV4 for the small requests of bench/s3-client.ts: a PUT or GET of one object, path-style, with
// the payload's SHA-256 signed (as the SDK signs a Buffer body) and only the headers SigV4 needs
// (host, x-amz-content-sha256, x-amz-date). aws4 costs 45–70 µs per request here, and the client
// shares this 2-core VM with the server it measures; this costs about 20. The signing key is kept
// for its day. The path is signed as sent, so it must be in SigV4's canonical form: objectPath.
import { createHmac } from 'node:crypto'
import { sha256Hex } from '../core/sha256.js'

export interface SignerCredentials { accessKeyId: string, secretAccessKey: string }

const SIGNED_HEADERS = 'host;x-amz-content-sha256;x-amz-date'
const EMPTY_SHA256 = sha256Hex('')

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest()

/** `yyyymmddThhmmssZ` */
function amzDate (now: Date): string {
  const iso = now.toISOString()
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`
}

/**
 * `/<bucket>/<key>` with each key segment URI-encoded as SigV4 wants (RFC 3986: every byte but
 * A–Z a–z 0–9 - . _ ~), which encodeURIComponent alone is not: it leaves ! ' ( ) * as they are.
 */
export function objectPath (bucket: string, key: string): string {
  const segment = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `/${bucket}/${key.split('/').map(segment).join('/')}`
}

export function s3Signer (credentials: SignerCredentials, region: string, host: string): (method: string, path: string, body?: Buffer, now?: Date) => Record<string, string> {
  let day = ''
  let scope = ''
  let key: Buffer = Buffer.alloc(0)
  return (method, path, body, now = new Date()) => {
    const date = amzDate(now)
    if (date.slice(0, 8) !== day) {
      day = date.slice(0, 8)
      scope = `${day}/${region}/s3/aws4_request`
      key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), region), 's3'), 'aws4_request')
    }
    const payload = body === undefined || body.length === 0 ? EMPTY_SHA256 : sha256Hex(body)
    const canonical = `${method}\n${path}\n\nhost:${host}\nx-amz-content-sha256:${payload}\nx-amz-date:${date}\n\n${SIGNED_HEADERS}\n${payload}`
    const signature = createHmac('sha256', key).update(`AWS4-HMAC-SHA256\n${date}\n${scope}\n${sha256Hex(canonical)}`).digest('hex')
    return {
      host,
      'x-amz-content-sha256': payload,
      'x-amz-date': date,
      authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${SIGNED_HEADERS}, Signature=${signature}`
    }
  }
}
