import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { Hypervisor, type QemuVm, type VmSpec } from '../../plugins/ec2/hypervisor.js'
import { buildSeed } from '../../plugins/ec2/seed.js'
import { skipVmTests, testImage, vmFixture, waitForConsole } from '../helpers/guest.js'

const { dir, vms, volume, spec } = vmFixture(t, 'hive-image-')
const GiB = 1024 * 1024 * 1024

/** Milliseconds from asking for the VM to the guest's HIVE-GUEST-READY (to the console poll's 200 ms). */
async function bootToReady (hv: Hypervisor, s: VmSpec): Promise<{ vm: QemuVm, ms: number }> {
  const started = Date.now()
  const vm = await hv.start(s)
  vms.push(vm)
  await waitForConsole(s.serialLog, /^HIVE-GUEST-READY/)
  return { vm, ms: Date.now() - started }
}

t.test('guest image - qcow2, vmdk and vhd hold the bytes of disk.raw', { skip: skipVmTests }, async t => {
  const image = testImage()
  for (const [format, file] of [['qcow2', image.qcow2], ['vmdk', image.vmdk], ['vpc', image.vhd]]) {
    t.doesNotThrow(() => execFileSync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', format, image.raw, file]), `${format}: identical`)
  }
  t.equal(readFileSync(image.raw).readUInt16LE(510), 0xaa55, 'the first sector is a boot sector')
})

t.test('guest image - SeaBIOS boots disk.raw from an NBD root volume: seed read, vda left alone, data disks found', { skip: skipVmTests }, async t => {
  const image = testImage()
  const hv = new Hypervisor({ accel: 'tcg' })
  const userData = '#!/bin/sh\necho user-data ran\n'
  const seed = (id: string): Promise<string> => buildSeed(join(dir, `seed-${id}`),
    { instanceId: id, hostname: 'ip-10-0-2-15', publicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuest test'], userData: Buffer.from(userData) })

  // Imported, the image lands on a volume of whole GiB; the file system keeps its own size.
  const root = await volume('vol-boot', GiB, image.raw)
  const s = spec('i-disk', root, { seedIso: await seed('i-disk') })
  const disk = await bootToReady(hv, s)
  t.match(await readFile(s.serialLog, 'utf8'), /^SYSLINUX /m, 'the firmware ran the disk\'s boot loader')

  await waitForConsole(s.serialLog, /^HIVE-SEED-END user-data/)
  const log = await readFile(s.serialLog, 'utf8')
  t.match(log, `HIVE-SEED-BEGIN user-data\r\n${userData.replace(/\n/g, '\r\n')}`, 'the NoCloud seed is read as before')
  t.match(log, /^ {2}- "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuest test"/m, 'and its meta-data')
  t.match(await waitForConsole(s.serialLog, /^HIVE-DISKS/), /^HIVE-DISKS vda( sr0)?$/, 'the boot disk is vda, unpartitioned')

  const data = await volume('vol-boot-data', 16 * 1024 * 1024)
  await disk.vm.attachDisk(data)
  await waitForConsole(s.serialLog, /^HIVE-DISK-WROTE vdb/)
  t.match((await readFile(data.file)).subarray(0, 14).toString(), 'HIVE-WROTE vdb', 'a hot-attached volume is a data disk')
  t.notMatch(await readFile(s.serialLog, 'utf8'), /^HIVE-DISK-FOUND vda/m, 'the boot disk is not')
  const original = readFileSync(image.raw)
  const booted = Buffer.alloc(original.length)
  const fh = await open(root.file)
  await fh.read(booted, 0, booted.length, 0)
  await fh.close()
  t.ok(booted.equals(original), 'the guest did not write to its boot disk')

  t.equal(await disk.vm.stop({ timeoutMs: 60_000 }), 'powerdown', 'ACPI power button')
  await waitForConsole(s.serialLog, /^HIVE-POWER-BUTTON/)

  // The same guest by direct kernel boot, for the boot-time comparison only.
  const k = spec('i-kernel', await volume('vol-kernel', GiB), {
    seedIso: await seed('i-kernel'),
    kernel: { path: image.kernel, initrd: image.initrd, cmdline: image.cmdline }
  })
  const kernel = await bootToReady(hv, k)
  await kernel.vm.stop({ force: true })
  t.comment(`boot to HIVE-GUEST-READY under TCG: from disk.raw ${disk.ms} ms, direct kernel boot ${kernel.ms} ms`)
})
