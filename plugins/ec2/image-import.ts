/**
 * ImportImage and ImportSnapshot from objects in Hive's S3, their tasks (DescribeImportImageTasks,
 * DescribeImportSnapshotTasks, CancelImportTask), and the disk-to-snapshot pipeline they share with
 * `hive admin ec2 images import`: qemu-img identifies the disk (raw, qcow2, vmdk, vhd, vhdx) and
 * converts it into a new EBS volume over NBD; the volume is snapshotted and deleted.
 *
 *   hive_ec2_import_tasks  <accountId>.<importTaskId> → ImportTaskRecord. Entries expire a week
 *                          after their last change: AWS shows finished tasks for seven days.
 *
 * A task runs on the node that accepted it, which records itself in the task. The disk is first
 * downloaded with the caller's own S3 permissions (GetObject by ranges, so no message outgrows the
 * bus) into <data-dir>/ec2/imports/<importTaskId>.<n>, removed when the task ends and at start. A
 * task whose node is gone or restarted is ended as deleted, with a ServerError message, the next
 * time tasks are read (or at that node's start).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import {
  AwsError, CoreErrors, isAwsError, kvBucketName, matchFilters, paginate, requestContextOf, TagStore, tagsForResource,
  type ActionHandler, type ActionInput, type ActionOutput, type ActionSpec, type Bucket, type Bus, type Filter, type Hive,
  type RequestContext, type Tag, type TagSpecification
} from '../../core/index.js'

export type TaskStatus = 'active' | 'deleting' | 'deleted' | 'completed'

export interface ImportDiskRecord {
  description?: string
  deviceName?: string
  /** As the request gave it (AWS's words: RAW, VHD, VMDK …), else as qemu-img found it. */
  format?: string
  url?: string
  userBucket: { s3Bucket: string, s3Key: string }
  /** Bytes of the object, once known. */
  diskImageSize?: number
  snapshotId?: string
  status: TaskStatus
  statusMessage?: string
  progress?: number
}

export interface ImportTaskRecord {
  importTaskId: string
  kind: 'image' | 'snapshot'
  ownerId: string
  /** The node running the task. */
  node: string
  /** ISO-8601: when that node's ec2 capability started; a task of an earlier run was interrupted. */
  nodeStartedAt: string
  /** ISO-8601. */
  startTime: string
  status: TaskStatus
  statusMessage?: string
  progress?: number
  description?: string
  architecture?: string
  platform?: string
  bootMode?: string
  encrypted: boolean
  kmsKeyId?: string
  imageId?: string
  disks: ImportDiskRecord[]
  cancelReason?: string
}

/** Registers the image of a finished ImportImage task (images.ts registerImage). */
export type RegisterImported = (ctx: RequestContext, spec: {
  Name: string
  Description?: string
  Architecture?: string
  RootDeviceName: string
  BootMode?: string
  BlockDeviceMappings: Array<{ DeviceName: string, Ebs: { SnapshotId: string, DeleteOnTermination: boolean } }>
}) => Promise<string>

const TASK_TTL_MS = 7 * 24 * 60 * 60_000
/** Bytes of the S3 object asked for at a time: well under the bus's max_payload. */
const RANGE_BYTES = 4 << 20
const GIB = 1024 ** 3
/** Longer than any snapshot of an imported disk should take; a stuck one fails the task, not the node. */
const WAIT_MS = 30 * 60_000
const PROGRESS_EVERY_MS = 1000

/** qemu-img's format names for the DiskContainer Formats Hive takes (AWS's, plus QCOW2). */
const FORMATS: Record<string, string> = { RAW: 'raw', VHD: 'vpc', VHDX: 'vhdx', VMDK: 'vmdk', QCOW2: 'qcow2' }
/** VMDK variants held in one file; the others name further files, which an import must never open. */
const VMDK_ONE_FILE = ['monolithicSparse', 'streamOptimized']
const ARCHITECTURES = ['i386', 'x86_64', 'arm64']
const BOOT_MODES = ['legacy-bios', 'uefi', 'uefi-preferred']
const PLATFORMS = ['Linux', 'Windows']

