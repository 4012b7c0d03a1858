/** What the s3 tests share: an SDK client for a node, error assertions and raw signed S3 requests. */
import { S3Client } from '@aws-sdk/client-s3'
import { createHash } from 'node:crypto'
import type { Test } from 'tap'
import { sdkConfig, type TestNode } from '../helpers/node.js'
import { signedFetch, type RawResponse } from '../helpers/sign.js'

export function s3Client (node: TestNode): S3Client {
  return new S3Client({ ...sdkConfig(node), forcePathStyle: true })
}

interface SdkError { name?: string, Code?: string, $metadata?: { httpStatusCode?: number }, [k: string]: unknown }

/**
 * Awaits a call that must fail with S3 error `code` and HTTP `status`; returns the error for more
 * checks. A 304 has no body, so the SDK can tell only its status (code undefined).
 */
export async function rejectsWith (t: Test, call: Promise<unknown>, code: string | undefined, status: number): Promise<SdkError> {
  try {
    await call
  } catch (e) {
    const err = e as SdkError
    if (code !== undefined) t.equal(err.name, code, `error code ${code}`)
    t.equal(err.$metadata?.httpStatusCode, status, `HTTP status ${status}`)
    return err
  }
  t.fail(`expected ${code} (${status}), but the call succeeded`)
  return {}
}

export interface RawS3Request {
  method?: string
  path: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: string | Buffer
}

/** One S3 request signed as the SDK signs it, answered raw: for errors' extra members and exact headers. */
export async function rawS3 (node: TestNode, r: RawS3Request): Promise<RawResponse> {
  return await signedFetch(node, {
    service: 's3',
    method: r.method ?? 'GET',
    path: r.path,
    query: r.query ?? {},
    headers: r.headers ?? {},
    ...(r.body === undefined ? {} : { body: r.body })
  })
}

/** `<Name>value</Name>` of an XML document. */
export function xmlValue (xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1]
}

export function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export function md5 (data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex')
}

/** Deterministic bytes that differ at every offset, so a misplaced range shows. */
export function pattern (size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    b[i] = x & 0xff
  }
  return b
}
