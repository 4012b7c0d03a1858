// npm run bench:s3 — Hive's S3 against s3rver (npm) and the disk, in one run on this machine.
// Every server is a child process and so is the load generator (bench/s3-client.ts, one process per
// measurement); loads only hit 127.0.0.1.
//   targets: Hive on one node (--cap s3, embedded NATS); Hive on three nodes RS(2,1) (three
//            `hive serve` on one external nats-server, the client talks to the first); s3rver
//   small:   PUT 4 KiB objects at concurrency 64 for BENCH_SECONDS, then GET them as long → ops/s,
//            p50/p99 (median of BENCH_ROUNDS interleaved rounds)
//   large:   BENCH_LARGE_COUNT sequential PUTs of 64 MiB, then GETs of them → MB/s (1 MB = 10^6 B),
//            after one unmeasured PUT and GET; beside the raw sequential write speed of the
//            filesystem holding the data dirs
//   list:    ListObjectsV2 pages (max-keys 1000) on Hive one node at 1k and BENCH_LIST_KEYS keys
// Last line: {"s3_small_put_vs_s3rver", "s3_small_get_vs_s3rver", "s3_large_put_vs_disk", "s3_list_100k_vs_1k", …}.
// A null HTTP server (200 to everything; a GET gets 4 KiB or 64 MiB) takes every round too: the
// client's own ceiling on this machine, so a figure near it says the client was the limit.
// The floor (bench/s3-floor.ts) takes the 4 KiB rounds: fastify, SigV4, an MD5 and a durable
// write-ahead-log append per PUT, and one JetStream KV write or read per request, through the
// core's own code, nothing else — the most requests a server of Hive's shape (an edge in fastify,
// durable PUTs, objects committed to JetStream KV) can answer here, whatever the rest of it costs.
// BENCH_CLIENT=raw (default) sends the 4 KiB requests and the listing's fill through an undici pool
// signed by bench/s3-signer.ts, and the 64 MiB objects through undici; BENCH_CLIENT=sdk sends the 4 KiB
// requests through @aws-sdk/client-s3, whose ~1 ms of CPU per request caps one client process near
// the figures being measured on this 2-core VM (the null row shows it). Bucket set-up and the
// listing pages always go through @aws-sdk/client-s3.
// BENCH_TARGETS=hive1,hive3,s3rver,null,floor chooses targets; BENCH_LIST_KEYS=0 skips the listing part,
// BENCH_LARGE_COUNT=0 the 64 MiB part.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { startEmbeddedNats, type EmbeddedNats } from '../core/nats-server.js'
import type { ClientKind, DiskResult, Endpoint, Job, LargeResult, ListResult, Phase, SmallResult } from './s3-client.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLIENT = join(ROOT, 'bench/s3-client.ts')
const num = (name: string, dflt: number): number => { const v = Number(process.env[name] ?? dflt); return Number.isFinite(v) ? v : dflt }
const SECONDS = num('BENCH_SECONDS', 5)
const ROUNDS = Math.max(1, num('BENCH_ROUNDS', 3))
const CONCURRENCY = 64
const SMALL = 4096
const LARGE = 64 * 1024 * 1024
const LARGE_COUNT = Math.max(0, num('BENCH_LARGE_COUNT', 3))
const DISK_MIB = 256
const DISK_SYNC_MIB = 64
const LIST_KEYS = num('BENCH_LIST_KEYS', 100_000)
const LIST_SMALL = 1000
const LIST_SAMPLES = 15
const TIMEOUT_S = num('BENCH_TIMEOUT', 3600)
const CLIENT_KIND: ClientKind = process.env.BENCH_CLIENT === 'sdk' ? 'sdk' : 'raw'
const TARGETS = new Set((process.env.BENCH_TARGETS ?? 'hive1,hive3,s3rver,null,floor').split(',').map(s => s.trim()))

interface Server extends Omit<Endpoint, 'bucket'> { id: string, name: string, stop: () => Promise<void> }

// ── child processes: each in its own process group, all ended on the way out ──────────────────
const live = new Set<ChildProcess>()
const tempDirs = new Set<string>()

function killGroup (proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return
  try { process.kill(-proc.pid, signal) } catch { try { proc.kill(signal) } catch {} }
}