export const ImportErrors = {
  source: (where: string) => new AwsError('InvalidParameter', `Invalid S3 source location ${where}: the object does not exist or is not readable by the caller.`, 400),
  sourceMissing: () => new AwsError('InvalidParameter', 'A disk container needs UserBucket (S3Bucket and S3Key) or an s3://bucket/key Url.', 400),
  url: (url: string) => new AwsError('InvalidParameter', `Invalid S3 source location ${url}: Hive imports from s3://bucket/key URLs of its own S3.`, 400),
  snapshotSource: () => new AwsError('InvalidParameter', 'Hive imports disks from S3 objects only; DiskContainer.SnapshotId is not supported.', 400),
  format: (format: string) =>
    new AwsError('InvalidParameter', `Invalid disk format ${format}. Valid formats are: ${Object.keys(FORMATS).join(', ')}.`, 400),
  invalidEnum: (parameter: string, value: string, valid: string[]) =>
    new AwsError('InvalidParameterValue', `Value (${value}) for parameter ${parameter} is invalid. Valid values are: ${valid.join(', ')}`, 400),
  taskMalformed: (id: string) => new AwsError('InvalidConversionTaskId.Malformed', `The import task ID '${id}' is malformed.`, 400),
  taskNotFound: (id: string) => new AwsError('InvalidConversionTaskId', `The import task ID '${id}' does not exist.`, 400),
  notCancellable: (id: string, status: string) =>
    new AwsError('IncorrectState', `The import task ${id} is ${status} and cannot be canceled.`, 400)
} as const

/** A failure the client caused (a disk qemu-img cannot read, or will not): shown as AWS shows them, "ClientError: …". */
export class DiskError extends Error {}

export const IMPORT_ACTIONS: Record<string, ActionSpec> = {
  ImportImage: {
    unsupported: ['ClientData', 'ClientToken', 'Hypervisor', 'LicenseType', 'LicenseSpecifications', 'RoleName', 'UsageOperation'],
    note: 'Disks come from Hive\'s S3 (UserBucket, or an s3://bucket/key Url), read with the caller\'s own permissions (no vmimport role). Formats RAW, VHD, VHDX, VMDK (monolithicSparse or streamOptimized) and, beyond AWS, QCOW2; OVA is not taken. The image is named after the task, its first disk is /dev/sda1 (unless DeviceName says), Architecture defaults to x86_64 and Platform to Linux: nothing is detected from inside the disk.'
  },
  ImportSnapshot: {
    unsupported: ['ClientData', 'ClientToken', 'RoleName'],
    note: 'As ImportImage, for one disk. StatusMessage goes pending → downloading/converting → completed.'
  },
  DescribeImportImageTasks: { note: 'Filters task-state, tag:, tag-key, tag-value. Tasks stay visible for 7 days after they end, as on AWS.' },
  DescribeImportSnapshotTasks: { note: 'As DescribeImportImageTasks.' },
  CancelImportTask: { note: 'An active task goes to deleting, then deleted once its work has stopped; what it had made is removed.' }
}

const hex17 = (): string => randomBytes(9).toString('hex').slice(0, 17)
const TASK_ID = /^import-(ami|snap)-(?:[0-9a-f]{8}|[0-9a-f]{17})$/

function oneOf (value: string | undefined, valid: string[], parameter: string): void {
  if (value !== undefined && !valid.includes(value)) throw ImportErrors.invalidEnum(parameter, value, valid)
}

interface DiskContainerInput {
  Description?: string
  DeviceName?: string
  Format?: string
  SnapshotId?: string
  Url?: string
  UserBucket?: { S3Bucket?: string, S3Key?: string }
}

/** A disk container as a task records it, after the checks that need no download. */
function diskOf (c: DiskContainerInput): ImportDiskRecord {
  if (c.SnapshotId !== undefined) throw ImportErrors.snapshotSource()
  let userBucket: ImportDiskRecord['userBucket']
  if (c.UserBucket?.S3Bucket !== undefined && c.UserBucket.S3Key !== undefined) {
    userBucket = { s3Bucket: c.UserBucket.S3Bucket, s3Key: c.UserBucket.S3Key }
  } else if (c.Url !== undefined) {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(c.Url)
    if (m === null) throw ImportErrors.url(c.Url)
    userBucket = { s3Bucket: m[1], s3Key: m[2] }
  } else {
    throw ImportErrors.sourceMissing()
  }
  if (c.Format !== undefined && FORMATS[c.Format.toUpperCase()] === undefined) throw ImportErrors.format(c.Format)
  const disk: ImportDiskRecord = { userBucket, status: 'active', statusMessage: 'pending', progress: 0 }
  if (c.Description !== undefined) disk.description = c.Description
  if (c.DeviceName !== undefined) disk.deviceName = c.DeviceName
  if (c.Format !== undefined) disk.format = c.Format.toUpperCase()
  if (c.Url !== undefined) disk.url = c.Url
  return disk
}

