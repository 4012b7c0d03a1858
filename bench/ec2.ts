// npm run bench:ec2 — how long Hive takes to launch an instance, and how many tiny instances one
// node runs at once. One real `hive serve --cap ec2,ebs,s3` node (embedded NATS, allocation ratios
// raised so 50 instances fit: --ec2-cpu-ratio 100 --ec2-ram-ratio 20 --ec2-disk-ratio 100), the
// tiny test guest (scripts/build-test-guest.sh on scripts/build-test-image.sh's disk) imported with
// ImportImage from an S3 bucket, driven with @aws-sdk/client-ec2.
//   sequential: one warm-up launch (the first pays for QEMU's accelerator probe), then
//               BENCH_EC2_LAUNCHES (10) launches of BENCH_EC2_TYPE (t3.nano), one at a time, each
//               terminated before the next:
//     running        RunInstances sent → DescribeInstances (polled every 20 ms) says running: Hive's
//                    own part of a launch, everything before the guest's boot
//     first console  RunInstances sent → the first whole line in the instance's console log,
//                    read from <data-dir>/ec2/instances/<id>/console.log (polled every 5 ms):
//                    QEMU's boot to the first output added; GetConsoleOutput's view of the same
//                    file is reported beside it (polled every 50 ms once running)
//     phases         the launch's steps, timed from outside without slowing it: the instance and
//                    volume records as JetStream KV pushes them (a watch on hive_ec2_instances and
//                    hive_ebs_volumes) and the files instance-runner.ts makes, polled every 5 ms
//   concurrent: BENCH_EC2_CONCURRENT (50) instances in one RunInstances (MinCount = MaxCount;
//               BENCH_EC2_CONCURRENT_MODE=parallel sends that many one-instance calls at once
//               instead), waited on until every one is running and printed HIVE-GUEST-READY, for at
//               most BENCH_EC2_TIMEOUT_S (1200) s. Hive's memory per instance = (RSS of the hive
//               process with them all up − before the launch) ÷ count; QEMU's RSS and PSS apart.
// Last line: {"ec2_launch_overhead_ms": p50 running, "ec2_first_console_ms": p50 first console,
// "ec2_concurrent_running": n, …}.
import {
  DescribeInstancesCommand, EC2Client, GetConsoleOutputCommand, RunInstancesCommand, TerminateInstancesCommand,
  type RunInstancesCommandOutput, type _InstanceType
} from '@aws-sdk/client-ec2'
import { connect, type NatsConnection } from 'nats'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KvStore } from '../core/kv.js'
import { natsServerOptions } from '../core/nats-server.js'
import { kvBucketName } from '../core/subjects.js'
import { importTestImage } from '../test/ec2/helpers.js'
import { sdkConfig, startNode, type TestNode } from '../test/helpers/node.js'

const num = (name: string, dflt: number): number => { const v = Number(process.env[name] ?? dflt); return Number.isFinite(v) && v > 0 ? v : dflt }
const LAUNCHES = Math.round(num('BENCH_EC2_LAUNCHES', 10))
const CONCURRENT = Math.round(num('BENCH_EC2_CONCURRENT', 50))
const CONCURRENT_MODE = process.env.BENCH_EC2_CONCURRENT_MODE === 'parallel' ? 'parallel' : 'single'
const TYPE = (process.env.BENCH_EC2_TYPE ?? 't3.nano') as _InstanceType
const TIMEOUT_MS = num('BENCH_EC2_TIMEOUT_S', 1200) * 1000
/** Per sequential launch: a TCG boot of the tiny guest takes seconds, a busy machine many more. */
const LAUNCH_TIMEOUT_MS = 300_000
const READY = 'HIVE-GUEST-READY'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
function log (msg: string): void { process.stderr.write(`bench:ec2: ${msg}\n`) }

// ── the node, and a way out that leaves no QEMU behind ───────────────────────────────────────