async function stopProc (proc: ChildProcess, graceMs = 15_000): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise(resolve => proc.once('exit', resolve))
    killGroup(proc, 'SIGTERM')
    const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
  live.delete(proc)
}

// Last resort when we exit without the finally block (an uncaught error, a signal): no orphans.
// An external nats-server started by startEmbeddedNats stops by itself once our end of its pipe closes.
process.on('exit', () => {
  for (const p of live) killGroup(p, 'SIGKILL')
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
})

function log (msg: string): void { process.stderr.write(`bench:s3: ${msg}\n`) }

/** Spawns `node args…` in its own process group and waits until `pattern` shows on `stream`. */
async function spawnServer (args: string[], env: Record<string, string>, pattern: RegExp, stream: 'stdout' | 'stderr'): Promise<{ proc: ChildProcess, match: RegExpExecArray }> {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  live.add(proc)
  let out = ''
  let seen = ''
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-4000) }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  try {
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${args.slice(0, 2).join(' ')} did not start in 60 s:\n${out}`)), 60_000)
      proc.once('exit', code => { clearTimeout(timer); reject(new Error(`${args.slice(0, 2).join(' ')} exited ${String(code)}:\n${out}`)) })
      proc[stream]?.on('data', (d: Buffer) => {
        seen += d.toString()
        const m = pattern.exec(seen)
        if (m !== null) { clearTimeout(timer); resolve(m) }
      })
    })
    proc.removeAllListeners('exit')
    return { proc, match }
  } catch (e) {
    await stopProc(proc, 2000)
    throw e
  }
}

async function startHive (name: string, id: string, home: string, nodeId: string, extra: string[]): Promise<Server & { proc: ChildProcess }> {
  const dataDir = join(home, 'data')
  mkdirSync(home, { recursive: true })
  const { proc, match } = await spawnServer(
    [join(ROOT, 'bin/hive.js'), 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--node-id', nodeId, '--cap', 's3', ...extra],
    { HOME: home, HIVE_LOG_LEVEL: 'warn' }, /serving (http:\/\/[\d.]+:\d+) on nats/, 'stderr')
  const config = JSON.parse(readFileSync(join(dataDir, 'hive.json'), 'utf8')) as Record<string, string>
  return {
    id,
    name,
    proc,
    endpoint: match[1],
    region: config.region,
    accessKeyId: config.rootAccessKeyId,
    secretAccessKey: config.rootSecretAccessKey,
    stop: async () => { await stopProc(proc) }
  }
}

async function startS3rver (dir: string): Promise<Server> {
  mkdirSync(dir, { recursive: true })
  const { proc, match } = await spawnServer(
    [join(ROOT, 'node_modules/s3rver/bin/s3rver.js'), '-d', dir, '-a', '127.0.0.1', '-p', '0', '--silent', '--no-vhost-buckets'],
    {}, /S3rver listening on ([\d.]+):(\d+)/, 'stdout')
  // s3rver's built-in account.
  return { id: 's3rver', name: 's3rver', endpoint: `http://127.0.0.1:${match[2]}`, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', stop: async () => { await stopProc(proc, 5000) } }
}

// Answers 200 to everything, reading the request body first; a GET gets 4 KiB, or 64 MiB in the
// bench-large bucket: what the client alone can do.
const NULL_SERVER = `
const small = Buffer.alloc(${SMALL}, 120)
const large = Buffer.alloc(${LARGE}, 120)
require('node:http').createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    const body = req.method !== 'GET' ? undefined : req.url.startsWith('/bench-large/') ? large : small
    res.writeHead(200, { etag: '"0"', 'content-length': body === undefined ? 0 : body.length })
    res.end(body)
  })
}).listen(0, '127.0.0.1', function () { console.log('null listening on ' + this.address().port) })`

async function startNull (): Promise<Server> {
  const { proc, match } = await spawnServer(['-e', NULL_SERVER], {}, /null listening on (\d+)/, 'stdout')
  return { id: 'null', name: 'null http server', endpoint: `http://127.0.0.1:${match[1]}`, region: 'us-east-1', accessKeyId: 'null', secretAccessKey: 'null', stop: async () => { await stopProc(proc, 5000) } }
}

