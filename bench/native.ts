// npm run bench:native — the native engines through their JS API (core/native.ts), each beside its
// reference in the same run: Reed-Solomon vs Intel ISA-L (bench/isal/harness.c, built here against
// Debian's libisal-dev) and @ronomon/reed-solomon; CRC32C; the WAL's durable appends vs a raw
// write+fdatasync loop on the same disk. One thread, 1 MiB shards, data bytes per second.
// Last line: one JSON object with the figures issue 3 names.
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crc32c, crc32cBinding, crc32cKernel, gfKernel, ReedSolomon, Wal } from '../core/native.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1)
const SHARD = 1 << 20
const CODES: Array<[number, number]> = [[2, 1], [4, 2], [8, 4], [10, 4]]
const ronomon = createRequire(import.meta.url)('@ronomon/reed-solomon') as Ronomon

interface Ronomon {
  create: (k: number, m: number) => unknown
  encode: (ctx: unknown, sources: number, targets: number, buf: Buffer, bo: number, bs: number, parity: Buffer, po: number, ps: number, cb: (e?: Error) => void) => void
}

/** Calls fn for `seconds`, returns calls per second. */
function rate (fn: () => void, seconds = SECONDS): number {
  fn()
  let calls = 0
  const start = process.hrtime.bigint()
  let elapsed = 0
  do {
    for (let i = 0; i < 4; i++) fn()
    calls += 4
    elapsed = Number(process.hrtime.bigint() - start) / 1e9
  } while (elapsed < seconds)
  return calls / elapsed
}

async function rateAsync (fn: () => Promise<void>, seconds = SECONDS): Promise<number> {
  await fn()
  let calls = 0
  const start = process.hrtime.bigint()
  let elapsed = 0
  do {
    await fn()
    calls++
    elapsed = Number(process.hrtime.bigint() - start) / 1e9
  } while (elapsed < seconds)
  return calls / elapsed
}

function randomShards (n: number, size: number): Buffer[] {
  return Array.from({ length: n }, () => { const b = Buffer.allocUnsafe(size); for (let i = 0; i < size; i += 4) b.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i); return b })
}

function isalHarness (): string {
  const bin = join(ROOT, 'build/bench/isal_harness')
  mkdirSync(join(ROOT, 'build/bench'), { recursive: true })
  execFileSync('cc', ['-O2', '-o', bin, join(ROOT, 'bench/isal/harness.c'), '-lisal'])
  return bin
}

async function reedSolomonFigures (): Promise<Record<string, Record<string, number>>> {
  const isal = isalHarness()
  const out: Record<string, Record<string, number>> = {}
  for (const [k, m] of CODES) {
    const missing = Math.min(2, m)
    const codec = new ReedSolomon(k, m)
    const shards = randomShards(k + m, SHARD)
    const data = shards.slice(0, k)
    const parity = shards.slice(k)
    const hiveEncode = rate(() => codec.encodeSync(data, parity)) * k * SHARD / 1e9
    const present = shards.map((_, i) => i >= missing)
    const hiveReconstruct = rate(() => codec.reconstructSync(shards, present)) * k * SHARD / 1e9
    const ref = JSON.parse(execFileSync(isal, [String(k), String(m), String(SHARD), String(missing), String(SECONDS)], { encoding: 'utf8' })) as { encode_gbps: number, reconstruct_gbps: number }

    const ctx = ronomon.create(k, m)
    const buf = Buffer.concat(data)
    const par = Buffer.alloc(m * SHARD)
    const all = (1 << (k + m)) - 1
    const dataBits = (1 << k) - 1
    const ronomonCall = (sources: number, targets: number) => async () => await new Promise<void>((resolve, reject) =>
      ronomon.encode(ctx, sources, targets, buf, 0, buf.length, par, 0, par.length, e => e ? reject(e) : resolve()))
    const lost = (1 << missing) - 1
    const ronomonEncode = await rateAsync(ronomonCall(dataBits, all & ~dataBits)) * k * SHARD / 1e9
    const ronomonReconstruct = await rateAsync(ronomonCall(all & ~lost, lost)) * k * SHARD / 1e9
    out[`${k}+${m}`] = {
      missing,
      hive_encode_gbps: hiveEncode,
      isal_encode_gbps: ref.encode_gbps,
      ronomon_encode_gbps: ronomonEncode,
      hive_reconstruct_gbps: hiveReconstruct,
      isal_reconstruct_gbps: ref.reconstruct_gbps,
      ronomon_reconstruct_gbps: ronomonReconstruct
    }
  }
  return out
}