// The disk-to-snapshot pipeline, shared with the admin command.

/** What the pipeline needs of the cluster, as the importing account. */
export interface ImportTarget {
  /** Calls an EC2 action (CreateVolume, CreateSnapshot …) as the importing account. */
  request: (action: string, input: ActionInput) => Promise<ActionOutput>
  bus: Pick<Bus, 'callInternal'>
  accountId: string
  availabilityZone: string
}

export interface DiskInfo { format: string, virtualSize: number }

/** Runs a program; its stdout, or a DiskError/Error with its stderr. Killed when `signal` aborts. */
async function run (cmd: string, args: string[], opts: { signal?: AbortSignal, onStdout?: (chunk: string) => void } = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.signal === undefined ? {} : { signal: opts.signal }) })
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); opts.onStdout?.(d.toString()) })
    p.stderr.on('data', (d: Buffer) => { err += d.toString() })
    p.on('error', e => { err += e.message })
    p.on('close', code => {
      if (opts.signal?.aborted === true) reject(opts.signal.reason)
      else if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${args[0]}: ${err.trim()}`))
    })
  })
}

/**
 * What qemu-img makes of the disk file: its format and virtual size. Refuses what an import must
 * not open — backing files, external data files, multi-file VMDKs (they would read other files of
 * this machine) — and a format other than the one the request declared.
 */
export async function inspectDisk (file: string, declared?: string, signal?: AbortSignal): Promise<DiskInfo> {
  let info: { format: string, 'virtual-size': number, 'backing-filename'?: string, 'format-specific'?: { data?: Record<string, unknown> } }
  try {
    info = JSON.parse(await run('qemu-img', ['info', '--output', 'json', file], { signal }))
  } catch (e) {
    if (signal?.aborted === true) throw e
    throw new DiskError(`Disk validation failed [${e instanceof Error ? e.message : String(e)}]`)
  }
  const data = info['format-specific']?.data ?? {}
  const known = Object.entries(FORMATS).find(([, f]) => f === info.format)?.[0]
  if (known === undefined) throw new DiskError(`Disk validation failed [Unsupported file format ${info.format}]`)
  if (declared !== undefined && declared !== known) throw new DiskError(`Disk validation failed [the disk is ${known}, not ${declared}]`)
  if (info['backing-filename'] !== undefined) throw new DiskError('Disk validation failed [disks with a backing file are not supported]')
  if (data['data-file'] !== undefined) throw new DiskError('Disk validation failed [disks with an external data file are not supported]')
  if (info.format === 'vmdk' && !VMDK_ONE_FILE.includes(String(data['create-type']))) {
    throw new DiskError(`Disk validation failed [Unsupported VMDK File Format ${String(data['create-type'])}]`)
  }
  if (!(info['virtual-size'] > 0)) throw new DiskError('Disk validation failed [the disk is empty]')
  return { format: info.format, virtualSize: info['virtual-size'] }
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise(resolve => setTimeout(resolve, ms))
  signal?.throwIfAborted()
}

async function waitFor (what: string, check: () => Promise<boolean>, signal?: AbortSignal): Promise<void> {
  const end = Date.now() + WAIT_MS
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} did not happen in time`)
    await sleep(200, signal)
  }
}

/** The address qemu-img reaches the volume at from this machine. */
async function nbdAddress (target: ImportTarget, volumeId: string): Promise<string> {
  const reply = await target.bus.callInternal('ebs.volume.nbd', { data: new Uint8Array(0), headers: { volumeId, accountId: target.accountId } })
  const h = reply.headers ?? {}
  if (h.code !== undefined && h.code !== '') throw new AwsError(h.code, h.message ?? h.code, 400)
  if (existsSync(h.socket)) return `nbd+unix:///${h.export}?socket=${h.socket}`
  if (h.tcp !== undefined) return `nbd://${h.tcp}/${h.export}`
  throw new Error(`${volumeId} lives on node ${h.node}, on another machine, which serves no NBD TCP listener (--ebs-nbd-listen)`)
}

/**
 * The disk written into a new volume and snapshotted: the snapshot's id and size (GiB). The volume
 * is deleted whatever happens. `onProgress` hears 0–1: the conversion to 0.8, the snapshot after.
 */
