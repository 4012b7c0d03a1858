import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { DiskSpec, QemuVm, VmSpec } from '../../plugins/ec2/hypervisor.js'
import { ROOT } from './node.js'

/** Set HIVE_SKIP_VM_TESTS=1 to skip the tests that boot guests under QEMU (CI runs them). */
export const skipVmTests: string | false = process.env.HIVE_SKIP_VM_TESTS === '1' ? 'HIVE_SKIP_VM_TESTS=1' : false

export interface TestGuest {
  kernel: string
  initrd: string
  cmdline: string
}

/** Where the test files share the guest and its disk images; the scripts lock it while they build. */
const guestDir = (): string => process.env.HIVE_TEST_GUEST_DIR ?? join(ROOT, 'build/test-guest')

/**
 * The tiny Linux guest of scripts/build-test-guest.sh (which documents the lines it prints), built on
 * first use into build/test-guest (or $HIVE_TEST_GUEST_DIR) and reused while the script is unchanged.
 */
export function testGuest (): TestGuest {
  const dir = guestDir()
  execFileSync('bash', [join(ROOT, 'scripts/build-test-guest.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] })
  return { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), cmdline: readFileSync(join(dir, 'cmdline'), 'utf8').trim() }
}

/** The same guest as a bootable disk in each format ImportImage takes; the files are shared: copy before writing. */
export interface TestImage extends TestGuest {
  raw: string
  qcow2: string
  vmdk: string
  vhd: string
}

/**
 * The test guest on a disk the firmware boots (scripts/build-test-image.sh), the tiny AMI: built on
 * first use next to testGuest()'s files and reused while both scripts are unchanged.
 */
export function testImage (): TestImage {
  const dir = guestDir()
  execFileSync('bash', [join(ROOT, 'scripts/build-test-image.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] })
  return {
    ...testGuest(),
    raw: join(dir, 'disk.raw'),
    qcow2: join(dir, 'disk.qcow2'),
    vmdk: join(dir, 'disk.vmdk'),
    vhd: join(dir, 'disk.vhd')
  }
}

export interface NbdExport {
  socket: string
  exportName: string
  proc: ChildProcess
  stop: () => Promise<void>
}

/** Serves a raw file over NBD with qemu-nbd on a unix socket, for as many clients and reconnects as come. */
export async function qemuNbd (file: string, socket: string, exportName: string): Promise<NbdExport> {
  const proc = spawn('qemu-nbd', ['--persistent', '--shared=8', '--format=raw', `--socket=${socket}`, `--export-name=${exportName}`, file],
    { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
  await waitForSocket(socket, proc, () => `qemu-nbd: ${stderr}`)
  return {
    socket,
    exportName,
    proc,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
    }
  }
}

/**
 * Waits until a unix socket accepts connections: its path appears at bind(), before listen(), so
 * seeing the file (or /proc/net/unix) is not enough.
 */
export async function waitForSocket (path: string, owner: ChildProcess, why: () => string): Promise<void> {
  for (let i = 0; ; i++) {
    if (owner.exitCode !== null || owner.signalCode !== null) throw new Error(`exited before listening on ${path}: ${why()}`)
    const ok = await new Promise<boolean>(resolve => {
      const c = createConnection(path)
      c.once('connect', () => { c.destroy(); resolve(true) })
      c.once('error', () => resolve(false))
    })
    if (ok) return
    if (i > 400) throw new Error(`nothing listens on ${path}: ${why()}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/**
 * Waits until the console log at `path` holds `count` lines matching `pattern` and returns the last
 * such line; fails after `timeoutMs` with the log so far, so a failing boot shows what the guest said.
 */
export async function waitForConsole (path: string, pattern: RegExp, opts: { count?: number, timeoutMs?: number } = {}): Promise<string> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '')
    const hits = text.split(/\r?\n/).filter(l => pattern.test(l))
    if (hits.length >= (opts.count ?? 1)) return hits[hits.length - 1]
    if (Date.now() > deadline) throw new Error(`no ${String(pattern)} on the console; it says:\n${text}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

export interface VmFixture {
  dir: string
  /** VMs to stop at teardown. */
  vms: QemuVm[]
  /** A raw volume served by qemu-nbd: blank, or holding a copy of `image`, of `bytes`. */
  volume: (id: string, bytes: number, image?: string) => Promise<DiskSpec & { file: string }>
  /** A VmSpec with its sockets, pid file and console in the fixture's directory. */
  spec: (instanceId: string, rootDisk: DiskSpec, extra?: Partial<VmSpec>) => VmSpec
}

/** A scratch directory for hypervisor tests: its volumes and VMs are stopped and it is removed at teardown. */
export function vmFixture (t: Test, prefix: string): VmFixture {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const vms: QemuVm[] = []
  const exports: NbdExport[] = []
  t.teardown(async () => {
    for (const vm of vms) if (!vm.hasExited) await vm.stop({ force: true }).catch(() => {})
    for (const e of exports) await e.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    dir,
    vms,
    volume: async (id, bytes, image) => {
      const file = join(dir, `${id}.raw`)
      if (image !== undefined) copyFileSync(image, file)
      else writeFileSync(file, '')
      truncateSync(file, bytes)
      const e = await qemuNbd(file, join(dir, `${id}.nbd`), id)
      exports.push(e)
      return { id, nbdSocket: e.socket, exportName: id, file }
    },
    spec: (instanceId, rootDisk, extra = {}) => ({
      instanceId,
      vcpus: 1,
      memoryMiB: 256,
      rootDisk,
      serialLog: join(dir, `${instanceId}.console`),
      qmpSocket: join(dir, `${instanceId}.qmp`),
      pidFile: join(dir, `${instanceId}.pid`),
      ...extra
    })
  }
}
