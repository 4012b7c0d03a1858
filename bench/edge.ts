// npm run bench:edge — the whole edge path (HTTP, SigV4, model parse, NATS round trip, XML) against
// a bare fastify route, in one run on this machine. Both servers run as child processes so the load
// generator (this process) competes with each the same way.
//   c=1:  sequential signed DescribeAvailabilityZones over one keep-alive connection → p50/p99
//   c=64: autocannon with 64 connections → requests/s, p50/p99 (median of BENCH_ROUNDS interleaved rounds)
// Last line: {"edge_p50_ms_c1", "edge_vs_fastify_c64", …}.
import { SignatureV4 } from '@smithy/signature-v4'
import autocannon from 'autocannon'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Sha256 } from '../test/helpers/sign.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const BODY = 'Action=DescribeAvailabilityZones&Version=2016-11-15'

interface Target { name: string, url: string, headers: Record<string, string>, stop: () => Promise<void> }
interface Figures { rps: number, p50: number, p99: number }

async function spawnUntil (cmd: string[], env: Record<string, string>, pattern: RegExp, stream: 'stdout' | 'stderr'): Promise<{ proc: ChildProcess, match: RegExpExecArray }> {
  const proc = spawn(process.execPath, cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    proc.once('exit', code => reject(new Error(`${cmd.join(' ')} exited ${String(code)}: ${out}`)))
    proc[stream]?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = pattern.exec(out)
      if (m !== null) resolve(m)
    })
  })
  proc.removeAllListeners('exit')
  return { proc, match }
}

async function stopChild (proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise(resolve => proc.once('exit', resolve))
  proc.kill('SIGTERM')
  await exited
}

async function startHive (): Promise<Target> {
  const home = mkdtempSync(join(tmpdir(), 'hive-bench-'))
  const dataDir = join(home, 'data')
  const { proc, match } = await spawnUntil([join(ROOT, 'bin/hive.js'), 'serve', '--cap', 'ec2', '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
    { HOME: home, HIVE_LOG_LEVEL: 'warn' }, /serving (http:\/\/[\d.]+:\d+)/, 'stderr')
  const config = JSON.parse(readFileSync(join(dataDir, 'hive.json'), 'utf8')) as Record<string, string>
  const url = match[1]
  const signer = new SignatureV4({
    service: 'ec2',
    region: config.region,
    credentials: { accessKeyId: config.rootAccessKeyId, secretAccessKey: config.rootSecretAccessKey },
    sha256: Sha256
  })
  const { hostname, port } = new URL(url)
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname,
    port: Number(port),
    path: '/',
    headers: { host: `${hostname}:${port}`, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: BODY
  })
  return {
    name: 'hive edge',
    url,
    headers: signed.headers,
    stop: async () => { await stopChild(proc); rmSync(home, { recursive: true, force: true }) }
  }
}

async function startBare (): Promise<Target> {
  const { proc, match } = await spawnUntil(['--import', 'tsx', join(ROOT, 'bench/bare-fastify.ts')], {}, /(http:\/\/[\d.]+:\d+)/, 'stdout')
  return { name: 'bare fastify', url: match[1], headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, stop: async () => { await stopChild(proc) } }
}

/** One keep-alive connection, one request at a time: the latency a single user sees. */
async function sequential (t: Target, seconds: number): Promise<Figures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const u = new URL(t.url)
  const one = async (): Promise<number> => await new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const req = http.request({ agent, host: u.hostname, port: u.port, path: '/', method: 'POST', headers: { ...t.headers, 'content-length': Buffer.byteLength(BODY) } }, res => {
      if (res.statusCode !== 200) reject(new Error(`${t.name} answered ${String(res.statusCode)}`))
      res.resume()
      res.on('end', () => resolve(Number(process.hrtime.bigint() - start) / 1e6))
    })
    req.on('error', reject)
    req.end(BODY)
  })
  for (let i = 0; i < 200; i++) await one()
  const lat: number[] = []
  const until = Date.now() + seconds * 1000
  while (Date.now() < until) lat.push(await one())
  agent.destroy()
  lat.sort((a, b) => a - b)
  return { rps: lat.length / seconds, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)] }
}

async function concurrent (t: Target, connections: number, seconds: number): Promise<Figures> {
  const run = async (duration: number): Promise<autocannon.Result> => await autocannon({
    url: t.url, method: 'POST', body: BODY, headers: t.headers, connections, duration
  })
  await run(1)
  const r = await run(seconds)
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${t.name}: ${r.non2xx} non-2xx, ${r.errors} errors`)
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 }
}

function median (runs: Figures[]): Figures {
  const mid = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  return { rps: mid(runs.map(r => r.rps)), p50: mid(runs.map(r => r.p50)), p99: mid(runs.map(r => r.p99)) }
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d

const hive = await startHive()
let bare: Target | undefined
try {
  bare = await startBare()
  const rows: Array<[string, number, Figures]> = []
  for (const t of [hive, bare]) rows.push([t.name, 1, await sequential(t, SECONDS)])
  // Interleaved rounds, median of each: this machine's throughput drifts between runs, and a
  // ratio of two runs taken minutes apart would measure the drift.
  const rounds: Record<string, Figures[]> = { [hive.name]: [], [bare.name]: [] }
  for (let i = 0; i < ROUNDS; i++) for (const t of [hive, bare]) rounds[t.name].push(await concurrent(t, 64, SECONDS))
  for (const t of [hive, bare]) rows.push([t.name, 64, median(rounds[t.name])])
  console.log('target         conc   req/s     p50 ms   p99 ms')
  for (const [name, c, f] of rows) {
    console.log(`${name.padEnd(14)} ${String(c).padStart(4)} ${String(Math.round(f.rps)).padStart(8)} ${f.p50.toFixed(3).padStart(9)} ${f.p99.toFixed(3).padStart(8)}`)
  }
  const get = (name: string, c: number): Figures => (rows.find(r => r[0] === name && r[1] === c) as [string, number, Figures])[2]
  const ratio = get('hive edge', 64).rps / get('bare fastify', 64).rps
  console.log(`edge/fastify requests/s at c=64: ${(ratio * 100).toFixed(1)}% (goal ≥ 25%); edge p50 at c=1: ${get('hive edge', 1).p50.toFixed(3)} ms (goal < 2 ms)`)
  console.log(JSON.stringify({
    edge_p50_ms_c1: round(get('hive edge', 1).p50, 3),
    edge_vs_fastify_c64: round(ratio, 3),
    edge_rps_c64: Math.round(get('hive edge', 64).rps),
    fastify_rps_c64: Math.round(get('bare fastify', 64).rps),
    edge_p99_ms_c1: round(get('hive edge', 1).p99, 3),
    fastify_p50_ms_c1: round(get('bare fastify', 1).p50, 3)
  }))
} finally {
  await hive.stop()
  await bare?.stop()
}