export async function diskToSnapshot (target: ImportTarget, file: string, disk: DiskInfo, opts: {
  description: string
  encrypted?: boolean
  kmsKeyId?: string
  onProgress: (fraction: number) => void
  signal?: AbortSignal
}): Promise<{ snapshotId: string, volumeSize: number }> {
  const volumeSize = Math.max(1, Math.ceil(disk.virtualSize / GIB))
  const created = await target.request('CreateVolume', {
    Size: volumeSize,
    AvailabilityZone: target.availabilityZone,
    VolumeType: 'gp3',
    ...(opts.encrypted === true ? { Encrypted: true } : {}),
    ...(opts.kmsKeyId === undefined ? {} : { KmsKeyId: opts.kmsKeyId })
  })
  const volumeId = String(created?.VolumeId)
  try {
    await waitFor(`${volumeId} available`, async () => {
      const v = (await target.request('DescribeVolumes', { VolumeIds: [volumeId] }))?.Volumes as Array<{ State: string }>
      if (v[0]?.State === 'error') throw new Error(`${volumeId} could not be created`)
      return v[0]?.State === 'available'
    }, opts.signal)
    // -n: into the existing volume, whose unwritten blocks already read as zeros (qemu-img skips them).
    await run('qemu-img', ['convert', '-p', '-n', '-f', disk.format, '-O', 'raw', file, await nbdAddress(target, volumeId)], {
      signal: opts.signal,
      onStdout: chunk => {
        for (const m of chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) opts.onProgress(0.8 * Number(m[1]) / 100)
      }
    })
    const snap = await target.request('CreateSnapshot', { VolumeId: volumeId, Description: opts.description })
    const snapshotId = String(snap?.SnapshotId)
    opts.onProgress(0.9)
    await waitFor(`${snapshotId} completed`, async () => {
      const s = (await target.request('DescribeSnapshots', { SnapshotIds: [snapshotId] }))?.Snapshots as Array<{ State: string, StateMessage?: string }>
      if (s[0]?.State === 'error') throw new Error(`snapshot ${snapshotId} failed: ${s[0].StateMessage ?? ''}`)
      return s[0]?.State === 'completed'
    }, opts.signal)
    opts.onProgress(1)
    return { snapshotId, volumeSize }
  } finally {
    await target.request('DeleteVolume', { VolumeId: volumeId }).catch(() => {})
  }
}

/** The bytes of a GetObject Body however it arrived: whole (in process or over the bus) or streamed. */
async function bodyBytes (body: unknown): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body
  if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) {
    const parts: Buffer[] = []
    for await (const part of body as AsyncIterable<Buffer>) parts.push(part)
    return Buffer.concat(parts)
  }
  return new Uint8Array(0)
}

/** Copies the S3 object into `file` with the caller's permissions; its size in bytes. */
async function download (bus: Pick<Bus, 'request'>, ctx: RequestContext, source: ImportDiskRecord['userBucket'], file: string,
  onProgress: (fraction: number) => void, signal: AbortSignal): Promise<number> {
  const where = { Bucket: source.s3Bucket, Key: source.s3Key }
  const size = Number((await bus.request('s3', 'HeadObject', where, ctx))?.ContentLength ?? 0)
  const out = await open(file, 'w')
  try {
    for (let at = 0; at < size; at += RANGE_BYTES) {
      signal.throwIfAborted()
      const end = Math.min(size, at + RANGE_BYTES)
      const got = await bus.request('s3', 'GetObject', { ...where, Range: `bytes=${at}-${end - 1}` }, ctx)
      const bytes = await bodyBytes(got?.Body)
      if (bytes.length !== end - at) throw new Error(`s3://${source.s3Bucket}/${source.s3Key} changed while it was read`)
      await out.write(bytes, 0, bytes.length, at)
      onProgress(end / size)
    }
  } finally {
    await out.close()
  }
  return size
}

// The tasks.

async function taskBucket (hive: Pick<Hive, 'kv'>): Promise<Bucket<ImportTaskRecord>> {
  return await hive.kv.bucket<ImportTaskRecord>(kvBucketName('ec2', 'import_tasks'), { ttlMs: TASK_TTL_MS })
}

const taskKey = (accountId: string, taskId: string): string => `${accountId}.${taskId}`

/** The existence checks CreateTags/DeleteTags make of import tasks, for core serveTaggedResources. */
export function importTaggedResources (hive: Pick<Hive, 'kv'>): Record<string, (accountId: string, resourceId: string) => Promise<boolean>> {
  const exists = async (accountId: string, taskId: string): Promise<boolean> =>
    (await (await taskBucket(hive)).get(taskKey(accountId, taskId))) !== undefined
  return { 'import-ami': exists, 'import-snap': exists }
}

