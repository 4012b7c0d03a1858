/**
 * The node side of instances: brings each QEMU of this node in line with its record in KV
 * (instance-records.ts). Actions change a record's state and then ask the instance's node to
 * reconcile; the node does the slow part — volumes, the seed, QEMU — and moves the record on:
 *   pending        → create and attach the launch volumes, build the seed, start QEMU → running
 *                    (a first launch that fails → terminated, Server.InternalError)
 *   stopping       → ACPI power button, forced after STOP_TIMEOUT_MS or at once with Force → stopped
 *   shutting-down  → as stopping, then detach every volume, delete those marked DeleteOnTermination
 *                    → terminated
 *   running        → after a Hive restart: re-attach to the QEMU still running; one that died is
 *                    reported stopped with a state reason
 * A guest that powers itself off stops (or terminates, per InstanceInitiatedShutdownBehavior) the
 * instance.
 *
 * Per instance, `<data-dir>/ec2/instances/<instance-id>/` holds
 *   qmp.sock, qemu.pid   how a restarted Hive finds the QEMU again (hypervisor.ts)
 *   console.log          the serial console, for GetConsoleOutput
 *   seed/seed.iso        the cloud-init NoCloud seed (seed.ts), rebuilt at every start
 *   imds.sock            the instance's metadata service (imds.ts)
 *
 * Node calls (hive.node.<nodeId>.<name>, core/subjects.ts; string headers; a refusal comes back as
 * headers { code, message }, an EC2 error code and its message):
 *   ec2.instance.reconcile    { instanceId } → {}: act on the record's state (in the background)
 *   ec2.instance.reboot       { instanceId } → {}
 *   ec2.instance.console      { instanceId } → body: the last CONSOLE_BYTES of the serial console
 *   ec2.instance.disk.attach  { instanceId, volumeId } → {}: hot-plug into the running QEMU
 *   ec2.instance.disk.detach  { instanceId, volumeId, force } → {}: hot-unplug
 *   ec2.node.capacity         {} → body JSON NodeCapacity (capacity.ts) without the instances' use
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { isAwsError, type Hive, type NodeMessage, type RequestContext, type TagStore } from '../../core/index.js'
import { capacitySettings, nodeCapacity, type CapacitySettings } from './capacity.js'
import { Hypervisor, type Accelerator, type DiskSpec, type QemuVm } from './hypervisor.js'
import { MetadataService, relayCommand, writeRelay, type InstanceMetadata } from './imds.js'
import { InstanceErrors, ownerContext, privateDnsName, transitionReason, type InstanceRecord, type InstanceStore } from './instance-records.js'
import { instanceTypeInfo } from './instance-types.js'
import { buildSeed } from './seed.js'

const EMPTY = new Uint8Array(0)
/** How long a guest gets to shut down after the ACPI power button before QEMU is quit. */
const STOP_TIMEOUT_MS = 60_000
/** GetConsoleOutput's window: EC2 returns the most recent 64 KB. */
export const CONSOLE_BYTES = 64 * 1024
/** How often a node looks for its instances left in pending, stopping or shutting-down. */
const SWEEP_MS = 30_000
/** How long a launch waits for one of its volumes to leave 'creating'. */
const VOLUME_READY_MS = 120_000

export class InstanceRunner {
  private readonly vms = new Map<string, QemuVm>()
  /** Instances whose QEMU is going away because we asked it to. */
  private readonly stopping = new Set<string>()
  /**
   * QEMU starts at a time: a QEMU's set-up is a burst of CPU, and fifty at once on two cores left
   * monitors that did not greet within a minute.
   */
  private readonly starts = new Limit(Math.max(2, availableParallelism()))
  /** One reconcile at a time per instance, in order. */
  private readonly work = new Map<string, Promise<void>>()
  private readonly metadata: MetadataService
  private readonly hypervisor: Hypervisor
  /** The metadata relay script slirp runs per guest connection (imds.ts). */
  private readonly relay: string
  readonly capacity: CapacitySettings
  private closed = false
  private sweeper: NodeJS.Timeout | undefined

  constructor (private readonly hive: Hive, private readonly store: InstanceStore, private readonly tags: TagStore) {
    this.metadata = new MetadataService(async id => await this.metadataOf(id))
    const accel = hive.node.settings.accel ?? 'auto'
    if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new Error(`--accel wants auto, kvm or tcg, not '${accel}'`)
    this.hypervisor = new Hypervisor({ accel: accel as Accelerator | 'auto' })
    this.capacity = capacitySettings(hive.node.settings)
    this.relay = writeRelay(join(hive.node.dataDir, 'ec2'))
  }

