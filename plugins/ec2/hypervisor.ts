/**
 * The QEMU process driver: starts a VM per instance, re-attaches to it after a Hive restart, and
 * drives it over QMP (qmp.ts) — disks on and off, ACPI power button, reset, forced quit.
 *
 * Each QEMU runs with -daemonize: it forks into its own session, so it outlives the Hive process that
 * started it, and the launching process exits only once QEMU's set-up (disks opened, QMP socket
 * listening, pid file written) succeeded — or with QEMU's own error message. What a later Hive needs to
 * find the VM again is the two paths it was started with: the QMP socket and the pid file.
 *
 * Devices, by the names QMP knows them by (a disk's `id` is the EBS volume id):
 *   nbd-<id>    block node: the volume, read from the ebs capability's NBD server (unix socket, export)
 *   vdisk-<id>  its virtio-blk-pci device; serial = the id without '-' (20 characters, virtio's limit,
 *               as AWS puts "vol0123…" in the NVMe serial), so a guest can map disks to volumes
 *   seed        the cloud-init NoCloud seed (ISO 9660), an IDE CD-ROM: it stays out of the virtio
 *               disks' vdX naming, so the root disk is vda and attached volumes follow it
 *   net0        the NIC on QEMU user networking (slirp)
 *   serial0     the serial console (ttyS0), appended to the instance's console log
 * The machine is `pc` (i440FX), whose PCI slots take hot-plugged devices through ACPI without extra
 * root ports.
 */