let node: TestNode | undefined
let nc: NatsConnection | undefined

/** QEMU runs daemonized and outlives Hive on purpose (a restarted Hive takes it back): ours go by pid. */
function killGuests (): void {
  if (node === undefined) return
  const dir = join(node.dataDir, 'ec2', 'instances')
  for (const id of existsSync(dir) ? readdirSync(dir) : []) {
    const pid = qemuPid(id)
    if (pid !== undefined) try { process.kill(pid, 'SIGKILL') } catch {}
  }
}

/** The node's own log (stdout and stderr), kept after its data dir is gone. */
const NODE_LOG = process.env.BENCH_EC2_NODE_LOG ?? join(tmpdir(), 'hive-bench-ec2-node.log')
function saveNodeLog (): void {
  if (node !== undefined) writeFileSync(NODE_LOG, node.output())
}

process.on('exit', () => {
  saveNodeLog()
  killGuests()
  if (node !== undefined && node.proc.exitCode === null) node.proc.kill('SIGKILL')
})
// `on`, not `once`: a group kill and tsx's relay both deliver it, and the second must not kill us past the exit handler.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130))

const instanceDir = (id: string): string => join((node as TestNode).dataDir, 'ec2', 'instances', id)

function qemuPid (id: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(instanceDir(id), 'qemu.pid'), 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch { return undefined }
}

/** A process's resident memory in MiB (VmRSS, or Pss from smaps_rollup), undefined once it is gone. */
function memoryMiB (pid: number, kind: 'rss' | 'pss'): number | undefined {
  try {
    const text = readFileSync(kind === 'rss' ? `/proc/${pid}/status` : `/proc/${pid}/smaps_rollup`, 'utf8')
    const m = (kind === 'rss' ? /^VmRSS:\s+(\d+) kB/m : /^Pss:\s+(\d+) kB/m).exec(text)
    return m === null ? undefined : Number(m[1]) / 1024
  } catch { return undefined }
}

function childPids (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch { return [] }
}

const hivePid = (): number => (node as TestNode).proc.pid as number

function zombie (pid: number): boolean {
  try { return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return true }
}

function commandOf (pid: number): string {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') } catch { return '' }
}

// ── what the node does, seen from outside ─────────────────────────────────────────────────────

/** When (Date.now() here) each step of an instance's launch was seen. */
interface Timeline {
  sent: number
  answered?: number
  /** The instance record, first written by RunInstances (state pending). */
  recorded?: number
  /** The record names the root volume: CreateVolume answered. */
  volumeCreated?: number
  volumeAvailable?: number
  /** The record has the root volume's attachTime: AttachVolume answered. */
  attached?: number
  dirMade?: number
  seedWritten?: number
  imdsListening?: number
  /** The `qemu-system-x86_64 -daemonize` child of Hive appeared; QEMU's daemon wrote its pid file. */
  qemuSpawned?: number
  qemuPid?: number
  qmpSocket?: number
  consoleOpened?: number
  /** That child exited: the daemon finished its set-up (disks connected, devices made). */
  qemuParentExited?: number
  /** The record says running (KV), and DescribeInstances says so (polled). */
  runningRecord?: number
  running?: number
  firstConsoleByte?: number
  firstConsoleLine?: string
  firstConsoleLineAt?: number
  consoleApi?: number
  ready?: number
  terminated?: number
  /** The launch failed: the record left pending/running for another state, with this reason. */
  failed?: number
  failure?: string
  volumeId?: string
  /** `-accel kvm` or `-accel tcg,…`, from the QEMU's command line. */
  accel?: string
}

const timelines = new Map<string, Timeline>()

/** The timeline of an instance, made on first sight: the KV watch may see it before RunInstances answers. */
function timelineOf (id: string): Timeline {
  let t = timelines.get(id)
  if (t === undefined) { t = { sent: NaN }; timelines.set(id, t) }
  return t
}

