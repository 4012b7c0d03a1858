import { writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { Hypervisor, qemuArgs, type DiskSpec } from '../../plugins/ec2/hypervisor.js'
import { QmpError } from '../../plugins/ec2/qmp.js'
import { skipVmTests, testGuest, vmFixture, waitForConsole } from '../helpers/guest.js'

const { dir, vms, volume: nbdVolume, spec } = vmFixture(t, 'hive-hv-')

/** A blank raw volume served by qemu-nbd. */
const volume = async (id: string, mib = 16): Promise<DiskSpec & { file: string }> => await nbdVolume(id, mib * 1024 * 1024)

t.test('hypervisor - command line: NBD disks, seed CD-ROM, user network, escaped commas', async t => {
  const args = qemuArgs(spec('i-0abc', { id: 'vol-1', nbdSocket: '/run/ebs.sock', exportName: 'vol-1' }, {
    extraDisks: [{ id: 'vol-2', nbdSocket: '/run/ebs.sock', exportName: 'vol-2', readOnly: true }],
    seedIso: '/var/seed.iso',
    serialLog: '/var/log,console',
    network: { options: ['net=10.0.2.0/24'], hostfwd: ['tcp:127.0.0.1:2222-:22'], guestfwd: ['tcp:10.0.2.100:80-cmd:relay a,b'], mac: '52:54:00:12:34:56' }
  }), 'tcg')
  const after = (flag: string): string[] => args.flatMap((a, i) => a === flag ? [args[i + 1]] : [])
  t.same(after('-accel'), ['tcg,thread=multi'])
  t.same(after('-blockdev').map(b => JSON.parse(b) as unknown), [
    { driver: 'nbd', 'node-name': 'nbd-vol-1', server: { type: 'unix', path: '/run/ebs.sock' }, export: 'vol-1', 'read-only': false, 'reconnect-delay': 20 },
    { driver: 'nbd', 'node-name': 'nbd-vol-2', server: { type: 'unix', path: '/run/ebs.sock' }, export: 'vol-2', 'read-only': true, 'reconnect-delay': 20 },
    { driver: 'file', 'node-name': 'seed', filename: '/var/seed.iso', 'read-only': true }
  ])
  t.same(after('-device').slice(0, 2).map(d => JSON.parse(d) as unknown), [
    { driver: 'virtio-blk-pci', drive: 'nbd-vol-1', id: 'vdisk-vol-1', serial: 'vol1', bootindex: 0 },
    { driver: 'virtio-blk-pci', drive: 'nbd-vol-2', id: 'vdisk-vol-2', serial: 'vol2' }
  ])
  t.same(after('-chardev'), ['file,id=serial0,path=/var/log,,console,append=on'])
  t.same(after('-netdev'), ['user,id=net0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:2222-:22,guestfwd=tcp:10.0.2.100:80-cmd:relay a,,b'])
  t.ok(args.includes('-daemonize'))
  t.same(after('-accel').length, 1)
  t.same(qemuArgs(spec('i-1', { id: 'v', nbdSocket: '/s', exportName: 'v' }), 'kvm').slice(4, 8), ['-accel', 'kvm', '-cpu', 'host'])
})

t.test('hypervisor - the probe settles on an accelerator once per process; forcing one skips it', async t => {
  const auto = new Hypervisor({ probeTimeoutMs: 5_000 })
  const first = await auto.accelerator()
  t.match(first.accel, /^(kvm|tcg)$/)
  t.type(first.reason, 'string')
  t.equal(await new Hypervisor().accelerator(), first, 'the cached result, not a second probe')
  t.same(await new Hypervisor({ accel: 'tcg' }).accelerator(), { accel: 'tcg', reason: 'forced tcg' })
})

t.test('hypervisor - QEMU refusing to start (no NBD server) rejects with its message', { skip: skipVmTests }, async t => {
  const hv = new Hypervisor({ accel: 'tcg' })
  await t.rejects(hv.start(spec('i-nonbd', { id: 'vol-x', nbdSocket: join(dir, 'missing.sock'), exportName: 'vol-x' })),
    /QEMU did not start i-nonbd: .*missing\.sock/s)
})

t.test('hypervisor - a guest under TCG: boot, hot attach and detach, reboot, re-attach, power button', { skip: skipVmTests }, async t => {
  const guest = testGuest()
  const hv = new Hypervisor({ accel: 'tcg' })
  const root = await volume('vol-root')
  // A stand-in metadata service, reached the way the issue measured works: slirp's guestfwd runs a
  // relay command per guest connection, for an address inside its net=.
  const imds = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') res.end('token-1')
    else if (req.url === '/latest/meta-data/instance-id' && req.headers['x-aws-ec2-metadata-token'] === 'token-1') res.end('i-guest')
    else { res.statusCode = 401; res.end() }
  })
  await new Promise<void>(resolve => imds.listen(0, '127.0.0.1', resolve))
  t.teardown(() => imds.close())
  const relay = `${process.execPath} -e "const s = require('net').connect(${(imds.address() as AddressInfo).port}, '127.0.0.1'); ` +
    'process.stdin.pipe(s); s.pipe(process.stdout); s.on(\'close\', () => process.exit())"'
  const s = spec('i-guest', root, {
    kernel: { path: guest.kernel, initrd: guest.initrd, cmdline: guest.cmdline },
    network: { options: ['net=169.254.0.0/16'], guestfwd: [`tcp:169.254.169.254:80-cmd:${relay}`] }
  })
  let vm = await hv.start(s)
  vms.push(vm)
  t.equal(vm.accel, 'tcg')
  t.match(await vm.qmp.execute('query-kvm'), { enabled: false })
  t.equal(await vm.status(), 'running')

  await waitForConsole(s.serialLog, /^HIVE-GUEST-READY/)
  t.equal(await waitForConsole(s.serialLog, /^HIVE-IMDS-TOKEN/), 'HIVE-IMDS-TOKEN token-1')
  t.equal(await waitForConsole(s.serialLog, /^HIVE-IMDS-INSTANCE-ID/), 'HIVE-IMDS-INSTANCE-ID i-guest', 'IMDSv2 through guestfwd')
  t.equal(await waitForConsole(s.serialLog, /^HIVE-DISKS/), 'HIVE-DISKS vda', 'the root volume is vda')

  const data = await volume('vol-data')
  await vm.attachDisk(data)
  await waitForConsole(s.serialLog, /^HIVE-DISKS vda vdb$/)
  await waitForConsole(s.serialLog, /^HIVE-DISK-WROTE vdb/)
  t.match((await readFile(data.file)).subarray(0, 14).toString(), 'HIVE-WROTE vdb', 'the guest wrote to the volume through NBD')
  t.same((await vm.disks()).sort(), ['vol-data', 'vol-root'])

  await vm.detachDisk('vol-data')
  await waitForConsole(s.serialLog, /^HIVE-DISKS vda$/, { count: 2 })
  t.same(await vm.disks(), ['vol-root'], 'the block node is gone too')
  await t.rejects(vm.detachDisk('vol-data'), QmpError, 'detaching it again is refused')

  await vm.attachDisk(data)
  await waitForConsole(s.serialLog, /^HIVE-DISK-FOUND vdb HIVE-WROTE vdb/)
  t.pass('re-attached, the guest finds what it wrote')
  await vm.detachDisk('vol-data')

  await vm.reboot()
  await waitForConsole(s.serialLog, /^HIVE-GUEST-READY/, { count: 2 })
  t.pass('system_reset rebooted the guest')

  vm.disconnect()
  const again = await hv.attach(s.qmpSocket, s.pidFile)
  t.equal(again.state, 'alive')
  if (again.state !== 'alive') return
  t.equal(again.status, 'running')
  t.equal(again.vm.pid, vm.pid)
  t.equal(again.vm.accel, 'tcg')
  vm = again.vm
  vms.push(vm)

  t.equal(await vm.stop({ timeoutMs: 120_000 }), 'powerdown')
  await waitForConsole(s.serialLog, /^HIVE-POWER-BUTTON/)
  t.ok(vm.hasExited)
  t.match(await hv.attach(s.qmpSocket, s.pidFile), { state: 'dead', reason: /not running/ })
})