import { spawn } from 'node:child_process'
import { access, constants, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { QmpClient, QmpClosedError } from './qmp.js'

export type Accelerator = 'kvm' | 'tcg'

export interface HypervisorOptions {
  /** 'auto' (the default) uses KVM only when the probe sees a guest actually run under it. */
  accel?: Accelerator | 'auto'
  /** Default `qemu-system-x86_64` on the PATH. */
  qemuBinary?: string
  /** How long the KVM probe waits for the firmware to finish; default 10 s. */
  probeTimeoutMs?: number
}

/** A volume served over NBD. */
export interface DiskSpec {
  /** The volume id (vol-…): names the block node and device (see above). */
  id: string
  nbdSocket: string
  exportName: string
  readOnly?: boolean
}

/** QEMU user networking; each string is passed to `-netdev user` as it is (commas are escaped here). */
export interface UserNetwork {
  /** slirp options, e.g. 'net=10.0.2.0/24', 'hostname=ip-10-0-2-15', 'dns=10.0.2.3'. */
  options?: string[]
  /** e.g. 'tcp:127.0.0.1:2222-:22'. */
  hostfwd?: string[]
  /** e.g. 'tcp:10.0.2.100:80-cmd:…': slirp spawns the command per guest connection. */
  guestfwd?: string[]
  mac?: string
}

export interface VmSpec {
  instanceId: string
  vcpus: number
  memoryMiB: number
  rootDisk: DiskSpec
  extraDisks?: DiskSpec[]
  /** A NoCloud seed image (ISO 9660, volume label cidata). */
  seedIso?: string
  /** The serial console is appended here, across restarts of the VM. */
  serialLog: string
  network?: UserNetwork
  qmpSocket: string
  pidFile: string
  /** Direct kernel boot (the test guest); without it the firmware boots the root disk. */
  kernel?: { path: string, initrd?: string, cmdline?: string }
}

/** What attach() found: a live VM now under control, a dead one, or a live process QMP cannot reach. */
export type Reattached =
  | { state: 'alive', vm: QemuVm, status: string }
  | { state: 'dead', reason: string }
  | { state: 'unreachable', pid: number, reason: string }

/**
 * Seconds QEMU keeps a volume's requests waiting while it reconnects to an NBD server that went away:
 * the ebs capability's server lives in the Hive process, so a Hive restart must not fail the guest's
 * I/O. Longer than any restart; shorter than a guest's own block-layer timeouts (Linux: 30 s per
 * request, retried).
 */
const NBD_RECONNECT_DELAY_S = 20
/** The firmware's last line before it boots: the probe's proof that the vCPU ran the whole POST. */
const FIRMWARE_DONE = 'Booting from'

const probes = new Map<string, Promise<{ accel: Accelerator, reason: string }>>()

export class Hypervisor {
  readonly qemuBinary: string
  private readonly accel: Accelerator | 'auto'
  private readonly probeTimeoutMs: number

  constructor (opts: HypervisorOptions = {}) {
    this.qemuBinary = opts.qemuBinary ?? 'qemu-system-x86_64'
    this.accel = opts.accel ?? 'auto'
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 10_000
  }

  /**
   * The accelerator VMs start with, and why. 'auto' probes once per process and QEMU binary: KVM when
   * /dev/kvm opens read-write and a KVM guest with no disks runs the firmware (SeaBIOS) to the end of
   * POST within the timeout, else TCG. /dev/kvm existing is not enough: nested or restricted hosts
   * expose it and then hang the vCPU part way (seen here: SeaBIOS stops after counting CPUs).
   */
  async accelerator (): Promise<{ accel: Accelerator, reason: string }> {
    if (this.accel !== 'auto') return { accel: this.accel, reason: `forced ${this.accel}` }
    let probe = probes.get(this.qemuBinary)
    if (probe === undefined) {
      probe = probeKvm(this.qemuBinary, this.probeTimeoutMs)
      probes.set(this.qemuBinary, probe)
    }
    return await probe
  }

  /** Starts QEMU for `spec` and connects to its QMP socket; rejects with QEMU's message if it refused. */
  async start (spec: VmSpec): Promise<QemuVm> {
    spec = absolutePaths(spec)
    const { accel } = await this.accelerator()
    await rm(spec.qmpSocket, { force: true })
    await rm(spec.pidFile, { force: true })
    const { code, stderr } = await run(this.qemuBinary, qemuArgs(spec, accel))
    if (code !== 0) throw new Error(`QEMU did not start ${spec.instanceId}: ${stderr.trim() || `exit code ${String(code)}`}`)
    const pid = await readPid(spec.pidFile)
    if (pid === undefined) throw new Error(`QEMU started ${spec.instanceId} but wrote no pid to ${spec.pidFile}`)
    try {
      // QEMU has daemonized, so it is set up; on a loaded host its monitor may still take long to greet.
      const qmp = await QmpClient.connect(spec.qmpSocket, { timeoutMs: 60_000 })
      return new QemuVm(pid, spec.qmpSocket, spec.pidFile, qmp, accel)
    } catch (err) {
      killQuietly(pid)
      throw err
    }
  }

  /** Finds a VM a previous Hive process started, from the paths it was started with. */
  async attach (qmpSocket: string, pidFile: string): Promise<Reattached> {
    qmpSocket = resolve(qmpSocket)
    const pid = await readPid(pidFile)
    // QEMU deletes its pid file when it exits cleanly.
    if (pid === undefined) return { state: 'dead', reason: `QEMU is not running (no pid in ${pidFile})` }
    if (!await processAlive(pid)) return { state: 'dead', reason: `QEMU process ${pid} has exited` }
    // A pid file outlives a host reboot, and the pid may since belong to something else.
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (!cmdline.includes(`unix:${opt(qmpSocket)},`)) return { state: 'dead', reason: `process ${pid} is not the QEMU of ${qmpSocket}` }
    let qmp: QmpClient
    try {
      qmp = await QmpClient.connect(qmpSocket)
    } catch (err) {
      if (!await processAlive(pid)) return { state: 'dead', reason: `QEMU process ${pid} has exited` }
      return { state: 'unreachable', pid, reason: (err as Error).message }
    }
    const vm = new QemuVm(pid, qmpSocket, pidFile, qmp, await acceleratorOf(qmp))
    return { state: 'alive', vm, status: await vm.status() }
  }
}

/** One running QEMU, controlled over QMP. */
export class QemuVm {
  /** Resolves when the QEMU process is gone, however it ended (noticed when QMP drops). */
  readonly exited: Promise<void>
  private exitedNow = false
  private released = false

  constructor (readonly pid: number, readonly qmpSocket: string, readonly pidFile: string, readonly qmp: QmpClient, readonly accel: Accelerator) {
    this.exited = new Promise(resolve => {
      qmp.onClose(() => {
        void (async () => {
          while (!this.released && await processAlive(pid)) await sleep(50)
          if (this.released) return
          this.exitedNow = true
          resolve()
        })()
      })
    })
  }

  /** Whether the process is gone. After disconnect() the VM is no longer watched: this stays false. */
  get hasExited (): boolean {
    return this.exitedNow
  }

  /** QMP's run state: 'running', 'paused', 'shutdown', 'internal-error', … */
  async status (): Promise<string> {
    const s = await this.qmp.execute<{ status: string }>('query-status')
    return s.status
  }

  /**
   * Hot-plugs a volume: the NBD block node, then its virtio-blk device. When the device cannot be
   * added the block node is deleted again, so a failed attach leaves nothing behind in QEMU.
   */
  async attachDisk (disk: DiskSpec): Promise<void> {
    await this.qmp.execute('blockdev-add', nbdBlockdev(disk))
    try {
      await this.qmp.execute('device_add', virtioBlkDevice(disk))
    } catch (err) {
      await this.qmp.execute('blockdev-del', { 'node-name': nodeName(disk.id) }).catch(() => {})
      throw err
    }
  }

  /**
   * Hot-unplugs a volume: device_del, then waits for the guest to release the device (DEVICE_DELETED)
   * before deleting the block node. `force` goes on to blockdev-del when the guest did not release it
   * (or the device is already gone); the block node refuses deletion while a device still holds it, and
   * that error is thrown, so the volume is never handed elsewhere while this VM can write to it.
   */
  async detachDisk (id: string, opts: { timeoutMs?: number, force?: boolean } = {}): Promise<void> {
    const device = deviceId(id)
    const released = this.qmp.waitForEvent('DEVICE_DELETED', e => e.data.device === device, opts.timeoutMs ?? 30_000)
    try {
      await this.qmp.execute('device_del', { id: device })
      await released
    } catch (err) {
      released.catch(() => {})
      if (opts.force !== true) throw err
    }
    await this.qmp.execute('blockdev-del', { 'node-name': nodeName(id) })
  }

  /** The ids of the volumes QEMU holds block nodes for (nbd-<id>). */
  async disks (): Promise<string[]> {
    const nodes = await this.qmp.execute<Array<{ 'node-name': string, drv: string }>>('query-named-block-nodes', { flat: true })
    return nodes.filter(n => n.drv === 'nbd' && n['node-name'].startsWith('nbd-')).map(n => n['node-name'].slice(4))
  }

  /**
   * Stops the VM and resolves once the process is gone. By default presses the ACPI power button and
   * gives the guest `timeoutMs` (default 60 s) to shut down; then, or at once with `force`, quits
   * QEMU, and kills it if even that is not answered. Says which way it ended.
   */
  async stop (opts: { force?: boolean, timeoutMs?: number } = {}): Promise<'powerdown' | 'forced'> {
    if (opts.force !== true) {
      await this.qmp.execute('system_powerdown').catch(ignoreClosed)
      if (await within(this.exited, opts.timeoutMs ?? 60_000)) return 'powerdown'
    }
    await this.qmp.execute('quit').catch(ignoreClosed)
    if (!await within(this.exited, 10_000)) {
      killQuietly(this.pid)
      // A process in uninterruptible sleep (blocked on its disk) dies only when that I/O returns.
      for (let waited = 0; await processAlive(this.pid); waited += 50) {
        if (waited > 60_000) throw new Error(`QEMU process ${this.pid} did not die after SIGKILL`)
        await sleep(50)
      }
    }
    return 'forced'
  }

  /** A hardware reset (the guest does not shut down first), as EC2's reboot falls back to. */
  async reboot (): Promise<void> {
    await this.qmp.execute('system_reset')
  }

  /** Lets go of the VM, which keeps running, e.g. when Hive itself stops. */
  disconnect (): void {
    this.released = true
    this.qmp.close()
  }
}

/** QEMU's command line for `spec`. Values in -chardev/-netdev key=value lists have their commas doubled. */
export function qemuArgs (spec: VmSpec, accel: Accelerator): string[] {
  const args = [
    '-name', `${spec.instanceId},process=qemu-${spec.instanceId}`,
    '-machine', 'pc', ...acceleratorArgs(accel),
    '-smp', String(spec.vcpus), '-m', String(spec.memoryMiB),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-daemonize', '-pidfile', spec.pidFile,
    '-qmp', `unix:${opt(spec.qmpSocket)},server=on,wait=off`,
    '-chardev', `file,id=serial0,path=${opt(spec.serialLog)},append=on`, '-serial', 'chardev:serial0'
  ]
  for (const [i, disk] of [spec.rootDisk, ...(spec.extraDisks ?? [])].entries()) {
    // Direct kernel boot takes boot index 0 itself.
    const bootindex = i === 0 && spec.kernel === undefined ? 0 : undefined
    args.push('-blockdev', JSON.stringify(nbdBlockdev(disk)), '-device', JSON.stringify(virtioBlkDevice(disk, bootindex)))
  }
  if (spec.seedIso !== undefined) {
    args.push('-blockdev', JSON.stringify({ driver: 'file', 'node-name': 'seed', filename: spec.seedIso, 'read-only': true }),
      '-device', JSON.stringify({ driver: 'ide-cd', drive: 'seed', id: 'seed-cd', bus: 'ide.1' }))
  }
  const net = spec.network ?? {}
  const netdev = ['user', 'id=net0', ...(net.options ?? []).map(opt),
    ...(net.hostfwd ?? []).map(f => `hostfwd=${opt(f)}`), ...(net.guestfwd ?? []).map(f => `guestfwd=${opt(f)}`)]
  args.push('-netdev', netdev.join(','), '-device', `virtio-net-pci,netdev=net0,id=nic0${net.mac !== undefined ? `,mac=${opt(net.mac)}` : ''}`)
  if (spec.kernel !== undefined) {
    args.push('-kernel', spec.kernel.path)
    if (spec.kernel.initrd !== undefined) args.push('-initrd', spec.kernel.initrd)
    if (spec.kernel.cmdline !== undefined) args.push('-append', spec.kernel.cmdline)
  }
  return args
}

/** QEMU changes to / once daemonized, and hot-plugged disks name their socket long after that. */
function absolutePaths (spec: VmSpec): VmSpec {
  const disk = (d: DiskSpec): DiskSpec => ({ ...d, nbdSocket: resolve(d.nbdSocket) })
  return {
    ...spec,
    rootDisk: disk(spec.rootDisk),
    ...(spec.extraDisks !== undefined ? { extraDisks: spec.extraDisks.map(disk) } : {}),
    ...(spec.seedIso !== undefined ? { seedIso: resolve(spec.seedIso) } : {}),
    serialLog: resolve(spec.serialLog),
    qmpSocket: resolve(spec.qmpSocket),
    pidFile: resolve(spec.pidFile),
    ...(spec.kernel !== undefined
      ? { kernel: { ...spec.kernel, path: resolve(spec.kernel.path), ...(spec.kernel.initrd !== undefined ? { initrd: resolve(spec.kernel.initrd) } : {}) } }
      : {})
  }
}

function acceleratorArgs (accel: Accelerator): string[] {
  return accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi']
}

const nodeName = (id: string): string => `nbd-${id}`
const deviceId = (id: string): string => `vdisk-${id}`

function nbdBlockdev (disk: DiskSpec): Record<string, unknown> {
  return {
    driver: 'nbd',
    'node-name': nodeName(disk.id),
    server: { type: 'unix', path: resolve(disk.nbdSocket) },
    export: disk.exportName,
    'read-only': disk.readOnly === true,
    'reconnect-delay': NBD_RECONNECT_DELAY_S
  }
}

function virtioBlkDevice (disk: DiskSpec, bootindex?: number): Record<string, unknown> {
  return {
    driver: 'virtio-blk-pci',
    drive: nodeName(disk.id),
    id: deviceId(disk.id),
    serial: disk.id.replaceAll('-', '').slice(0, 20),
    ...(bootindex !== undefined ? { bootindex } : {})
  }
}

const opt = (value: string): string => value.replaceAll(',', ',,')

async function probeKvm (binary: string, timeoutMs: number): Promise<{ accel: Accelerator, reason: string }> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return { accel: 'tcg', reason: '/dev/kvm cannot be opened read-write' }
  }
  const dir = await mkdtemp(join(tmpdir(), 'hive-kvm-probe-'))
  const log = join(dir, 'firmware.log')
  // SeaBIOS writes its progress to the debug console port 0x402.
  // The same accelerator options as an instance's: a host CPU model KVM cannot fully give (seen
  // here: MSR 0x10a refused) fails the probe, not every launch.
  const qemu = spawn(binary, [...acceleratorArgs('kvm'), '-machine', 'pc', '-m', '32', '-nodefaults', '-no-user-config', '-display', 'none',
    '-chardev', `file,id=fw,path=${opt(log)}`, '-device', 'isa-debugcon,iobase=0x402,chardev=fw'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  qemu.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = new Promise<void>(resolve => qemu.once('close', () => resolve()))
  let exitedEarly = false
  void exited.then(() => { exitedEarly = true })
  try {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline && !exitedEarly) {
      if ((await readFile(log, 'utf8').catch(() => '')).includes(FIRMWARE_DONE)) return { accel: 'kvm', reason: 'KVM guest ran its firmware' }
      await sleep(50)
    }
    return exitedEarly
      ? { accel: 'tcg', reason: `QEMU with KVM failed: ${stderr.trim()}` }
      : { accel: 'tcg', reason: `KVM guest did not finish its firmware within ${timeoutMs} ms` }
  } finally {
    qemu.kill('SIGKILL')
    await exited
    await rm(dir, { recursive: true, force: true })
  }
}