  private dir (instanceId: string): string {
    return join(this.hive.node.dataDir, 'ec2', 'instances', instanceId)
  }

  /** Serves the node calls and takes charge of this node's instances again after a restart. */
  async start (): Promise<void> {
    const { bus } = this.hive
    bus.serveNode('ec2.instance.reconcile', async msg => {
      const id = msg.headers?.instanceId ?? ''
      this.reconcile(id)
      // A forced stop overtakes a graceful one under way (which waits for the guest up to a minute).
      const vm = this.vms.get(id)
      if (vm !== undefined && this.stopping.has(id) && (await this.store.get(id))?.stopForce === true) {
        void vm.stop({ force: true }).catch(() => {})
      }
      return { data: EMPTY }
    })
    bus.serveNode('ec2.instance.reboot', async msg => await answer(async () => {
      const vm = this.vms.get(msg.headers?.instanceId ?? '')
      if (vm === undefined) throw InstanceErrors.incorrectState(`The instance '${msg.headers?.instanceId ?? ''}' is not in a state from which it can be rebooted.`)
      await vm.reboot()
    }))
    bus.serveNode('ec2.instance.console', async msg => ({ data: await this.console(msg.headers?.instanceId ?? '') }))
    bus.serveNode('ec2.instance.disk.attach', async msg => await answer(async () => {
      const h = msg.headers ?? {}
      const r = await this.store.get(h.instanceId ?? '')
      const vm = this.vms.get(h.instanceId ?? '')
      if (r === undefined || vm === undefined) throw InstanceErrors.incorrectState(`Instance '${h.instanceId ?? ''}' is not 'running'.`)
      await vm.attachDisk(await this.disk(r, h.volumeId ?? ''))
    }))
    bus.serveNode('ec2.instance.disk.detach', async msg => await answer(async () => {
      const h = msg.headers ?? {}
      const id = h.instanceId ?? ''
      // Just after a restart a running instance's QEMU is taken back by its queued reconcile.
      if (!this.vms.has(id) && (await this.store.get(id))?.state === 'running') await this.work.get(id)
      const vm = this.vms.get(id)
      if (vm === undefined) return
      try {
        await vm.detachDisk(h.volumeId ?? '', { force: h.force === 'true' })
      } catch (e) {
        throw InstanceErrors.incorrectState(`The guest did not release the volume '${h.volumeId ?? ''}': ${(e as Error).message}. Retry with --force.`)
      }
    }))
    bus.serveNode('ec2.node.capacity', async () => {
      const c = await nodeCapacity(this.hive.node.nodeId, this.hive.node.az, this.hive.node.dataDir, this.capacity, { vcpus: 0, memoryMiB: 0 })
      return { data: Buffer.from(JSON.stringify(c)) }
    })
    for (const r of await this.store.all()) {
      if (r.node === this.hive.node.nodeId && r.state !== 'stopped' && r.state !== 'terminated') this.reconcile(r.instanceId)
    }
    this.sweeper = setInterval(() => { void this.sweep() }, SWEEP_MS)
    this.sweeper.unref()
  }

  /** Picks up this node's instances left on their way (a reconcile that failed, a call that was lost). */
  private async sweep (): Promise<void> {
    try {
      for (const r of await this.store.all()) {
        if (r.node !== this.hive.node.nodeId || this.work.has(r.instanceId)) continue
        if (r.state === 'pending' || r.state === 'stopping' || r.state === 'shutting-down') this.reconcile(r.instanceId)
      }
    } catch (err) {
      this.hive.log.warn({ err }, 'instance sweep failed')
    }
  }