async function startFloor (dir: string): Promise<Server> {
  const { proc, match } = await spawnServer(['--no-warnings', '--import', 'tsx', join(ROOT, 'bench/s3-floor.ts'), dir], {}, /floor listening on (http:\/\/[\d.]+:\d+)/, 'stdout')
  return { id: 'floor', name: 'floor', endpoint: match[1], region: 'us-east-1', accessKeyId: 'floor', secretAccessKey: 'floor', stop: async () => { await stopProc(proc, 5000) } }
}

/** Runs one job in a fresh client process; its stderr (progress) goes to ours, its last stdout line is the result. */
async function runClient<T> (job: Job, timeoutS: number): Promise<T> {
  const proc = spawn(process.execPath, ['--no-warnings', '--import', 'tsx', CLIENT], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  live.add(proc)
  let out = ''
  let err = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); process.stderr.write(d) })
  proc.stdin?.end(JSON.stringify(job))
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; killGroup(proc, 'SIGKILL') }, timeoutS * 1000)
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  clearTimeout(timer)
  live.delete(proc)
  if (timedOut) throw new Error(`client (${job.kind}) timed out after ${timeoutS} s`)
  if (code !== 0) throw new Error(`client (${job.kind}) exited ${String(code)}: ${err.trim().split('\n').slice(-3).join(' | ')}`)
  return JSON.parse(out.trim().split('\n').at(-1) ?? '') as T
}

const endpointOf = (s: Server, bucket: string): Endpoint => ({ endpoint: s.endpoint, region: s.region, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, bucket })
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor(s.length / 2)] }
const medianPhase = (ps: Phase[]): Phase => ({
  ops: median(ps.map(p => p.ops)),
  count: median(ps.map(p => p.count)),
  errors: ps.reduce((a, p) => a + p.errors, 0),
  firstError: ps.find(p => p.firstError !== undefined)?.firstError,
  p50: median(ps.map(p => p.p50)),
  p99: median(ps.map(p => p.p99)),
  seconds: median(ps.map(p => p.seconds))
})
const r3 = (x: number | undefined): number | null => x === undefined || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000
const ratio = (a: number | undefined, b: number | undefined): number | undefined => a === undefined || b === undefined ? undefined : a / b

// ── the run ─────────────────────────────────────────────────────────────────────────────────────
const base = mkdtempSync(join(tmpdir(), 'hive-s3-bench-'))
tempDirs.add(base)
const servers: Server[] = []
let nats: EmbeddedNats | undefined
const failures: string[] = []
const small = new Map<string, SmallResult[]>()
const large = new Map<string, LargeResult[]>()
const disk: DiskResult[] = []
let list1k: ListResult | undefined
let listBig: ListResult | undefined
let cleaning: Promise<void> | undefined

async function cleanup (): Promise<void> {
  cleaning ??= (async () => {
    for (const s of servers.splice(0)) await s.stop().catch(() => {})
    await nats?.stop().catch(() => {})
    nats = undefined
    for (const p of [...live]) await stopProc(p, 5000)
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
    tempDirs.clear()
  })()
  await cleaning
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => { log(`${sig}: stopping servers`); void cleanup().finally(() => process.exit(130)) })
}
const deadline = setTimeout(() => {
  log(`still running after BENCH_TIMEOUT=${TIMEOUT_S} s: giving up`)
  void cleanup().finally(() => process.exit(1))
}, TIMEOUT_S * 1000)
deadline.unref()

async function attempt (what: string, fn: () => Promise<void>): Promise<boolean> {
  if (cleaning !== undefined) return false // stopping: start nothing new
  try {
    await fn()
    return true
  } catch (e) {
    const msg = `${what}: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`
    failures.push(msg)
    log(`FAILED ${msg}`)
    return false
  }
}

