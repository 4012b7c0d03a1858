// npm run bench:nbd — a Hive EBS volume over NBD against qemu-nbd serving a raw file, in one run on
// this machine, both on a unix socket in the same directory (same disk), both driven by
// `qemu-img bench` (QEMU's own NBD client, the one a VM's disk uses).
//   hive:     a `hive serve --cap ec2,ebs,s3` node and a new volume (CreateVolume): writes go to the
//             native block store's WAL (flush = group-committed fdatasync) and on into 4 MiB chunks
//             in the s3 capability's erasure-coded store; reads come from dirty blocks, the cache
//             or chunks.
//   qemu-nbd: `qemu-nbd -f raw --cache=writeback --aio=threads -t` over a raw file. writeback is
//             qemu-nbd's default: writes into the page cache, flushes durable with fdatasync, as
//             Hive's are; cache=none would put O_DIRECT disk latency on one side only.
//   tests:    4 KiB random write and read, 1 MiB sequential write and read, each at queue depth 1
//             and 32, on a BENCH_NBD_GIB (1) GiB image; median of BENCH_ROUNDS (3) rounds, the
//             two servers interleaved within each round (this VM drifts). BENCH_NBD_4K_COUNT
//             (20000) requests per 4 KiB run, one pass over the image per 1 MiB run.
// qemu-img bench has no random mode: it steps by -S and wraps at the end of the image. "Random"
// here is a stride of 40503 blocks (158 MiB): odd, so coprime with the power-of-two block count,
// it visits every 4 KiB block once per cycle in scattered order, never two neighbours in a row.
// QEMU 7.2's NBD client keeps at most 16 requests in flight per connection, so "QD 32" is 16 on
// the wire. The 1 MiB writes run first and fill both images, so reads never hit holes.
// Last line: {"nbd_randwrite_4k_qd1_vs_qemu_nbd": hive ÷ qemu-nbd, …} (above 1: Hive is faster).
import { CreateVolumeCommand, DescribeAvailabilityZonesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

const num = (name: string, dflt: number): number => { const v = Number(process.env[name] ?? dflt); return Number.isFinite(v) && v > 0 ? v : dflt }
const SIZE = Math.round(num('BENCH_NBD_GIB', 1)) * 2 ** 30
const ROUNDS = num('BENCH_ROUNDS', 3)
const COUNT_4K = num('BENCH_NBD_4K_COUNT', 20_000)
/** One pass over the image. */
const COUNT_1M = SIZE / (1 << 20)
const STRIDE = 40503 * 4096
const EXPORT = 'bench'

interface Test { id: string, label: string, write: boolean, size: number, count: number, step: number, depth: number }
const TESTS: Test[] = []
for (const depth of [1, 32]) TESTS.push({ id: `seqwrite_1m_qd${depth}`, label: 'seq write 1 MiB', write: true, size: 1 << 20, count: COUNT_1M, step: 1 << 20, depth })
for (const depth of [1, 32]) TESTS.push({ id: `randwrite_4k_qd${depth}`, label: 'rand write 4 KiB', write: true, size: 4096, count: COUNT_4K, step: STRIDE, depth })
for (const depth of [1, 32]) TESTS.push({ id: `randread_4k_qd${depth}`, label: 'rand read 4 KiB', write: false, size: 4096, count: COUNT_4K, step: STRIDE, depth })
for (const depth of [1, 32]) TESTS.push({ id: `seqread_1m_qd${depth}`, label: 'seq read 1 MiB', write: false, size: 1 << 20, count: COUNT_1M, step: 1 << 20, depth })

const base = mkdtempSync(join(tmpdir(), 'hive-nbd-bench-'))
const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL')
  rmSync(base, { recursive: true, force: true })
})
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130))

function log (msg: string): void { process.stderr.write(`bench:nbd: ${msg}\n`) }

// ── the Hive target ───────────────────────────────────────────────────────────────────────────

interface Served { url: string, stop: () => Promise<void> }

/**
 * A real Hive node (`hive serve --cap ec2,ebs,s3`, its own data dir under `base`, embedded NATS)
 * and a new SIZE-byte volume made with CreateVolume: the bench drives that volume's NBD export, so
 * its writes go through the native block store's WAL and on into chunks in the object store.
 */