  /** Leaves every QEMU running (a restarted Hive takes them back) and stops serving their metadata. */
  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.sweeper)
    // Work under way may wait a minute on a guest; a restarted node resumes it from the records.
    await Promise.race([Promise.allSettled([...this.work.values()]), new Promise(resolve => setTimeout(resolve, 5_000).unref())])
    for (const vm of this.vms.values()) vm.disconnect()
    this.vms.clear()
    await this.metadata.close()
  }

  /** Queues a pass that brings the instance's VM in line with its record. */
  reconcile (instanceId: string): void {
    const prev = this.work.get(instanceId) ?? Promise.resolve()
    const next = prev.then(async () => {
      if (this.closed) return
      const r = await this.store.get(instanceId)
      if (r === undefined || r.node !== this.hive.node.nodeId) return
      await this.converge(r)
    }).catch(err => {
      this.hive.log.error({ err, instanceId }, 'instance reconcile failed')
    })
    this.work.set(instanceId, next)
    void next.finally(() => { if (this.work.get(instanceId) === next) this.work.delete(instanceId) })
  }

  private async converge (r: InstanceRecord): Promise<void> {
    switch (r.state) {
      case 'pending': return await this.launch(r)
      case 'running': return await this.adopt(r)
      case 'stopping': return await this.stop(r)
      case 'shutting-down': return await this.terminate(r)
      default:
    }
  }

  /** The VM this process controls, or the one a previous Hive process left running. */
  private async vmOf (r: InstanceRecord): Promise<QemuVm | undefined> {
    const known = this.vms.get(r.instanceId)
    if (known !== undefined) return known
    const dir = this.dir(r.instanceId)
    if (!existsSync(join(dir, 'qemu.pid'))) return undefined
    const found = await this.hypervisor.attach(join(dir, 'qmp.sock'), join(dir, 'qemu.pid'))
    if (found.state === 'alive') {
      this.watch(r.instanceId, found.vm)
      return found.vm
    }
    if (found.state === 'unreachable') {
      // Unmanageable: ended, so that the record can move on (the instance is reported stopped).
      this.hive.log.warn({ instanceId: r.instanceId, pid: found.pid, reason: found.reason }, 'QEMU runs but does not answer QMP; killing it')
      try { process.kill(found.pid, 'SIGKILL') } catch {}
    }
    return undefined
  }

  private async adopt (r: InstanceRecord): Promise<void> {
    const vm = await this.vmOf(r)
    if (vm !== undefined) {
      await this.metadata.listen(r.instanceId, join(this.dir(r.instanceId), 'imds.sock'))
      return
    }
    await this.store.modify(r.instanceId, cur => cur.state !== 'running'
      ? cur
      : {
          ...cur,
          state: 'stopped',
          stateReason: { code: 'Server.InternalError', message: 'Server.InternalError: the QEMU process of the instance was found gone' },
          stateTransitionReason: transitionReason('Server error')
        })
  }

  private async launch (r: InstanceRecord): Promise<void> {
    const first = r.blockDevices.some(b => b.volumeId === undefined)
    try {
      r = await this.launchVolumes(r)
      let vm = await this.vmOf(r)
      if (vm === undefined) vm = await this.starts.run(async () => await this.startVm(r))
      else await this.metadata.listen(r.instanceId, join(this.dir(r.instanceId), 'imds.sock'))
      const running = await this.store.modify(r.instanceId, cur => cur.state !== 'pending' ? cur : { ...cur, state: 'running', stateReason: undefined, stateTransitionReason: '' })
      // Stopped or terminated while it was starting: carry on from there.
      if (running.state !== 'running') await this.converge(running)
    } catch (err) {
      this.hive.log.error({ err, instanceId: r.instanceId }, 'instance launch failed')
      const reason = { code: 'Server.InternalError', message: `Server.InternalError: Internal error on launch: ${(err as Error).message}` }
      if (!first) await this.powerOff(r, true).catch(e => { this.hive.log.error({ err: e, instanceId: r.instanceId }, 'powering off after a failed start failed') })
      const next = await this.store.modify(r.instanceId, cur => cur.state !== 'pending'
        ? cur
        : { ...cur, state: first ? 'shutting-down' : 'stopped', stateReason: reason, stateTransitionReason: transitionReason('Server error') })
      if (next.state === 'shutting-down') await this.terminate(next, reason)
    }
  }

  /** Creates and attaches the volumes of launch-time mappings not yet done (a restart resumes here). */
  private async launchVolumes (r: InstanceRecord): Promise<InstanceRecord> {
    const ctx = ownerContext(r, this.hive.node.region)
    for (const b of r.blockDevices) {
      if (b.attachTime !== undefined) continue
      let volumeId = b.volumeId
      if (volumeId === undefined) {
        const l = b.launch ?? { volumeSize: 8 }
        const out = await this.hive.bus.request('ec2', 'CreateVolume', {
          // Idempotent: a launch resumed after a restart gets the volume it created before.
          ClientToken: `${r.instanceId}:${b.deviceName}`,
          AvailabilityZone: r.availabilityZone,
          ...(r.volumeTags !== undefined ? { TagSpecifications: [{ ResourceType: 'volume', Tags: r.volumeTags }] } : {}),
          Size: l.volumeSize,
          ...(l.snapshotId !== undefined ? { SnapshotId: l.snapshotId } : {}),
          ...(l.volumeType !== undefined ? { VolumeType: l.volumeType } : {}),
          ...(l.iops !== undefined ? { Iops: l.iops } : {}),
          ...(l.throughput !== undefined ? { Throughput: l.throughput } : {}),
          ...(l.encrypted !== undefined ? { Encrypted: l.encrypted } : {}),
          ...(l.kmsKeyId !== undefined ? { KmsKeyId: l.kmsKeyId } : {})
        }, ctx) as { VolumeId: string }
        volumeId = out.VolumeId
        const id = volumeId
        r = await this.store.modify(r.instanceId, cur => ({ ...cur, blockDevices: cur.blockDevices.map(x => x.deviceName === b.deviceName ? { ...x, volumeId: id } : x) }))
      }
      let at: string
      const attachedHere = await this.volumeReady(volumeId, r.instanceId, ctx)
      if (attachedHere !== undefined) {
        at = attachedHere
      } else {
        const attachment = await this.hive.bus.request('ec2', 'AttachVolume', { VolumeId: volumeId, InstanceId: r.instanceId, Device: b.deviceName }, ctx) as { AttachTime?: Date }
        at = (attachment.AttachTime ?? new Date()).toISOString()
      }
      r = await this.store.modify(r.instanceId, cur => ({ ...cur, blockDevices: cur.blockDevices.map(x => x.deviceName === b.deviceName ? { ...x, attachTime: at } : x) }))
    }
    return r
  }

  /**
   * Waits for a launch volume to be available; when a launch resumed after a restart finds it
   * already attached to the instance, answers its attach time instead.
   */
  private async volumeReady (volumeId: string, instanceId: string, ctx: RequestContext): Promise<string | undefined> {
    const deadline = Date.now() + VOLUME_READY_MS
    for (;;) {
      const out = await this.hive.bus.request('ec2', 'DescribeVolumes', { VolumeIds: [volumeId] }, ctx) as { Volumes: Array<{ State: string, Attachments: Array<{ InstanceId: string, State: string, AttachTime: Date }> }> }
      const v = out.Volumes[0]
      if (v.State === 'available') return undefined
      const mine = v.Attachments.find(a => a.InstanceId === instanceId && a.State === 'attached')
      if (v.State === 'in-use' && mine !== undefined) return new Date(mine.AttachTime).toISOString()
      if (v.State !== 'creating') throw new Error(`volume ${volumeId} is ${v.State}`)
      if (Date.now() > deadline) throw new Error(`volume ${volumeId} stayed 'creating'`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /** Where QEMU reads a volume: the ebs capability's NBD socket on this machine. */
  private async disk (r: InstanceRecord, volumeId: string): Promise<DiskSpec> {
    const reply = await this.hive.bus.callInternal('ebs.volume.nbd', { data: EMPTY, headers: { volumeId, accountId: r.ownerId } })
    const h = reply.headers ?? {}
    if (h.code !== undefined && h.code !== '') throw new Error(`${volumeId}: ${h.message ?? h.code}`)
    if (h.socket === undefined || !existsSync(h.socket)) {
      throw new Error(`volume ${volumeId} lives on node ${h.node ?? '?'}, whose NBD socket is not on this machine`)
    }
    return { id: volumeId, nbdSocket: h.socket, exportName: h.export ?? volumeId }
  }

  private async startVm (r: InstanceRecord): Promise<QemuVm> {
    const type = instanceTypeInfo(r.instanceType)
    if (type === undefined) throw new Error(`instance type ${r.instanceType} is unknown`)
    const dir = this.dir(r.instanceId)
    mkdirSync(dir, { recursive: true })
    const attached = r.blockDevices.filter(b => b.volumeId !== undefined && b.attachTime !== undefined)
    const root = attached.find(b => b.deviceName === r.rootDeviceName)
    if (root === undefined) throw new Error(`no volume at the root device ${r.rootDeviceName}`)
    const others = attached.filter(b => b !== root).sort((a, b) => (a.attachTime as string).localeCompare(b.attachTime as string))
    const hostname = privateDnsName(r.privateIpAddress, this.hive.node.region)
    const seedIso = await buildSeed(join(dir, 'seed'), {
      instanceId: r.instanceId,
      hostname,
      publicKeys: r.publicKey !== undefined ? [r.publicKey] : [],
      ...(r.userData !== undefined ? { userData: Buffer.from(r.userData, 'base64') } : {})
    })
    const imds = join(dir, 'imds.sock')
    await this.metadata.listen(r.instanceId, imds)
    const vm = await this.hypervisor.start({
      instanceId: r.instanceId,
      vcpus: type.VCpuInfo.DefaultVCpus,
      memoryMiB: type.MemoryInfo.SizeInMiB,
      rootDisk: await this.disk(r, root.volumeId as string),
      extraDisks: await Promise.all(others.map(async b => await this.disk(r, b.volumeId as string))),
      seedIso,
      serialLog: join(dir, 'console.log'),
      // slirp forwards only addresses inside its own net, so the guest's network is the link-local
      // one that holds 169.254.169.254 (until the vpc capability gives instances real subnets).
      network: {
        options: ['net=169.254.0.0/16', `dhcpstart=${r.privateIpAddress}`, `hostname=${hostname.split('.')[0]}`],
        guestfwd: [`tcp:169.254.169.254:80-cmd:${relayCommand(this.relay, imds)}`],
        mac: r.macAddress
      },
      qmpSocket: join(dir, 'qmp.sock'),
      pidFile: join(dir, 'qemu.pid')
    })
    this.watch(r.instanceId, vm)
    return vm
  }

  /** Follows the VM until it exits; an exit nobody asked for is the guest's own shutdown (or a crash). */
  private watch (instanceId: string, vm: QemuVm): void {
    this.vms.set(instanceId, vm)
    let guestShutdown = false
    vm.qmp.onEvent(e => { if (e.event === 'SHUTDOWN' && e.data.guest === true) guestShutdown = true })
    void vm.exited.then(async () => {
      if (this.vms.get(instanceId) === vm) this.vms.delete(instanceId)
      if (this.stopping.has(instanceId) || this.closed) return
      await this.metadata.unlisten(instanceId)
      const next = await this.store.modify(instanceId, cur => {
        if (cur.state !== 'running' && cur.state !== 'pending') return cur
        if (!guestShutdown) {
          return { ...cur, state: 'stopped', stateReason: { code: 'Server.InternalError', message: 'Server.InternalError: the QEMU process of the instance exited' }, stateTransitionReason: transitionReason('Server error') }
        }
        const reason = { code: 'Client.InstanceInitiatedShutdown', message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown' }
        return { ...cur, state: cur.shutdownBehavior === 'terminate' ? 'shutting-down' : 'stopped', stateReason: reason, stateTransitionReason: transitionReason('Instance initiated shutdown') }
      })
      if (next.state === 'shutting-down') this.reconcile(instanceId)
    }).catch(err => { this.hive.log.error({ err, instanceId }, 'instance exit handling failed') })
  }

  private async powerOff (r: InstanceRecord, force: boolean): Promise<void> {
    try {
      const vm = await this.vmOf(r)
      if (vm !== undefined) {
        this.stopping.add(r.instanceId)
        let gone = false
        try {
          await vm.stop({ force, timeoutMs: STOP_TIMEOUT_MS })
          gone = true
        } finally {
          this.stopping.delete(r.instanceId)
          // A QEMU that would not die stays known: its disks are still in use.
          if (gone) this.vms.delete(r.instanceId)
        }
      }
    } finally {
      await this.metadata.unlisten(r.instanceId)
    }
  }

  private async stop (r: InstanceRecord): Promise<void> {
    await this.powerOff(r, r.stopForce === true)
    await this.store.modify(r.instanceId, cur => cur.state !== 'stopping'
      ? cur
      : { ...cur, state: 'stopped', stopForce: undefined, stateReason: cur.stateReason ?? { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' } })
  }

  /** Powers off, lets go of every volume (deleting those marked so), then records the end. */
  private async terminate (r: InstanceRecord, reason?: { code: string, message: string }): Promise<void> {
    try {
      await this.powerOff(r, false)
    } catch (err) {
      // Termination goes on: the volumes are let go of even if the VM would not die.
      this.hive.log.error({ err, instanceId: r.instanceId }, 'the instance\'s QEMU did not stop')
    }
    const ctx = ownerContext(r, this.hive.node.region)
    for (const b of r.blockDevices) {
      if (b.volumeId === undefined) continue
      try {
        if (b.attachTime !== undefined) await this.hive.bus.request('ec2', 'DetachVolume', { VolumeId: b.volumeId, InstanceId: r.instanceId, Force: true }, ctx)
        if (b.deleteOnTermination) await this.hive.bus.request('ec2', 'DeleteVolume', { VolumeId: b.volumeId }, ctx)
      } catch (err) {
        // Already detached or deleted (a retried termination) is what we want; anything else is logged.
        if (!isAwsError(err) || !/NotFound|IncorrectState/.test(err.code)) this.hive.log.warn({ err, instanceId: r.instanceId, volumeId: b.volumeId }, 'volume cleanup at termination failed')
      }
    }
    rmSync(this.dir(r.instanceId), { recursive: true, force: true })
    await this.store.modify(r.instanceId, cur => ({
      ...cur,
      state: 'terminated',
      blockDevices: [],
      terminatedAt: new Date().toISOString(),
      stateReason: reason ?? cur.stateReason ?? { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' }
    }))
  }

  private async console (instanceId: string): Promise<Uint8Array> {
    const path = join(this.dir(instanceId), 'console.log')
    const f = await open(path, 'r').catch(() => undefined)
    if (f === undefined) return EMPTY
    try {
      const { size } = await f.stat()
      const start = Math.max(0, size - CONSOLE_BYTES)
      const buf = Buffer.alloc(size - start)
      await f.read(buf, 0, buf.length, start)
      return buf
    } finally {
      await f.close()
    }
  }

  private async metadataOf (instanceId: string): Promise<InstanceMetadata | undefined> {
    const r = await this.store.get(instanceId)
    if (r === undefined || r.state === 'terminated') return undefined
    const devices: Record<string, string> = { ami: r.rootDeviceName, root: r.rootDeviceName }
    r.blockDevices.filter(b => b.deviceName !== r.rootDeviceName && b.attachTime !== undefined)
      .forEach((b, i) => { devices[`ebs${i + 1}`] = b.deviceName.replace(/^\/dev\//, '') })
    const o = r.metadataOptions
    const tags = o.instanceMetadataTags === 'enabled'
      ? Object.fromEntries((await this.tags.get(r.ownerId, r.instanceId)).map(t => [t.Key, t.Value]))
      : undefined
    return {
      instanceId: r.instanceId,
      imageId: r.imageId,
      instanceType: r.instanceType,
      hostname: privateDnsName(r.privateIpAddress, this.hive.node.region),
      localIpv4: r.privateIpAddress,
      availabilityZone: r.availabilityZone,
      region: this.hive.node.region,
      macAddress: r.macAddress,
      reservationId: r.reservationId,
      accountId: r.ownerId,
      pendingTime: new Date(r.launchTime),
      publicKeys: r.keyName !== undefined && r.publicKey !== undefined ? [{ name: r.keyName, openssh: r.publicKey }] : [],
      ...(r.userData !== undefined ? { userData: Buffer.from(r.userData, 'base64') } : {}),
      blockDeviceMapping: devices,
      ...(tags !== undefined ? { tags } : {}),
      options: {
        httpTokens: o.httpTokens,
        httpEndpoint: o.httpEndpoint,
        httpPutResponseHopLimit: o.httpPutResponseHopLimit,
        instanceMetadataTags: o.instanceMetadataTags
      }
    }
  }
}

/** Runs a node call's work; an AwsError it throws travels back as { code, message }. */
async function answer (work: () => Promise<void>): Promise<NodeMessage> {
  try {
    await work()
    return { data: EMPTY }
  } catch (e) {
    if (!isAwsError(e)) throw e
    return { data: EMPTY, headers: { code: e.code, message: e.message } }
  }
}

/** A node call's answer: throws the AwsError it carries. */
export function checkAnswer (reply: NodeMessage): NodeMessage {
  const code = reply.headers?.code
  if (code !== undefined && code !== '') throw InstanceErrors.fromNode(code, reply.headers?.message ?? code)
  return reply
}

/** Runs at most `max` tasks at once, the rest in arrival order. */
class Limit {
  private running = 0
  private readonly waiting: Array<() => void> = []

  constructor (private readonly max: number) {}

  async run<T> (task: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next waiter, so no newcomer slips in between.
    if (this.running >= this.max) await new Promise<void>(resolve => this.waiting.push(resolve))
    else this.running++
    try {
      return await task()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.running--
    }
  }
}