try {
  // ── servers ──
  if (TARGETS.has('hive1')) {
    await attempt('start hive 1 node', async () => { servers.push(await startHive('hive 1 node', 'hive1', join(base, 'single'), 'bench-single', [])) })
  }
  if (TARGETS.has('hive3')) {
    await attempt('start hive 3 nodes', async () => {
      nats = await startEmbeddedNats(join(base, 'nats'), pino({ level: 'warn' }))
      const args = ['--nats', nats.url, '--s3-code', '2+1']
      const nodes: Array<Server & { proc: ChildProcess }> = []
      try {
        for (const n of ['a', 'b', 'c']) nodes.push(await startHive(`node ${n}`, `hive3-${n}`, join(base, `node-${n}`), `bench-s3-${n}`, args))
      } catch (e) {
        for (const n of nodes) await n.stop()
        throw e
      }
      servers.push({ ...nodes[0], id: 'hive3', name: 'hive 3 nodes RS(2,1)', stop: async () => { for (const n of nodes) await n.stop() } })
    })
  }
  if (TARGETS.has('s3rver')) {
    await attempt('start s3rver', async () => { servers.push(await startS3rver(join(base, 's3rver'))) })
  }
  if (TARGETS.has('null')) {
    await attempt('start null http server', async () => { servers.push(await startNull()) })
  }
  if (TARGETS.has('floor')) {
    await attempt('start floor', async () => { servers.push(await startFloor(join(base, 'floor'))) })
  }
  log(`client: ${CLIENT_KIND}; targets: ${servers.map(s => `${s.name} ${s.endpoint}`).join(', ')}`)

  // ── 4 KiB at concurrency 64: interleaved rounds (this VM drifts; a ratio of runs taken minutes
  // apart would measure the drift) ──
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of servers) {
      log(`4 KiB PUT+GET, round ${round + 1}/${ROUNDS}: ${s.name}`)
      await attempt(`4 KiB on ${s.name}`, async () => {
        const r = await runClient<SmallResult>({ kind: 'small', client: CLIENT_KIND, ...endpointOf(s, 'bench-small'), seconds: SECONDS, warmupSeconds: 1, concurrency: CONCURRENCY, size: SMALL, prefix: `r${round}` }, 4 * SECONDS + 180)
        small.set(s.id, [...small.get(s.id) ?? [], r])
      })
    }
  }

  // ── 64 MiB sequential, beside the raw disk write of the same filesystem ──
  if (LARGE_COUNT > 0) {
    for (let round = 0; round < ROUNDS; round++) {
      log(`raw disk write ${DISK_MIB} MiB, round ${round + 1}/${ROUNDS}`)
      await attempt('raw disk write', async () => { disk.push(await runClient<DiskResult>({ kind: 'disk', dir: join(base, 'disk'), mib: DISK_MIB, syncEveryMib: DISK_SYNC_MIB }, 300)) })
      for (const s of servers.filter(s => s.id !== 'floor')) {
        log(`64 MiB PUT+GET ×${LARGE_COUNT}, round ${round + 1}/${ROUNDS}: ${s.name}`)
        await attempt(`64 MiB on ${s.name}`, async () => {
          const r = await runClient<LargeResult>({ kind: 'large', ...endpointOf(s, 'bench-large'), size: LARGE, count: LARGE_COUNT, prefix: `r${round}` }, 600)
          large.set(s.id, [...large.get(s.id) ?? [], r])
        })
      }
    }
  }

  // ── listing, Hive one node alone: the others are stopped first ──
  for (const s of servers.filter(s => s.id !== 'hive1')) { await s.stop(); servers.splice(servers.indexOf(s), 1) }
  await nats?.stop()
  nats = undefined
  const hive1 = servers.find(s => s.id === 'hive1')
  if (hive1 !== undefined && LIST_KEYS > 0) {
    log(`ListObjectsV2: filling a bucket with ${LIST_SMALL} keys`)
    await attempt('list 1k', async () => { list1k = await runClient<ListResult>({ kind: 'list', client: CLIENT_KIND, ...endpointOf(hive1, 'bench-list-1k'), keys: LIST_SMALL, concurrency: CONCURRENCY, samples: LIST_SAMPLES }, 600) })
    if (LIST_KEYS > LIST_SMALL) {
      log(`ListObjectsV2: filling a bucket with ${LIST_KEYS} keys (0-byte PUTs at concurrency ${CONCURRENCY})`)
      await attempt(`list ${LIST_KEYS}`, async () => { listBig = await runClient<ListResult>({ kind: 'list', client: CLIENT_KIND, ...endpointOf(hive1, 'bench-list-big'), keys: LIST_KEYS, concurrency: CONCURRENCY, samples: LIST_SAMPLES }, Math.max(1800, LIST_KEYS / 50)) })
    }
  }
} finally {
  await cleanup()
  clearTimeout(deadline)
}