const userBucketOutput = (d: ImportDiskRecord): Record<string, unknown> => ({ S3Bucket: d.userBucket.s3Bucket, S3Key: d.userBucket.s3Key })

function diskOutput (d: ImportDiskRecord): Record<string, unknown> {
  return {
    ...(d.description === undefined ? {} : { Description: d.description }),
    ...(d.deviceName === undefined ? {} : { DeviceName: d.deviceName }),
    ...(d.diskImageSize === undefined ? {} : { DiskImageSize: d.diskImageSize }),
    ...(d.format === undefined ? {} : { Format: d.format }),
    ...(d.progress === undefined || d.status !== 'active' ? {} : { Progress: String(d.progress) }),
    ...(d.snapshotId === undefined ? {} : { SnapshotId: d.snapshotId }),
    Status: d.status,
    ...(d.statusMessage === undefined ? {} : { StatusMessage: d.statusMessage }),
    ...(d.url === undefined ? {} : { Url: d.url }),
    UserBucket: userBucketOutput(d)
  }
}

const progressOf = (t: ImportTaskRecord): Record<string, unknown> =>
  t.progress === undefined || (t.status !== 'active' && t.status !== 'deleting') ? {} : { Progress: String(t.progress) }

function imageTaskOutput (t: ImportTaskRecord, tags: Tag[]): Record<string, unknown> {
  return {
    ...(t.architecture === undefined ? {} : { Architecture: t.architecture }),
    ...(t.description === undefined ? {} : { Description: t.description }),
    Encrypted: t.encrypted,
    ...(t.imageId === undefined ? {} : { ImageId: t.imageId }),
    ImportTaskId: t.importTaskId,
    ...(t.kmsKeyId === undefined ? {} : { KmsKeyId: t.kmsKeyId }),
    ...(t.platform === undefined ? {} : { Platform: t.platform }),
    ...progressOf(t),
    SnapshotDetails: t.disks.map(diskOutput),
    Status: t.status,
    ...(t.statusMessage === undefined ? {} : { StatusMessage: t.statusMessage }),
    ...(tags.length === 0 ? {} : { Tags: tags }),
    ...(t.bootMode === undefined ? {} : { BootMode: t.bootMode })
  }
}

function snapshotTaskOutput (t: ImportTaskRecord, tags: Tag[]): Record<string, unknown> {
  const d = t.disks[0]
  return {
    ...(t.description === undefined ? {} : { Description: t.description }),
    ImportTaskId: t.importTaskId,
    SnapshotTaskDetail: {
      ...(t.description === undefined ? {} : { Description: t.description }),
      ...(d.diskImageSize === undefined ? {} : { DiskImageSize: d.diskImageSize }),
      Encrypted: t.encrypted,
      ...(d.format === undefined ? {} : { Format: d.format }),
      ...(t.kmsKeyId === undefined ? {} : { KmsKeyId: t.kmsKeyId }),
      ...progressOf(t),
      ...(d.snapshotId === undefined ? {} : { SnapshotId: d.snapshotId }),
      Status: t.status,
      ...(t.statusMessage === undefined ? {} : { StatusMessage: t.statusMessage }),
      ...(d.url === undefined ? {} : { Url: d.url }),
      UserBucket: userBucketOutput(d)
    },
    ...(tags.length === 0 ? {} : { Tags: tags })
  }
}

interface ImportImageInput {
  Architecture?: string
  BootMode?: string
  Description?: string
  DiskContainers?: DiskContainerInput[]
  Encrypted?: boolean
  KmsKeyId?: string
  Platform?: string
  TagSpecifications?: TagSpecification[]
}

interface ImportSnapshotInput {
  Description?: string
  DiskContainer?: DiskContainerInput
  Encrypted?: boolean
  KmsKeyId?: string
  TagSpecifications?: TagSpecification[]
}

interface DescribeTasksInput {
  ImportTaskIds?: string[]
  Filters?: Filter[]
  MaxResults?: number
  NextToken?: string
}

const TASK_FILTERS = { 'task-state': (t: ImportTaskRecord) => t.status }

/** The device name of an imported image's n-th disk when the request names none: AWS's. */
const deviceFor = (n: number): string => n === 0 ? '/dev/sda1' : `/dev/sd${String.fromCharCode(0x61 + n)}`

