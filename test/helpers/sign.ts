import { SignatureV4 } from '@smithy/signature-v4'
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import type { TestNode } from './node.js'

type SourceData = string | ArrayBuffer | ArrayBufferView

function bytes (d: SourceData): string | Uint8Array {
  if (typeof d === 'string') return d
  return ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d)
}

/** node:crypto in the shape @smithy/signature-v4 wants (HMAC when given a secret). */
export class Sha256 {
  private readonly h: Hash | Hmac
  constructor (secret?: SourceData) { this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret)) }
  update (data: SourceData): void { this.h.update(bytes(data)) }
  async digest (): Promise<Uint8Array> { return this.h.digest() }
}

export interface RawResponse { status: number, headers: Headers, text: string }

export interface SignedRequestOptions {
  service?: string
  method?: string
  path?: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: string | Buffer
  signingDate?: Date
  credentials?: { accessKeyId: string, secretAccessKey: string }
  /** Changes the request after signing, to test that tampering is caught. */
  tamper?: (req: { headers: Record<string, string>, body: string | Buffer | undefined }) => void
}

/** Sends one request signed with the real SigV4 signer the AWS SDKs use. */
export async function signedFetch (node: TestNode, o: SignedRequestOptions = {}): Promise<RawResponse> {
  const u = new URL(node.endpoint)
  const body = o.body
  const signer = new SignatureV4({ service: o.service ?? 'ec2', region: node.region, credentials: o.credentials ?? node.credentials, sha256: Sha256 })
  const signed = await signer.sign({
    method: o.method ?? 'POST',
    protocol: 'http:',
    hostname: u.hostname,
    port: Number(u.port),
    path: o.path ?? '/',
    query: o.query ?? {},
    headers: { host: u.host, ...(o.headers ?? { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }) },
    body
  }, o.signingDate !== undefined ? { signingDate: o.signingDate } : {})
  const req = { headers: { ...signed.headers } as Record<string, string>, body }
  o.tamper?.(req)
  delete req.headers.host
  const qs = new URLSearchParams(o.query ?? {}).toString()
  const res = await fetch(`${node.endpoint}${o.path ?? '/'}${qs === '' ? '' : `?${qs}`}`, { method: o.method ?? 'POST', headers: req.headers, body: typeof req.body === 'string' || req.body === undefined ? req.body : new Uint8Array(req.body) })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

/** `<Code>X</Code>` of an EC2/query/S3 XML error body. */
export function errorCode (xml: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(xml)?.[1]
}