// ── report ──────────────────────────────────────────────────────────────────────────────────────
const NAMES: Record<string, string> = { hive1: 'hive 1 node', hive3: 'hive 3 nodes RS(2,1)', s3rver: 's3rver', null: 'null http (ceiling)', floor: 'floor' }
const sm = (id: string): { put: Phase, get: Phase } | undefined => {
  const rs = small.get(id)
  return rs === undefined ? undefined : { put: medianPhase(rs.map(r => r.put)), get: medianPhase(rs.map(r => r.get)) }
}
const lg = (id: string): { put: number, get: number } | undefined => {
  const rs = large.get(id)
  return rs === undefined ? undefined : { put: median(rs.map(r => r.putMBps)), get: median(rs.map(r => r.getMBps)) }
}
const diskMBps = disk.length === 0 ? undefined : median(disk.map(d => d.MBps))
const f = (x: number | undefined, d = 0, w = 8): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d)).padStart(w)

console.log(`S3 (client: ${CLIENT_KIND === 'sdk' ? '@aws-sdk/client-s3' : 'undici, signed by bench/s3-signer.ts'}): 4 KiB objects at concurrency ${CONCURRENCY}, ${SECONDS} s per phase; ${LARGE_COUNT > 0 ? `${LARGE_COUNT} × 64 MiB sequential` : 'no 64 MiB part'}; median of ${ROUNDS} interleaved rounds; MB = 10^6 B`)
console.log('target                  4K PUT/s  p50 ms  p99 ms  4K GET/s  p50 ms  p99 ms  64M PUT MB/s  64M GET MB/s')
for (const id of ['hive1', 'hive3', 's3rver', 'null', 'floor']) {
  const s = sm(id)
  const l = lg(id)
  if (s === undefined && l === undefined) continue
  console.log(`${NAMES[id].padEnd(22)} ${f(s?.put.ops, 0, 9)} ${f(s?.put.p50, 2, 7)} ${f(s?.put.p99, 2, 7)} ${f(s?.get.ops, 0, 9)} ${f(s?.get.p50, 2, 7)} ${f(s?.get.p99, 2, 7)} ${f(l?.put, 0, 13)} ${f(l?.get, 0, 13)}` +
    ((s?.put.errors ?? 0) + (s?.get.errors ?? 0) > 0 ? `  (${(s?.put.errors ?? 0) + (s?.get.errors ?? 0)} errors: ${s?.put.firstError ?? s?.get.firstError ?? ''})` : ''))
}
if (disk.length > 0) console.log(`raw disk write, ${DISK_MIB} MiB in 1 MiB writes, fdatasync every ${DISK_SYNC_MIB} MiB: ${f(diskMBps, 0, 0)} MB/s (runs: ${disk.map(d => d.MBps.toFixed(0)).join(', ')})`)
for (const l of [list1k, listBig]) {
  if (l === undefined) continue
  console.log(`ListObjectsV2 max-keys 1000, hive 1 node, ${l.keys} keys: first page ${l.firstMs.toFixed(2)} ms (p90 ${l.firstP90Ms.toFixed(2)}, ${l.firstKeyCount} keys), ` +
    `start-after middle ${l.middleMs.toFixed(2)} ms (p90 ${l.middleP90Ms.toFixed(2)}, ${l.middleKeyCount} keys); first call after the fill ${l.firstCallMs.toFixed(1)} ms; filled at ${l.populateOps.toFixed(0)} PUT/s in ${l.populateSeconds.toFixed(0)} s`)
}