/** When each volume first became available (its record comes before the instance record names it). */
const availableAt = new Map<string, number>()

/** Follows the instance and volume records through JetStream KV (pushed to us as they are written). */
async function watchRecords (natsUrl: string): Promise<void> {
  nc = await connect(natsServerOptions(natsUrl))
  const kv = new KvStore(nc)
  const instances = await kv.bucket<any>(kvBucketName('ec2', 'instances'))
  const volumes = await kv.bucket<any>(kvBucketName('ebs', 'volumes'))
  await instances.watch(await instances.lastRevision() + 1, (id, r) => {
    if (r === undefined) return
    const now = Date.now()
    const t = timelineOf(id)
    t.recorded ??= now
    const root = (r.blockDevices as any[] ?? []).find(b => b.deviceName === r.rootDeviceName)
    if (root?.volumeId !== undefined && t.volumeId === undefined) {
      t.volumeId = root.volumeId
      t.volumeCreated = now
    }
    if (root?.attachTime !== undefined) t.attached ??= now
    if (r.state === 'running') t.runningRecord ??= now
    if (r.state === 'terminated') t.terminated ??= now
    if (r.stateReason?.code === 'Server.InternalError' && t.failed === undefined) {
      t.failed = now
      t.failure = `${String(r.state)}: ${String(r.stateReason.message)}`
    }
  })
  await volumes.watch(await volumes.lastRevision() + 1, (volumeId, v) => {
    if (v?.state === 'available' && !availableAt.has(volumeId)) availableAt.set(volumeId, Date.now())
  })
}

/** The volume's own record is keyed apart: joined to its instance's timeline once the run is over. */
function joinVolume (t: Timeline): Timeline {
  if (t.volumeId !== undefined) t.volumeAvailable ??= availableAt.get(t.volumeId)
  return t
}

/** Stat-polls the files the runner makes for one instance until its console has a whole line. */
async function watchFiles (id: string, t: Timeline, until: () => boolean): Promise<void> {
  const dir = instanceDir(id)
  const files: Array<[keyof Timeline, string]> = [
    ['dirMade', dir], ['seedWritten', join(dir, 'seed', 'seed.iso')], ['imdsListening', join(dir, 'imds.sock')],
    ['consoleOpened', join(dir, 'console.log')], ['qemuPid', join(dir, 'qemu.pid')], ['qmpSocket', join(dir, 'qmp.sock')]
  ]
  while (!until()) {
    const now = Date.now()
    for (const [k, path] of files) if (t[k] === undefined && existsSync(path)) (t as any)[k] = now
    if (t.qemuParentExited === undefined) {
      const parent = childPids(hivePid()).find(p => commandOf(p).includes(`qemu-${id}`) && !zombie(p))
      if (parent !== undefined) t.qemuSpawned ??= now
      else if (t.qemuSpawned !== undefined) t.qemuParentExited = now
    }
    if (t.qemuPid !== undefined && t.accel === undefined) t.accel = /-accel (\w+)/.exec(commandOf(qemuPid(id) ?? -1))?.[1]
    if (t.consoleOpened !== undefined && t.firstConsoleLineAt === undefined) {
      const size = statSync(join(dir, 'console.log'), { throwIfNoEntry: false })?.size ?? 0
      if (size > 0) {
        t.firstConsoleByte ??= now
        const text = readFileSync(join(dir, 'console.log'), 'utf8')
        const line = text.split('\n').slice(0, -1).map(l => l.replace(/\r$/, '')).find(l => l.trim() !== '')
        if (line !== undefined) { t.firstConsoleLine = line; t.firstConsoleLineAt = now }
      }
    }
    await sleep(5)
  }
}

function consoleText (id: string): string {
  try { return readFileSync(join(instanceDir(id), 'console.log'), 'utf8') } catch { return '' }
}

// ── figures ───────────────────────────────────────────────────────────────────────────────────

function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))]
}