function crcFigures (): { gbps: number, ns4k: number } {
  const big = randomShards(1, SHARD)[0]
  const small = randomShards(1, 4096)[0]
  const gbps = rate(() => { crc32c(big) }) * SHARD / 1e9
  const ns4k = 1e9 / rate(() => { for (let i = 0; i < 1000; i++) crc32c(small) }) / 1000
  return { gbps, ns4k }
}

interface WalFigures { rps: number, p50: number, p99: number }

async function walFigures (dir: string, concurrency: number): Promise<WalFigures> {
  const walDir = join(dir, `wal-c${concurrency}`)
  const wal = Wal.open(walDir, {})
  const payload = randomShards(1, 4096)[0]
  const lat: number[] = []
  const until = Date.now() + SECONDS * 1000 * 2
  let done = 0
  const worker = async (): Promise<void> => {
    while (Date.now() < until) {
      const t0 = process.hrtime.bigint()
      const seq = await wal.append(1, payload)
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6)
      // A steady-state log is checkpointed: its old segments are recycled instead of allocated anew.
      if (++done % 4096 === 0) wal.deleteUpTo(seq - 4096)
    }
  }
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9
  await wal.close()
  rmSync(walDir, { recursive: true, force: true })
  lat.sort((a, b) => a - b)
  return { rps: done / elapsed, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] }
}

function rawSyncFigures (dir: string): WalFigures {
  const fd = openSync(join(dir, 'raw'), 'w')
  const payload = randomShards(1, 4096)[0]
  const lat: number[] = []
  const until = Date.now() + SECONDS * 1000 * 2
  const start = process.hrtime.bigint()
  while (Date.now() < until) {
    const t0 = process.hrtime.bigint()
    writeSync(fd, payload)
    fdatasyncSync(fd)
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9
  closeSync(fd)
  lat.sort((a, b) => a - b)
  return { rps: lat.length / elapsed, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] }
}

const f = (x: number, d = 2): string => x.toFixed(d)
const r3 = (x: number): number => Math.round(x * 1000) / 1000

console.log(`kernels: reed-solomon ${gfKernel()}, crc32c ${crc32cKernel()}; ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cpus; ${SECONDS}s per figure`)
const rs = await reedSolomonFigures()
console.log('\nReed-Solomon, 1 MiB shards, GB/s of data   hive    isa-l  ronomon  hive/isa-l')
for (const [code, x] of Object.entries(rs)) {
  console.log(`  RS(${code}) encode                      ${f(x.hive_encode_gbps).padStart(7)} ${f(x.isal_encode_gbps).padStart(8)} ${f(x.ronomon_encode_gbps).padStart(8)} ${f(x.hive_encode_gbps / x.isal_encode_gbps).padStart(10)}`)
  console.log(`  RS(${code}) reconstruct ${x.missing} missing       ${f(x.hive_reconstruct_gbps).padStart(7)} ${f(x.isal_reconstruct_gbps).padStart(8)} ${f(x.ronomon_reconstruct_gbps).padStart(8)} ${f(x.hive_reconstruct_gbps / x.isal_reconstruct_gbps).padStart(10)}`)
}
const crc = crcFigures()
console.log(`\nCRC32C: ${f(crc.gbps)} GB/s on 1 MiB, ${f(crc.ns4k, 1)} ns per 4 KiB call from JS (${crc32cBinding().binding} binding)`)

const dir = mkdtempSync(join(ROOT, 'build/bench-wal-'))
const raw = rawSyncFigures(dir)
const wal: Record<number, WalFigures> = {}
for (const c of [1, 16, 256]) wal[c] = await walFigures(dir, c)
rmSync(dir, { recursive: true, force: true })
console.log('\nWAL, durable 4 KiB appends           appends/s   p50 ms   p99 ms')
console.log(`  raw write+fdatasync loop          ${f(raw.rps, 0).padStart(9)} ${f(raw.p50, 3).padStart(8)} ${f(raw.p99, 3).padStart(8)}`)
for (const c of [1, 16, 256]) console.log(`  WAL, ${String(c).padStart(3)} concurrent appends       ${f(wal[c].rps, 0).padStart(9)} ${f(wal[c].p50, 3).padStart(8)} ${f(wal[c].p99, 3).padStart(8)}`)

const ratio = (key: 'encode' | 'reconstruct'): Record<string, number> =>
  Object.fromEntries(Object.entries(rs).map(([code, x]) => [code, r3(x[`hive_${key}_gbps`] / x[`isal_${key}_gbps`])]))
console.log(JSON.stringify({
  rs_encode_vs_isal: ratio('encode'),
  rs_reconstruct_vs_isal: ratio('reconstruct'),
  crc32c_gbps: r3(crc.gbps),
  crc32c_4k_ns: Math.round(crc.ns4k),
  wal_records_per_s_c256: Math.round(wal[256].rps),
  wal_group_commit_gain: r3(wal[256].rps / wal[1].rps)
}))
