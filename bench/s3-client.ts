// The load generator of `npm run bench:s3`, in its own process so it never shares an event loop
// with a server. bench/s3.ts writes one job as JSON on our stdin; we print progress on stderr and
// the figures as ONE JSON line on stdout.
//   small: PUT objects of `size` bytes at `concurrency` for `seconds`, then GET them for `seconds`
//   large: `count` sequential PUTs of `size` bytes, then `count` sequential GETs → MB/s (after one
//          unmeasured PUT and GET)
//   list:  fill a bucket with `keys` 0-byte objects, then time ListObjectsV2 pages (max-keys 1000)
//   disk:  raw sequential write of `mib` MiB in 1 MiB chunks, fdatasync every `syncEveryMib` MiB
// SDK client (bucket set-up, listing pages, and the small requests with `client: 'sdk'`):
// @aws-sdk/client-s3, path-style, no retries, one keep-alive agent with `concurrency` sockets,
// checksums only WHEN_REQUIRED (else the SDK computes a CRC32 of every body in JS, a client cost
// that would hide the server's).
// The 64 MiB objects go through undici, streamed and signed UNSIGNED-PAYLOAD as the SDK sends a
// stream body: through the SDK's stream handling one GET tops out near 450 MB/s here.
// `client: 'raw'` sends the small PUTs and GETs (and the listing's fill) through an undici Pool of
// `concurrency` keep-alive connections, each request signed by s3-signer.ts (payload SHA-256
// included, as the SDK signs a Buffer body). Both are chosen for their cost: the SDK's middleware
// stack takes about a millisecond of CPU per request here, http.request with @smithy/signature-v4
// about 230 µs (55 of them signing), undici with aws4 80–110 µs, and undici with s3-signer.ts about
// 55 µs (34 of them undici's). On a 2-core VM the client takes that from the server it measures;
// the null server's row is the client's ceiling, not the server's.
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import aws4 from 'aws4'
import { randomBytes } from 'node:crypto'
import { closeSync, fdatasyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Pool } from 'undici'
import { objectPath, s3Signer } from './s3-signer.js'

export interface Endpoint { endpoint: string, region: string, accessKeyId: string, secretAccessKey: string, bucket: string }
export type ClientKind = 'sdk' | 'raw'
export type Job =
  | Endpoint & { kind: 'small', client: ClientKind, seconds: number, warmupSeconds: number, concurrency: number, size: number, prefix: string }
  | Endpoint & { kind: 'large', size: number, count: number, prefix: string }
  | Endpoint & { kind: 'list', client: ClientKind, keys: number, concurrency: number, samples: number }
  | { kind: 'disk', dir: string, mib: number, syncEveryMib: number }

export interface Phase { ops: number, count: number, errors: number, firstError?: string, p50: number, p99: number, seconds: number }
export interface SmallResult { put: Phase, get: Phase }
export interface LargeResult { putMBps: number, getMBps: number, putSeconds: number[], getSeconds: number[] }
export interface ListResult { keys: number, populateSeconds: number, populateOps: number, firstCallMs: number, firstMs: number, middleMs: number, firstP90Ms: number, middleP90Ms: number, firstKeyCount: number, middleKeyCount: number }
export interface DiskResult { MBps: number, seconds: number }

const now = (): number => Number(process.hrtime.bigint()) / 1e6
const pct = (sorted: number[], p: number): number => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
const median = (xs: number[]): number => pct([...xs].sort((a, b) => a - b), 0.5)
const pad = (i: number): string => String(i).padStart(8, '0')

function client (e: Endpoint, concurrency: number): S3Client {
  return new S3Client({
    endpoint: e.endpoint,
    region: e.region,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    forcePathStyle: true,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency }),
      connectionTimeout: 10_000,
      requestTimeout: 300_000
    })
  })
}

/** PUT and GET of whole small objects, through the SDK or as raw signed requests. */
interface SmallOps { put: (key: string, body: Buffer) => Promise<void>, get: (key: string) => Promise<number>, close: () => void }

function sdkOps (e: Endpoint, concurrency: number): SmallOps {
  const s3 = client(e, concurrency)
  return {
    put: async (key, body) => { await s3.send(new PutObjectCommand({ Bucket: e.bucket, Key: key, Body: body })) },
    get: async key => {
      const r = await s3.send(new GetObjectCommand({ Bucket: e.bucket, Key: key }))
      return (await r.Body?.transformToByteArray())?.length ?? 0
    },
    close: () => { s3.destroy() }
  }
}