/** The span `from` → `to` of each timeline that has both. */
function spans (ts: Timeline[], from: keyof Timeline, to: keyof Timeline): number[] {
  return ts.flatMap(t => typeof t[from] === 'number' && typeof t[to] === 'number' ? [(t[to] as number) - (t[from] as number)] : [])
}

const fmt = (x: number): string => Number.isFinite(x) ? x.toFixed(0) : '—'

// ── the run ───────────────────────────────────────────────────────────────────────────────────

let ec2: EC2Client

async function stateOf (id: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))
  return out.Reservations?.[0]?.Instances?.[0]?.State?.Name
}

async function waitFor (what: string, probe: () => boolean | Promise<boolean>, everyMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Terminates and waits; an instance that never gets there is reported (and its QEMU killed on the way out). */
async function terminate (ids: string[], timeoutMs = 300_000): Promise<string[]> {
  for (let i = 0; i < ids.length; i += 1000) await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids.slice(i, i + 1000) }))
  const left = (): string[] => ids.filter(id => timelines.get(id)?.terminated === undefined)
  try {
    await waitFor(`${ids.length} terminations`, () => left().length === 0, 100, timeoutMs)
  } catch {
    log(`never terminated: ${left().join(' ')}`)
  }
  return left()
}

/** One instance from RunInstances to its guest's READY line, every step timed; terminated after. */
async function launchOne (imageId: string): Promise<Timeline> {
  const sent = Date.now()
  let done = false
  const out = await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: TYPE, MinCount: 1, MaxCount: 1 }))
  const answered = Date.now()
  const id = out.Instances?.[0]?.InstanceId as string
  const t = timelineOf(id)
  t.sent = sent
  t.answered = answered
  const files = watchFiles(id, t, () => done)
  try {
    await waitFor(`${id} running`, async () => {
      if (t.failed !== undefined) throw new Error(`${id} did not launch: ${String(t.failure)}`)
      if (await stateOf(id) !== 'running') return false
      t.running = Date.now()
      return true
    }, 20, LAUNCH_TIMEOUT_MS)
    await waitFor(`${id}'s console on GetConsoleOutput`, async () => {
      const o = await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))
      if ((o.Output ?? '') === '') return false
      t.consoleApi = Date.now()
      return true
    }, 50, LAUNCH_TIMEOUT_MS)
    await waitFor(`${id}'s ${READY}`, () => {
      if (!consoleText(id).includes(READY)) return false
      t.ready = Date.now()
      return true
    }, 20, LAUNCH_TIMEOUT_MS)
  } finally {
    done = true
    await files
  }
  await terminate([id])
  return joinVolume(t)
}

/** The steps of a launch in the order they happen (instance-runner.ts launch → startVm). */
const PHASES: Array<[string, keyof Timeline, keyof Timeline]> = [
  ['RunInstances call (sent → answered)', 'sent', 'answered'],
  ['answered → root volume available (CreateVolume)', 'answered', 'volumeAvailable'],
  ['→ instance record names the volume', 'volumeAvailable', 'volumeCreated'],
  ['→ record has attachTime (ready check, Attach)', 'volumeCreated', 'attached'],
  ['→ instance dir made', 'attached', 'dirMade'],
  ['→ seed.iso written', 'dirMade', 'seedWritten'],
  ['→ IMDS socket listening', 'seedWritten', 'imdsListening'],
  ['→ qemu-system child of Hive seen', 'imdsListening', 'qemuSpawned'],
  ['→ QEMU daemon wrote qemu.pid', 'qemuSpawned', 'qemuPid'],
  ['→ QEMU opened console.log', 'qemuPid', 'consoleOpened'],
  ['→ QEMU parent exited (set-up done)', 'consoleOpened', 'qemuParentExited'],
  ['→ record says running (QMP connect, KV)', 'qemuParentExited', 'runningRecord'],
  ['→ DescribeInstances says running', 'runningRecord', 'running'],
  ['running → first console byte', 'running', 'firstConsoleByte'],
  ['running → first console line', 'running', 'firstConsoleLineAt'],
  ['running → HIVE-GUEST-READY', 'running', 'ready']
]