async function acceleratorOf (qmp: QmpClient): Promise<Accelerator> {
  const kvm = await qmp.execute<{ enabled: boolean }>('query-kvm')
  return kvm.enabled ? 'kvm' : 'tcg'
}

/** Runs the daemonizing QEMU launcher to its exit; its stderr says why when it fails. */
async function run (binary: string, args: string[]): Promise<{ code: number | null, stderr: string }> {
  return await new Promise((resolve, reject) => {
    // Detached: a Ctrl-C to Hive's process group must not reach QEMU while it is still launching.
    const p = spawn(binary, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    p.once('error', reject)
    // The daemon inherits stderr until its set-up is done: 'close' waits for that, 'exit' would not.
    p.once('close', code => resolve({ code, stderr }))
  })
}

async function readPid (pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => '')
  const pid = Number.parseInt(text.trim(), 10)
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/**
 * Whether `pid` is a live process. A daemonized QEMU is reparented to init; where init does not reap
 * (some containers) an exited QEMU lingers as a zombie, which kill(pid, 0) would call alive.
 */
async function processAlive (pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return false
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state !== 'Z' && state !== 'X'
}

function killQuietly (pid: number): void {
  try { process.kill(pid, 'SIGKILL') } catch {}
}

function ignoreClosed (err: unknown): void {
  if (!(err instanceof QmpClosedError)) throw err
}

async function within (p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>(resolve => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([p.then(() => true as const), timeout])
  } finally {
    clearTimeout(timer)
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