const h1 = sm('hive1')
const h3 = sm('hive3')
const rv = sm('s3rver')
const putVs = ratio(h1?.put.ops, rv?.put.ops)
const getVs = ratio(h1?.get.ops, rv?.get.ops)
const largeVsDisk = ratio(lg('hive1')?.put, diskMBps)
const getGBps = lg('hive1') === undefined ? undefined : (lg('hive1')?.get ?? 0) / 1000
const listBigMs = listBig === undefined ? undefined : Math.max(listBig.firstMs, listBig.middleMs)
const listVs = ratio(listBigMs, list1k?.firstMs)
const goal = (label: string, x: number | undefined, unit: string, target: string, met: (x: number) => boolean): void => {
  console.log(`  ${label.padEnd(44)} ${x === undefined ? 'not measured' : `${x.toFixed(2)}${unit}`.padEnd(10)} goal ${target.padEnd(10)} ${x === undefined ? '' : met(x) ? 'met' : 'MISSED'}`)
}
console.log('goals (hive 1 node):')
goal('4 KiB PUT/s ÷ s3rver', putVs, '×', '≥ 5×', x => x >= 5)
goal('4 KiB GET/s ÷ s3rver', getVs, '×', '≥ 5×', x => x >= 5)
goal('64 MiB PUT ÷ raw disk write', largeVsDisk, '', '≥ 0.5', x => x >= 0.5)
goal('64 MiB GET', getGBps, ' GB/s', '≥ 1 GB/s', x => x >= 1)
goal(`${LIST_KEYS}-key page (worst of first/middle) ÷ 1k-key page`, listVs, '×', '≤ 2×', x => x <= 2)
if (h3 !== undefined) {
  console.log(`three nodes RS(2,1): 4 KiB PUT ${f(ratio(h3.put.ops, rv?.put.ops), 2, 0)}× s3rver, GET ${f(ratio(h3.get.ops, rv?.get.ops), 2, 0)}× s3rver; 64 MiB PUT ${f(ratio(lg('hive3')?.put, diskMBps), 2, 0)}× disk, GET ${f((lg('hive3')?.get ?? NaN) / 1000, 2, 0)} GB/s`)
}
const floor = sm('floor')
if (floor !== undefined) {
  console.log(`floor (fastify, SigV4, a durable log append and one JetStream KV op per request, nothing else): 4 KiB PUT ${f(ratio(floor.put.ops, rv?.put.ops), 2, 0)}× s3rver, GET ${f(ratio(floor.get.ops, rv?.get.ops), 2, 0)}× s3rver`)
}
for (const msg of failures) console.log(`FAILED ${msg}`)
console.log(JSON.stringify({
  s3_small_put_vs_s3rver: r3(putVs),
  s3_small_get_vs_s3rver: r3(getVs),
  s3_large_put_vs_disk: r3(largeVsDisk),
  s3_list_100k_vs_1k: r3(listVs),
  s3_large_get_gbps: r3(getGBps),
  s3_small_put_ops: r3(h1?.put.ops),
  s3_small_get_ops: r3(h1?.get.ops),
  s3rver_small_put_ops: r3(rv?.put.ops),
  s3rver_small_get_ops: r3(rv?.get.ops),
  s3_small_put_p99_ms: r3(h1?.put.p99),
  s3_small_get_p99_ms: r3(h1?.get.p99),
  s3_large_put_mbps: r3(lg('hive1')?.put),
  s3_large_get_mbps: r3(lg('hive1')?.get),
  disk_write_mbps: r3(diskMBps),
  s3_3node_small_put_vs_s3rver: r3(ratio(h3?.put.ops, rv?.put.ops)),
  s3_3node_small_get_vs_s3rver: r3(ratio(h3?.get.ops, rv?.get.ops)),
  s3_3node_large_put_vs_disk: r3(ratio(lg('hive3')?.put, diskMBps)),
  s3_3node_large_get_gbps: r3(lg('hive3') === undefined ? undefined : (lg('hive3')?.get ?? 0) / 1000),
  s3_list_1k_ms: r3(list1k?.firstMs),
  s3_list_100k_ms: r3(listBigMs),
  s3_list_keys: listBig?.keys ?? null,
  floor_small_put_ops: r3(floor?.put.ops),
  floor_small_get_ops: r3(floor?.get.ops),
  floor_small_put_vs_s3rver: r3(ratio(floor?.put.ops, rv?.put.ops)),
  floor_small_get_vs_s3rver: r3(ratio(floor?.get.ops, rv?.get.ops)),
  client_ceiling_put_ops: r3(sm('null')?.put.ops),
  client_ceiling_get_ops: r3(sm('null')?.get.ops),
  client_ceiling_large_put_mbps: r3(lg('null')?.put),
  client_ceiling_large_get_mbps: r3(lg('null')?.get),
  client: CLIENT_KIND,
  failures: failures.length
}))
process.exitCode = failures.length > 0 ? 1 : 0