function report (label: string, ts: Timeline[]): void {
  console.log(`\n${label}`)
  console.log('phase                                              p50 ms    p90 ms   max ms')
  for (const [name, from, to] of PHASES) {
    const xs = spans(ts, from, to)
    if (xs.length === 0) continue
    console.log(`${name.padEnd(48)} ${fmt(percentile(xs, 50)).padStart(8)} ${fmt(percentile(xs, 90)).padStart(9)} ${fmt(Math.max(...xs)).padStart(8)}`)
  }
  for (const [name, to] of [['RunInstances → record says running (KV)', 'runningRecord'], ['RunInstances → running (DescribeInstances)', 'running'], ['RunInstances → first console line (file)', 'firstConsoleLineAt'],
    ['RunInstances → GetConsoleOutput non-empty', 'consoleApi'], ['RunInstances → HIVE-GUEST-READY', 'ready']] as Array<[string, keyof Timeline]>) {
    const xs = spans(ts, 'sent', to)
    if (xs.length === 0) continue
    console.log(`${name.padEnd(48)} ${fmt(percentile(xs, 50)).padStart(8)} ${fmt(percentile(xs, 90)).padStart(9)} ${fmt(Math.max(...xs)).padStart(8)}`)
  }
}

async function concurrent (imageId: string): Promise<Record<string, number | string>> {
  const natsPid = childPids(hivePid()).find(p => commandOf(p).includes('nats-server'))
  const before = { hive: memoryMiB(hivePid(), 'rss') ?? NaN, nats: natsPid !== undefined ? memoryMiB(natsPid, 'rss') ?? NaN : NaN }
  log(`concurrent: ${CONCURRENT} × ${TYPE} (${CONCURRENT_MODE === 'single' ? 'one RunInstances, MinCount = MaxCount' : `${CONCURRENT} parallel RunInstances`}); hive RSS ${before.hive.toFixed(0)} MiB before`)
  const start = Date.now()
  let outs: RunInstancesCommandOutput[]
  if (CONCURRENT_MODE === 'single') {
    outs = [await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: TYPE, MinCount: CONCURRENT, MaxCount: CONCURRENT }))]
  } else {
    const settled = await Promise.allSettled(Array.from({ length: CONCURRENT }, async () =>
      await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: TYPE, MinCount: 1, MaxCount: 1 }))))
    outs = settled.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])
    const refused = settled.filter(s => s.status === 'rejected') as PromiseRejectedResult[]
    if (refused.length > 0) log(`${refused.length} RunInstances refused: ${String(refused[0].reason)}`)
  }
  const answered = Date.now()
  const ids = outs.flatMap(o => (o.Instances ?? []).map(i => i.InstanceId as string))
  for (const id of ids) Object.assign(timelineOf(id), { sent: start, answered })
  log(`${ids.length} instances accepted in ${answered - start} ms`)
  let lastNote = 0
  const running = (): string[] => ids.filter(id => timelines.get(id)?.runningRecord !== undefined)
  const ready = (): string[] => ids.filter(id => {
    const t = timelines.get(id) as Timeline
    if (t.ready === undefined && consoleText(id).includes(READY)) t.ready = Date.now()
    return t.ready !== undefined
  })
  const failed = (): string[] => ids.filter(id => timelines.get(id)?.failed !== undefined)
  let timedOut = false
  try {
    await waitFor('every instance running and ready', () => {
      const r = running().length
      const g = ready().length
      const f = failed().length
      if (Date.now() - lastNote > 15_000) {
        lastNote = Date.now()
        log(`  ${((Date.now() - start) / 1000).toFixed(0)} s: ${r} running, ${g} ${READY}, ${f} failed; hive RSS ${fmt(memoryMiB(hivePid(), 'rss') ?? NaN)} MiB`)
      }
      return g + f >= ids.length
    }, 250, TIMEOUT_MS)
  } catch (e) {
    timedOut = true
    log((e as Error).message)
  }
  const allUp = Date.now()
  const runningIds = running()
  const readyIds = ready()
  const failedIds = failed()
  // Hive's memory with all of them up; slirp's per-connection IMDS relays have come and gone by now.
  await sleep(2000)
  const after = { hive: memoryMiB(hivePid(), 'rss') ?? NaN, nats: natsPid !== undefined ? memoryMiB(natsPid, 'rss') ?? NaN : NaN }
  const qemu = ids.flatMap(id => { const pid = qemuPid(id); return pid === undefined ? [] : [pid] })
  const qemuRss = qemu.flatMap(p => { const m = memoryMiB(p, 'rss'); return m === undefined ? [] : [m] })
  const qemuPss = qemu.flatMap(p => { const m = memoryMiB(p, 'pss'); return m === undefined ? [] : [m] })
  const avg = (xs: number[]): number => xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length
  const lastRunning = Math.max(...runningIds.map(id => (timelines.get(id) as Timeline).runningRecord as number))
  const lastReady = Math.max(...readyIds.map(id => (timelines.get(id) as Timeline).ready as number))
  const ts = ids.map(id => joinVolume(timelines.get(id) as Timeline))
  report(`concurrent: ${ids.length} instances`, ts)
  console.log(`\naccepted ${ids.length} of ${CONCURRENT} in ${answered - start} ms; running ${runningIds.length} (last after ${fmt(lastRunning - start)} ms); ` +
    `${READY} ${readyIds.length} (last after ${fmt(lastReady - start)} ms)${timedOut ? `; gave up after ${((allUp - start) / 1000).toFixed(0)} s` : ''}`)
  const reasons = new Map<string, number>()
  for (const id of failedIds) {
    const f = ((timelines.get(id) as Timeline).failure ?? '').replace(/\/\S*\/(i-[0-9a-f]+)\//g, '…/i-…/')
    reasons.set(f, (reasons.get(f) ?? 0) + 1)
  }
  for (const [reason, n] of reasons) console.log(`${n} launches failed: ${reason}`)
  const notReady = runningIds.filter(id => !readyIds.includes(id))
  for (const id of notReady.slice(0, 3)) console.log(`not ready: ${id}, console tail:\n${consoleText(id).split('\n').slice(-5).join('\n')}`)
  const perInstance = (after.hive - before.hive) / Math.max(1, runningIds.length)
  console.log(`hive RSS ${before.hive.toFixed(0)} → ${after.hive.toFixed(0)} MiB: ${perInstance.toFixed(2)} MiB per running instance; ` +
    `nats-server ${fmt(before.nats)} → ${fmt(after.nats)} MiB; QEMU (${qemuRss.length} processes) RSS avg ${avg(qemuRss).toFixed(0)} MiB, PSS avg ${avg(qemuPss).toFixed(0)} MiB; ` +
    `load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  const termStart = Date.now()
  const stuck = await terminate(ids)
  log(`terminated ${ids.length - stuck.length} of ${ids.length} in ${Date.now() - termStart} ms`)
  if (stuck.length > 0) console.log(`never terminated (${stuck.length}): ${stuck.map(id => `${id} (${String((timelines.get(id) as Timeline).failure ?? 'no failure recorded')})`).join(', ')}`)
  return {
    ec2_concurrent_accepted: ids.length,
    ec2_concurrent_running: runningIds.length,
    ec2_concurrent_ready: readyIds.length,
    ec2_concurrent_failed: failedIds.length,
    ec2_concurrent_never_terminated: stuck.length,
    ec2_concurrent_mode: CONCURRENT_MODE,
    ec2_concurrent_run_instances_ms: answered - start,
    ec2_concurrent_all_running_s: Number(((lastRunning - start) / 1000).toFixed(1)),
    ec2_concurrent_all_ready_s: Number(((lastReady - start) / 1000).toFixed(1)),
    ec2_concurrent_running_p50_ms: percentile(spans(ts, 'sent', 'runningRecord'), 50),
    ec2_hive_rss_per_instance_mib: Number(perInstance.toFixed(2)),
    ec2_qemu_rss_avg_mib: Number(avg(qemuRss).toFixed(0)),
    ec2_qemu_pss_avg_mib: Number(avg(qemuPss).toFixed(0)),
    ec2_concurrent_terminate_ms: Date.now() - termStart
  }
}

async function main (): Promise<void> {
  node = await startNode({
    caps: ['ec2', 'ebs', 's3'],
    nodeId: 'bench-ec2',
    args: ['--ec2-cpu-ratio', '100', '--ec2-ram-ratio', '20', '--ec2-disk-ratio', '100'],
    env: { HIVE_LOG_LEVEL: process.env.HIVE_LOG_LEVEL ?? 'info' }
  })
  log(`node ${node.endpoint}, data dir ${node.dataDir}`)
  ec2 = new EC2Client(sdkConfig(node))
  await watchRecords(node.natsUrl)
  const importStart = Date.now()
  const imageId = await importTestImage(node, 'bench-images')
  log(`imported the tiny guest as ${imageId} in ${Date.now() - importStart} ms`)

  const warm = await launchOne(imageId)
  log(`warm-up launch: running after ${fmt((warm.running ?? NaN) - warm.sent)} ms, first console line after ${fmt((warm.firstConsoleLineAt ?? NaN) - warm.sent)} ms`)
  const seq: Timeline[] = []
  for (let i = 0; i < LAUNCHES; i++) {
    const t = await launchOne(imageId)
    seq.push(t)
    log(`launch ${i + 1}/${LAUNCHES}: running ${fmt((t.running ?? NaN) - t.sent)} ms, first console line ${fmt((t.firstConsoleLineAt ?? NaN) - t.sent)} ms, ${READY} ${fmt((t.ready ?? NaN) - t.sent)} ms`)
  }
  const accel = warm.accel ?? 'unknown'
  console.log(`\nsequential: ${LAUNCHES} launches of ${TYPE}, the tiny guest booted from its disk by the firmware, QEMU accel ${accel}` +
    ` (after one warm-up launch: running ${fmt((warm.running ?? NaN) - warm.sent)} ms)`)
  console.log(`first console line: "${seq[0]?.firstConsoleLine ?? ''}"`)
  report('sequential launches (ms from the previous step; first console line read from console.log)', seq)

  const running = spans(seq, 'sent', 'running')
  const firstLine = spans(seq, 'sent', 'firstConsoleLineAt')
  const figures: Record<string, number | string> = {
    ec2_launch_overhead_ms: percentile(running, 50),
    ec2_first_console_ms: percentile(firstLine, 50),
    ec2_concurrent_running: 0,
    ec2_launch_overhead_p90_ms: percentile(running, 90),
    ec2_first_console_p90_ms: percentile(firstLine, 90),
    ec2_first_console_api_ms: percentile(spans(seq, 'sent', 'consoleApi'), 50),
    ec2_guest_ready_ms: percentile(spans(seq, 'sent', 'ready'), 50),
    ec2_run_instances_call_ms: percentile(spans(seq, 'sent', 'answered'), 50),
    ec2_accel: accel
  }
  for (const [, from, to] of PHASES.slice(1, 12)) figures[`ec2_phase_${from}_to_${to}_ms`] = percentile(spans(seq, from, to), 50)

  Object.assign(figures, await concurrent(imageId))
  nc?.close().catch(() => {})
  saveNodeLog()
  log(`the node's log: ${NODE_LOG}`)
  await node.stop()
  node = undefined
  console.log(JSON.stringify(figures))
}

await main()