t.test('hypervisor - a failed device_add rolls the block node back', { skip: skipVmTests }, async t => {
  const hv = new Hypervisor({ accel: 'tcg' })
  const s = spec('i-rollback', await volume('vol-rb-root'))
  const vm = await hv.start(s)
  vms.push(vm)
  // Another device already holds the id the volume's device would take.
  await vm.qmp.execute('device_add', { driver: 'virtio-rng-pci', id: 'vdisk-vol-rb' })
  const err = await vm.attachDisk(await volume('vol-rb')).catch((e: unknown) => e)
  t.match(err, { name: 'QmpError', command: 'device_add', desc: /vdisk-vol-rb/ })
  t.same(await vm.disks(), ['vol-rb-root'], 'no nbd-vol-rb left behind')
  t.equal(await vm.stop({ force: true }), 'forced')
})

t.test('hypervisor - a killed QEMU is noticed and reported dead', { skip: skipVmTests }, async t => {
  const hv = new Hypervisor({ accel: 'tcg' })
  const s = spec('i-killed', await volume('vol-killed'))
  const vm = await hv.start(s)
  vms.push(vm)
  process.kill(vm.pid, 'SIGKILL')
  await vm.exited
  t.ok(vm.hasExited)
  t.match(await hv.attach(s.qmpSocket, s.pidFile), { state: 'dead', reason: /has exited/ })
})

t.test('hypervisor - forced stop ends QEMU without asking the guest', { skip: skipVmTests }, async t => {
  const hv = new Hypervisor({ accel: 'tcg' })
  const s = spec('i-forced', await volume('vol-forced'))
  const vm = await hv.start(s)
  vms.push(vm)
  t.equal(await vm.stop({ force: true }), 'forced')
  t.ok(vm.hasExited)
  t.match(await hv.attach(s.qmpSocket, s.pidFile), { state: 'dead' })
})

t.test('hypervisor - attach finds nothing to attach to', async t => {
  const hv = new Hypervisor({ accel: 'tcg' })
  t.match(await hv.attach(join(dir, 'none.qmp'), join(dir, 'none.pid')), { state: 'dead', reason: /not running/ })
  writeFileSync(join(dir, 'self.pid'), String(process.pid))
  t.match(await hv.attach(join(dir, 'none.qmp'), join(dir, 'self.pid')), { state: 'dead', reason: /is not the QEMU of/ },
    'a pid now used by another process')
})