export function importHandlers (hive: Pick<Hive, 'bus' | 'kv' | 'node' | 'log' | 'nodes'>, register: RegisterImported): Record<string, ActionHandler> {
  const tags = new TagStore(hive.kv)
  const workDir = join(hive.node.dataDir, 'ec2', 'imports')
  const startedAt = new Date().toISOString()
  /** This node's running tasks, to stop one that is canceled. */
  const running = new Map<string, AbortController>()

  // What a previous run of this node left: its files, and its tasks, which nothing runs any more.
  rmSync(workDir, { recursive: true, force: true })
  mkdirSync(workDir, { recursive: true })

  const change = async (t: ImportTaskRecord, fn: (cur: ImportTaskRecord) => ImportTaskRecord): Promise<ImportTaskRecord | undefined> =>
    await (await taskBucket(hive)).modify(taskKey(t.ownerId, t.importTaskId), cur => cur === undefined ? undefined : fn(cur))

  /** Ends tasks no node runs any more: their node is gone, or restarted since it took them. */
  const reap = async (tasks: ImportTaskRecord[]): Promise<ImportTaskRecord[]> => {
    if (!tasks.some(t => t.status === 'active' || t.status === 'deleting')) return tasks
    const live = new Map((await hive.nodes()).map(n => [n.nodeId, n.startedAt]))
    // This node knows its own run; another node still runs the task if it has not restarted since
    // the task began.
    const stillRuns = (t: ImportTaskRecord): boolean => t.node === hive.node.nodeId
      ? t.nodeStartedAt === startedAt
      : live.has(t.node) && (live.get(t.node) as string) <= t.startTime
    return await Promise.all(tasks.map(async t => {
      if ((t.status !== 'active' && t.status !== 'deleting') || stillRuns(t)) return t
      return await change(t, cur => cur.status === 'active' || cur.status === 'deleting'
        ? { ...cur, status: 'deleted', statusMessage: 'ServerError: the Hive node running the task stopped before it ended' }
        : cur) ?? t
    }))
  }

  const accountTasks = async (accountId: string, kind: ImportTaskRecord['kind']): Promise<ImportTaskRecord[]> =>
    await reap((await (await taskBucket(hive)).list(accountId)).map(e => e.value).filter(t => t.kind === kind))

  /** The task's work, in the background on this node. */
  const work = async (first: ImportTaskRecord, ctx: RequestContext): Promise<void> => {
    const abort = new AbortController()
    running.set(first.importTaskId, abort)
    const signal = abort.signal
    // A cancel from another node shows in the record only.
    const watch = setInterval(() => {
      void (async () => {
        const cur = (await (await taskBucket(hive)).get(taskKey(first.ownerId, first.importTaskId)))?.value
        if (cur?.status === 'deleting') abort.abort(new Error('canceled'))
      })().catch(() => {})
    }, PROGRESS_EVERY_MS)
    const target: ImportTarget = {
      request: async (action, input) => await hive.bus.request('ec2', action, input, ctx),
      bus: hive.bus,
      accountId: ctx.accountId,
      availabilityZone: hive.node.az
    }
    const made: string[] = []
    let imageId: string | undefined
    let lastWrite = 0
    const progress = async (n: number, fraction: number, force = false): Promise<void> => {
      if (!force && Date.now() - lastWrite < PROGRESS_EVERY_MS) return
      lastWrite = Date.now()
      const pct = Math.floor(fraction * 100)
      await change(first, cur => {
        // A write late from a callback must not undo the task's end or its cancel.
        if (cur.status !== 'active' || cur.disks[n].status !== 'active') return cur
        const disks = cur.disks.map((d, i) => i === n ? { ...d, progress: pct, statusMessage: 'downloading/converting' } : d)
        const overall = (disks.reduce((sum, d) => sum + (d.progress ?? 0), 0) / disks.length)
        return { ...cur, disks, statusMessage: cur.kind === 'image' ? 'converting' : 'downloading/converting', progress: Math.max(2, Math.floor(2 + overall * 0.9)) }
      })
    }
    try {
      for (const [n, disk] of first.disks.entries()) {
        await progress(n, 0, true)
        const file = join(workDir, `${first.importTaskId}.${n}`)
        try {
          const size = await download(hive.bus, ctx, disk.userBucket, file, f => { void progress(n, 0.3 * f) }, signal)
          const info = await inspectDisk(file, disk.format, signal)
          const format = Object.entries(FORMATS).find(([, f]) => f === info.format)?.[0] ?? info.format
          await change(first, cur => ({ ...cur, disks: cur.disks.map((d, i) => i === n ? { ...d, diskImageSize: size, format } : d) }))
          const { snapshotId } = await diskToSnapshot(target, file, info, {
            description: `Created by AWS-VMImport service for ${first.importTaskId}`,
            encrypted: first.encrypted,
            ...(first.kmsKeyId === undefined ? {} : { kmsKeyId: first.kmsKeyId }),
            onProgress: f => { void progress(n, 0.3 + 0.7 * f) },
            signal
          })
          made.push(snapshotId)
          await change(first, cur => ({
            ...cur,
            disks: cur.disks.map((d, i) => {
              if (i !== n) return d
              const { statusMessage: _, progress: __, ...rest } = d
              return { ...rest, snapshotId, status: 'completed' }
            })
          }))
        } finally {
          rmSync(file, { force: true })
        }
      }
      if (first.kind === 'image') {
        await change(first, cur => ({ ...cur, statusMessage: 'preparing ami', progress: 95 }))
        signal.throwIfAborted()
        imageId = await register(ctx, {
          Name: first.importTaskId,
          ...(first.description === undefined ? {} : { Description: first.description }),
          Architecture: first.architecture ?? 'x86_64',
          RootDeviceName: first.disks[0].deviceName ?? deviceFor(0),
          ...(first.bootMode === undefined ? {} : { BootMode: first.bootMode }),
          BlockDeviceMappings: first.disks.map((d, i) => ({ DeviceName: d.deviceName ?? deviceFor(i), Ebs: { SnapshotId: made[i], DeleteOnTermination: true } }))
        })
      }
      await change(first, cur => {
        // A cancel that came after the last check wins: what was made is undone below.
        if (cur.status !== 'active') {
          abort.abort(new Error('canceled'))
          signal.throwIfAborted()
        }
        const { statusMessage: _, progress: __, ...rest } = cur
        return { ...rest, status: 'completed', ...(imageId === undefined ? {} : { imageId }) }
      })
    } catch (err) {
      if (imageId !== undefined) await hive.bus.request('ec2', 'DeregisterImage', { ImageId: imageId }, ctx).catch(() => {})
      for (const snapshotId of made) await hive.bus.request('ec2', 'DeleteSnapshot', { SnapshotId: snapshotId }, ctx).catch(() => {})
      const canceled = signal.aborted
      if (!canceled && !(err instanceof DiskError)) hive.log.error({ err, importTaskId: first.importTaskId }, 'import task failed')
      const message = canceled
        ? undefined
        : err instanceof DiskError ? `ClientError: ${err.message}` : `ServerError: ${err instanceof Error ? err.message : String(err)}`
      await change(first, cur => ({
        ...cur,
        status: 'deleted',
        statusMessage: message ?? cur.cancelReason ?? 'User initiated task cancelation',
        disks: cur.disks.map(d => d.status === 'active' ? { ...d, status: 'deleted' } : d)
      })).catch(e => { hive.log.error({ err: e }, 'recording the end of an import task failed') })
    } finally {
      clearInterval(watch)
      running.delete(first.importTaskId)
    }
  }

  /** Checks the sources are readable by the caller, records the task and starts it. */
  const start = async (ctx: RequestContext, record: ImportTaskRecord, taskTags: Tag[]): Promise<void> => {
    for (const d of record.disks) {
      try {
        await hive.bus.request('s3', 'HeadObject', { Bucket: d.userBucket.s3Bucket, Key: d.userBucket.s3Key }, ctx)
      } catch (e) {
        if (!isAwsError(e) || e.statusCode >= 500) throw e
        throw ImportErrors.source(d.url ?? `s3://${d.userBucket.s3Bucket}/${d.userBucket.s3Key}`)
      }
    }
    await (await taskBucket(hive)).create(taskKey(record.ownerId, record.importTaskId), record)
    await tags.put(record.ownerId, record.importTaskId, taskTags)
    void work(record, ctx)
  }

  const newTask = (ctx: RequestContext, kind: ImportTaskRecord['kind'], disks: ImportDiskRecord[], input: { Description?: string, Encrypted?: boolean, KmsKeyId?: string }): ImportTaskRecord => {
    const record: ImportTaskRecord = {
      importTaskId: `import-${kind === 'image' ? 'ami' : 'snap'}-${hex17()}`,
      kind,
      ownerId: ctx.accountId,
      node: hive.node.nodeId,
      nodeStartedAt: startedAt,
      startTime: new Date().toISOString(),
      status: 'active',
      statusMessage: 'pending',
      progress: 0,
      encrypted: input.Encrypted === true || input.KmsKeyId !== undefined,
      disks
    }
    if (input.Description !== undefined) record.description = input.Description
    if (input.KmsKeyId !== undefined) record.kmsKeyId = input.KmsKeyId
    return record
  }

  const describe = (kind: ImportTaskRecord['kind'], member: string, output: (t: ImportTaskRecord, tags: Tag[]) => Record<string, unknown>): ActionHandler =>
    async (raw, ctx) => {
      const input = raw as DescribeTasksInput
      const ids = input.ImportTaskIds ?? []
      for (const id of ids) if (!TASK_ID.test(id)) throw ImportErrors.taskMalformed(id)
      let tasks = await accountTasks(ctx.accountId, kind)
      const unknown = ids.find(id => !tasks.some(t => t.importTaskId === id))
      if (unknown !== undefined) throw ImportErrors.taskNotFound(unknown)
      if (ids.length > 0) tasks = tasks.filter(t => ids.includes(t.importTaskId))
      const taskTags = await tags.getMany(ctx.accountId, tasks.map(t => t.importTaskId))
      const key = (t: ImportTaskRecord): string => `${t.startTime}|${t.importTaskId}`
      const matched = matchFilters(tasks, input.Filters, TASK_FILTERS, t => taskTags.get(t.importTaskId) ?? [])
        .sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
      const page = paginate(matched, input, { pageSize: Number.MAX_SAFE_INTEGER }, key)
      return {
        [member]: page.items.map(t => output(t, taskTags.get(t.importTaskId) ?? [])),
        ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken })
      }
    }

  void (async () => {
    const bucket = await taskBucket(hive)
    for (const { value: t } of await bucket.list()) {
      if (t.node === hive.node.nodeId && t.nodeStartedAt !== startedAt) await reap([t])
    }
  })().catch(err => { hive.log.warn({ err }, 'ending the import tasks of this node\'s previous run failed') })

  return {
    ImportImage: async (raw, ctx) => {
      const input = raw as ImportImageInput
      const containers = input.DiskContainers ?? []
      if (containers.length === 0) throw CoreErrors.missingParameter('DiskContainers')
      oneOf(input.Architecture, ARCHITECTURES, 'Architecture')
      oneOf(input.BootMode, BOOT_MODES, 'BootMode')
      oneOf(input.Platform, PLATFORMS, 'Platform')
      const taskTags = tagsForResource(input.TagSpecifications, 'import-image-task')
      const record = newTask(ctx, 'image', containers.map(diskOf), input)
      record.architecture = input.Architecture ?? 'x86_64'
      record.platform = input.Platform ?? 'Linux'
      if (input.BootMode !== undefined) record.bootMode = input.BootMode
      await start(requestContextOf(ctx), record, taskTags)
      return imageTaskOutput(record, taskTags)
    },

    ImportSnapshot: async (raw, ctx) => {
      const input = raw as ImportSnapshotInput
      if (input.DiskContainer === undefined) throw CoreErrors.missingParameter('DiskContainer')
      const taskTags = tagsForResource(input.TagSpecifications, 'import-snapshot-task')
      const record = newTask(ctx, 'snapshot', [diskOf(input.DiskContainer)], input)
      await start(requestContextOf(ctx), record, taskTags)
      return snapshotTaskOutput(record, taskTags)
    },

    DescribeImportImageTasks: describe('image', 'ImportImageTasks', imageTaskOutput),
    DescribeImportSnapshotTasks: describe('snapshot', 'ImportSnapshotTasks', snapshotTaskOutput),

    CancelImportTask: async (raw, ctx) => {
      const id = raw.ImportTaskId as string | undefined
      if (id === undefined || id === '') throw CoreErrors.missingParameter('ImportTaskId')
      if (!TASK_ID.test(id)) throw ImportErrors.taskMalformed(id)
      const found = [...await accountTasks(ctx.accountId, 'image'), ...await accountTasks(ctx.accountId, 'snapshot')].find(t => t.importTaskId === id)
      if (found === undefined) throw ImportErrors.taskNotFound(id)
      let previous = ''
      await change(found, cur => {
        previous = cur.status
        if (cur.status !== 'active') throw ImportErrors.notCancellable(id, cur.status)
        return { ...cur, status: 'deleting', ...(typeof raw.CancelReason === 'string' ? { cancelReason: raw.CancelReason } : {}) }
      })
      running.get(id)?.abort(new Error('canceled'))
      return { ImportTaskId: id, PreviousState: previous, State: 'deleting' }
    }
  }
}