function rawOps (e: Endpoint, concurrency: number): SmallOps {
  const u = new URL(e.endpoint)
  const pool = new Pool(e.endpoint, { connections: concurrency, pipelining: 1 })
  const sign = s3Signer({ accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey }, e.region, u.host)
  const send = async (method: 'PUT' | 'GET', key: string, body?: Buffer): Promise<number> => {
    const path = objectPath(e.bucket, key)
    const res = await pool.request({ method, path, headers: sign(method, path, body), body })
    let n = 0
    const chunks: Buffer[] = []
    for await (const d of res.body) { n += (d as Buffer).length; if (res.statusCode !== 200) chunks.push(d as Buffer) }
    if (res.statusCode !== 200) throw new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`)
    return n
  }
  return {
    put: async (key, body) => { await send('PUT', key, body) },
    get: async key => await send('GET', key),
    close: () => { void pool.destroy() }
  }
}

const smallOps = (e: Endpoint, kind: ClientKind, concurrency: number): SmallOps => kind === 'raw' ? rawOps(e, concurrency) : sdkOps(e, concurrency)

async function ensureBucket (s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  } catch (e) {
    const name = (e as Error).name
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw e
  }
}

/**
 * `concurrency` workers, each sending its next operation as soon as the last one answered, until
 * `seconds` have passed (or `total` operations were started). Returns the figures of the ones
 * that succeeded; gives up after 100 errors.
 */
async function closedLoop (concurrency: number, seconds: number, total: number, op: (i: number) => Promise<void>): Promise<Phase & { done: number[] }> {
  const lat: number[] = []
  const done: number[] = []
  let next = 0
  let errors = 0
  let firstError: string | undefined
  const start = now()
  const until = start + seconds * 1000
  const worker = async (): Promise<void> => {
    while (now() < until && next < total && errors < 100) {
      const i = next++
      const t0 = now()
      try {
        await op(i)
        lat.push(now() - t0)
        done.push(i)
      } catch (e) {
        errors++
        firstError ??= `${(e as Error).name}: ${(e as Error).message}`
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (now() - start) / 1000
  lat.sort((a, b) => a - b)
  if (lat.length === 0) throw new Error(`no operation succeeded (${errors} errors; first: ${String(firstError)})`)
  return { ops: lat.length / elapsed, count: lat.length, errors, firstError, p50: pct(lat, 0.5), p99: pct(lat, 0.99), seconds: elapsed, done }
}

async function small (job: Extract<Job, { kind: 'small' }>): Promise<SmallResult> {
  const setup = client(job, 1)
  await ensureBucket(setup, job.bucket)
  setup.destroy()
  const ops = smallOps(job, job.client, job.concurrency)
  const body = randomBytes(job.size)
  const key = (i: number): string => `${job.prefix}/${pad(i)}`
  const put = async (i: number): Promise<void> => { await ops.put(key(i), body) }
  // Warm-up: connections open, JIT warm, the server's first-write paths taken; these keys are read too.
  const warm = await closedLoop(job.concurrency, job.warmupSeconds, Infinity, put)
  const offset = warm.count + warm.errors + job.concurrency
  const putPhase = await closedLoop(job.concurrency, job.seconds, Infinity, async i => { await put(offset + i) })
  const written = [...warm.done, ...putPhase.done.map(i => offset + i)]
  // Read them in a shuffled order, each at most once per pass.
  for (let i = written.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [written[i], written[j]] = [written[j], written[i]]
  }
  const getPhase = await closedLoop(job.concurrency, job.seconds, Infinity, async i => {
    const got = await ops.get(key(written[i % written.length]))
    if (got !== job.size) throw new Error(`GET returned ${got} bytes, expected ${job.size}`)
  })
  ops.close()
  const strip = ({ done, ...p }: Phase & { done: number[] }): Phase => p
  return { put: strip(putPhase), get: strip(getPhase) }
}

async function large (job: Extract<Job, { kind: 'large' }>): Promise<LargeResult> {
  const s3 = client(job, 1)
  await ensureBucket(s3, job.bucket)
  s3.destroy()
  const u = new URL(job.endpoint)
  const pool = new Pool(job.endpoint, { connections: 1 })
  const credentials = { accessKeyId: job.accessKeyId, secretAccessKey: job.secretAccessKey }
  const body = randomBytes(job.size)
  const key = (i: number): string => `${job.prefix}/${pad(i)}`
  // Signed as the SDK signs a body it streams: UNSIGNED-PAYLOAD, Content-Length known.
  const request = async (method: 'PUT' | 'GET', i: number): Promise<number> => {
    const path = `/${job.bucket}/${key(i)}`
    const headers: Record<string, string> = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }
    if (method === 'PUT') headers['content-length'] = String(body.length)
    const signed = aws4.sign({ host: u.host, method, path, service: 's3', region: job.region, headers }, credentials)
    let n = 0
    let status = 0
    // undici's stream(): the response body goes straight into a counting sink, no Readable per response.
    await pool.stream({ method, path, headers: signed.headers as Record<string, string>, body: method === 'PUT' ? body : undefined }, ({ statusCode }) => {
      status = statusCode
      return new Writable({ write: (chunk: Buffer, _enc, done) => { n += chunk.length; done() } })
    })
    if (status !== 200) throw new Error(`${method} ${path}: ${status}`)
    return n
  }
  // One PUT and GET first, unmeasured: JIT, the first segment files and the connection are the
  // same for every target, and not what a sequential transfer rate is about.
  await request('PUT', job.count)
  await request('GET', job.count)
  const putSeconds: number[] = []
  const getSeconds: number[] = []
  for (let i = 0; i < job.count; i++) {
    const t0 = now()
    await request('PUT', i)
    putSeconds.push((now() - t0) / 1000)
  }
  for (let i = 0; i < job.count; i++) {
    const t0 = now()
    const n = await request('GET', i)
    getSeconds.push((now() - t0) / 1000)
    if (n !== job.size) throw new Error(`GET ${key(i)} returned ${n} bytes, expected ${job.size}`)
  }
  await pool.close()
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
  return { putMBps: job.count * job.size / sum(putSeconds) / 1e6, getMBps: job.count * job.size / sum(getSeconds) / 1e6, putSeconds, getSeconds }
}

async function list (job: Extract<Job, { kind: 'list' }>): Promise<ListResult> {
  const s3 = client(job, 1)
  await ensureBucket(s3, job.bucket)
  const ops = smallOps(job, job.client, job.concurrency)
  const key = (i: number): string => `key/${pad(i)}`
  const empty = Buffer.alloc(0)
  const fill = { value: 0 }
  const t0 = now()
  let last = t0
  const progress = setInterval(() => {
    const t = now()
    if (t - last < 5000) return
    last = t
    process.stderr.write(`  ${job.bucket}: ${fill.value}/${job.keys} keys after ${((t - t0) / 1000).toFixed(0)} s\n`)
  }, 1000)
  let pop: Phase
  try {
    pop = await closedLoop(job.concurrency, Infinity, job.keys, async i => {
      await ops.put(key(i), empty)
      fill.value++
    })
  } finally {
    clearInterval(progress)
    ops.close()
  }
  if (pop.errors > 0) throw new Error(`populating ${job.bucket}: ${pop.errors} PUTs failed (first: ${String(pop.firstError)})`)
  const page = async (startAfter?: string): Promise<[number, number]> => {
    const t = now()
    const r = await s3.send(new ListObjectsV2Command({ Bucket: job.bucket, MaxKeys: 1000, StartAfter: startAfter }))
    return [now() - t, r.KeyCount ?? r.Contents?.length ?? 0]
  }
  const middle = key(Math.floor(job.keys / 2))
  // The first page after the writes includes catching the listing view up with them.
  const [firstCallMs] = await page()
  for (let i = 0; i < 3; i++) { await page(); await page(middle) }
  const first: number[] = []
  const mid: number[] = []
  let firstKeyCount = 0
  let middleKeyCount = 0
  for (let i = 0; i < job.samples; i++) {
    const [a, na] = await page()
    const [b, nb] = await page(middle)
    first.push(a); mid.push(b); firstKeyCount = na; middleKeyCount = nb
  }
  s3.destroy()
  const p90 = (xs: number[]): number => pct([...xs].sort((a, b) => a - b), 0.9)
  return {
    keys: job.keys,
    populateSeconds: pop.seconds,
    populateOps: pop.ops,
    firstCallMs,
    firstMs: median(first),
    middleMs: median(mid),
    firstP90Ms: p90(first),
    middleP90Ms: p90(mid),
    firstKeyCount,
    middleKeyCount
  }
}

function disk (job: Extract<Job, { kind: 'disk' }>): DiskResult {
  mkdirSync(job.dir, { recursive: true })
  const file = join(job.dir, `disk-${process.pid}.bin`)
  const chunk = randomBytes(1024 * 1024)
  const fd = openSync(file, 'w')
  try {
    const t0 = now()
    for (let i = 1; i <= job.mib; i++) {
      writeSync(fd, chunk)
      if (i % job.syncEveryMib === 0 || i === job.mib) fdatasyncSync(fd)
    }
    const seconds = (now() - t0) / 1000
    return { MBps: job.mib * 1024 * 1024 / seconds / 1e6, seconds }
  } finally {
    closeSync(fd)
    rmSync(file, { force: true })
  }
}

async function readStdin (): Promise<string> {
  let s = ''
  for await (const chunk of process.stdin) s += (chunk as Buffer).toString()
  return s
}

const job = JSON.parse(await readStdin()) as Job
let result: unknown
switch (job.kind) {
  case 'small': result = await small(job); break
  case 'large': result = await large(job); break
  case 'list': result = await list(job); break
  case 'disk': result = disk(job); break
}
process.stdout.write(JSON.stringify(result) + '\n')