async function serveHive (): Promise<Served> {
  const home = join(base, 'hive-home')
  const dataDir = join(home, 'data')
  const proc = spawn(process.execPath, [join(ROOT, 'bin/hive.js'), 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--node-id', 'bench-nbd', '--cap', 'ec2,ebs,s3'], {
    cwd: ROOT, env: { ...process.env, HOME: home, HIVE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  live.add(proc)
  let out = ''
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hive serve did not start:\n${out}`)), 60_000)
    const check = (d: Buffer): void => {
      out += d.toString()
      const m = /serving (https?:\/\/[\d.]+:\d+) on nats/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1]) }
    }
    proc.stdout?.on('data', check)
    proc.stderr?.on('data', check)
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`hive serve exited ${String(code)}:\n${out}`)) })
  })
  const config = JSON.parse(readFileSync(join(dataDir, 'hive.json'), 'utf8')) as Record<string, string>
  const ec2 = new EC2Client({
    endpoint, region: config.region, maxAttempts: 1,
    credentials: { accessKeyId: config.rootAccessKeyId, secretAccessKey: config.rootSecretAccessKey }
  })
  const zone = (await ec2.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones?.[0]?.ZoneName
  const { VolumeId } = await ec2.send(new CreateVolumeCommand({ Size: SIZE / 2 ** 30, AvailabilityZone: zone, VolumeType: 'gp3' }))
  for (let i = 0; ; i++) {
    const v = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [VolumeId as string] }))).Volumes?.[0]
    if (v?.State === 'available') break
    if (i > 600) throw new Error(`${String(VolumeId)} did not become available`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    url: `nbd+unix:///${String(VolumeId)}?socket=${join(dataDir, 'ebs', 'nbd.sock')}`,
    stop: async () => {
      const exited = new Promise(resolve => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
      live.delete(proc)
    }
  }
}

// ── the reference ─────────────────────────────────────────────────────────────────────────────

async function serveQemuNbd (): Promise<Served> {
  const socketPath = join(base, 'qemu.sock')
  const file = join(base, 'qemu.raw')
  const made = spawnSync('truncate', ['-s', String(SIZE), file])
  if (made.status !== 0) throw new Error(`truncate: ${made.stderr.toString()}`)
  const proc = spawn('qemu-nbd', ['-f', 'raw', '--cache=writeback', '--aio=threads', '-t', '-k', socketPath, '-x', EXPORT, file], { stdio: ['ignore', 'ignore', 'pipe'] })
  live.add(proc)
  let err = ''
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  for (let i = 0; !existsSync(socketPath); i++) {
    if (proc.exitCode !== null || i > 200) throw new Error(`qemu-nbd did not start: ${err}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  return {
    url: `nbd+unix:///${EXPORT}?socket=${socketPath}`,
    stop: async () => {
      const exited = new Promise(resolve => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
      live.delete(proc)
    }
  }
}

// ── the client ────────────────────────────────────────────────────────────────────────────────

/** One `qemu-img bench` run; resolves with its wall time in seconds as qemu-img reports it. */
async function bench (url: string, t: Test): Promise<number> {
  const args = ['bench', '-f', 'raw', '-c', String(t.count), '-d', String(t.depth), '-s', String(t.size), '-S', String(t.step)]
  if (t.write) args.push('-w', '--pattern=171')
  const proc = spawn('qemu-img', [...args, url], { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(proc)
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  live.delete(proc)
  const m = /Run completed in ([\d.]+) seconds/.exec(out)
  if (code !== 0 || m === null) throw new Error(`qemu-img ${args.join(' ')} exited ${String(code)}: ${out.trim()}`)
  return Number(m[1])
}

// ── the run ───────────────────────────────────────────────────────────────────────────────────

const TARGETS = [
  { id: 'hive', name: 'hive', serve: serveHive },
  { id: 'qemu', name: 'qemu-nbd', serve: serveQemuNbd }
]
const seconds = new Map<string, number[]>()
const stops: Array<() => Promise<void>> = []
const urls = new Map<string, string>()
try {
  for (const target of TARGETS) {
    const served = await target.serve()
    stops.push(served.stop)
    urls.set(target.id, served.url)
  }
  log(`image ${SIZE >> 20} MiB, ${ROUNDS} rounds; servers up`)
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of TESTS) {
      for (const target of TARGETS) {
        const s = await bench(urls.get(target.id) as string, t)
        seconds.set(`${target.id}/${t.id}`, [...seconds.get(`${target.id}/${t.id}`) ?? [], s])
      }
    }
    log(`round ${round + 1}/${ROUNDS} done`)
  }
} finally {
  for (const stop of stops) await stop()
}

// ── report ────────────────────────────────────────────────────────────────────────────────────
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
/** IOPS for 4 KiB tests, MB/s (10^6 B) for 1 MiB tests. */
const rate = (target: string, t: Test): number => {
  const s = median(seconds.get(`${target}/${t.id}`) ?? [NaN])
  return t.size === 4096 ? t.count / s : t.count * t.size / s / 1e6
}
const r3 = (x: number): number | null => Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null

console.log(`NBD on a unix socket, qemu-img bench (QEMU ${qemuVersion()}); ${SIZE >> 20} MiB image; median of ${ROUNDS} interleaved rounds`)
console.log('test               QD   unit          hive    qemu-nbd   hive ÷ qemu-nbd')
const ratios: Record<string, number | null> = {}
const figures: Record<string, number | null> = {}
for (const t of TESTS) {
  const h = rate('hive', t)
  const q = rate('qemu', t)
  const unit = t.size === 4096 ? 'IOPS' : 'MB/s'
  console.log(`${t.label.padEnd(18)} ${String(t.depth).padStart(2)}   ${unit.padEnd(5)} ${h.toFixed(0).padStart(12)} ${q.toFixed(0).padStart(11)} ${(h / q).toFixed(2).padStart(17)}`)
  ratios[`nbd_${t.id}_vs_qemu_nbd`] = r3(h / q)
  figures[`nbd_${t.id}_${unit === 'IOPS' ? 'iops' : 'mbps'}`] = r3(h)
  figures[`qemu_nbd_${t.id}_${unit === 'IOPS' ? 'iops' : 'mbps'}`] = r3(q)
}
console.log(JSON.stringify({ ...ratios, ...figures }))

function qemuVersion (): string {
  const out = spawnSync('qemu-img', ['--version']).stdout?.toString() ?? ''
  return /version ([\d.]+)/.exec(out)?.[1] ?? '?'
}
