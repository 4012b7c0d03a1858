/**
 * This node's volumes and the cluster's snapshot maps: the data plane behind the EBS API
 * (data.ts). Each volume lives on its home node, in `<data-dir>/ebs/volumes/<vol-id>/`, and is
 * exported there over NBD on the unix socket `<data-dir>/ebs/nbd.sock` (export name = volume
 * id) for QEMU, qemu-img and the admin commands. Calls for a volume go to its home node.
 *
 * Node calls (hive.node.<nodeId>.<name>, core/subjects.ts; string headers, raw body)
 *   ebs.volume.delete    { volumeId } → {}
 *   ebs.volume.resize    { volumeId, size (bytes) } → {}
 *   ebs.volume.snapshot  { volumeId, snapshotId } → {} once snapshots/<snap-id>.map is durable
 *   ebs.volume.export    { volumeId } → { socket, export, [tcp] (HOST:PORT) }: where to reach the
 *                        volume over NBD
 *   ebs.chunks.referenced  {} → body JSON { chunks: number[], unissued: [from, to] } (reclaim.ts)
 *   ebs.reclaim          {} → body JSON ReclaimResult: one reclaim pass now (hive admin ebs reclaim)
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { freemem } from 'node:os'
import { join } from 'node:path'
import type { Hive, NodeMessage } from '../../core/index.js'
import { ChunkStore, snapshotMapKey } from './chunks.js'
import type { VolumeDataPlane } from './data.js'
import { NbdServer } from './nbd.js'
import { Reclaimer } from './reclaim.js'
import { Volume } from './volume.js'

const EMPTY = new Uint8Array(0)

/**
 * The LRU cache of one volume: --ebs-cache-mib when given, else an eighth of its size, within
 * [16 MiB, 256 MiB] and at most a sixteenth of free memory.
 */
export function cacheBytes (size: number, setting?: string): number {
  if (setting !== undefined) {
    const mib = Number(setting)
    if (!Number.isInteger(mib) || mib < 1) throw new Error(`--ebs-cache-mib wants a whole number of MiB, not '${setting}'`)
    return mib << 20
  }
  return Math.max(16 << 20, Math.min(size / 8, 256 << 20, freemem() / 16))
}

export class VolumeStores implements VolumeDataPlane {
  private readonly volumes = new Map<string, Volume>()
  readonly chunks: ChunkStore
  readonly socket: string
  /** HOST:PORT of the NBD TCP listener, when --ebs-nbd-listen asks for one. */
  private tcp: string | undefined
  private readonly reclaimer: Reclaimer

  private constructor (private readonly hive: Hive, private readonly dir: string, private readonly nbd: NbdServer) {
    this.chunks = new ChunkStore(hive.bus, hive.kv)
    this.socket = join(hive.node.dataDir, 'ebs', 'nbd.sock')
    this.reclaimer = new Reclaimer(hive, this.chunks)
  }

  static async open (hive: Hive): Promise<VolumeStores> {
    cacheBytes(1, hive.node.settings['ebs-cache-mib'])
    const dir = join(hive.node.dataDir, 'ebs', 'volumes')
    mkdirSync(dir, { recursive: true })
    const nbd = new NbdServer({ log: hive.log })
    const stores = new VolumeStores(hive, dir, nbd)
    for (const id of readdirSync(dir)) {
      const vdir = join(dir, id)
      if (!existsSync(join(vdir, 'volume.json'))) continue
      stores.add(Volume.open(vdir, id, stores.chunks, { cacheBytes: cacheBytes(Volume.sizeIn(vdir), hive.node.settings['ebs-cache-mib']), log: hive.log }))
    }
    rmSync(stores.socket, { force: true })
    await nbd.listen({ path: stores.socket })
    const tcp = hive.node.settings['ebs-nbd-listen']
    if (tcp !== undefined) {
      const m = /^(.*):(\d+)$/.exec(tcp)
      if (m === null) throw new Error(`--ebs-nbd-listen wants HOST:PORT, not '${tcp}'`)
      const { port } = await nbd.listen({ host: m[1], port: Number(m[2]) })
      stores.tcp = `${m[1]}:${port ?? m[2]}`
    }
    stores.serve()
    stores.reclaimer.start()
    return stores
  }

  private add (v: Volume): void {
    this.volumes.set(v.volumeId, v)
    this.nbd.export(v.volumeId, v)
  }

  local (volumeId: string): Volume | undefined {
    return this.volumes.get(volumeId)
  }

  /** Every chunk a volume of this node references or is uploading. */
  referencedChunks (into: Set<number>): void {
    for (const v of this.volumes.values()) v.referencedChunks(into)
  }

  async createVolume (volumeId: string, sizeBytes: number, snapshotId?: string): Promise<void> {
    if (this.volumes.has(volumeId)) throw new Error(`${volumeId} exists`)
    const map = snapshotId === undefined ? undefined : await this.snapshotMap(snapshotId)
    const vdir = join(this.dir, volumeId)
    const v = Volume.open(vdir, volumeId, this.chunks, {
      cacheBytes: cacheBytes(sizeBytes, this.hive.node.settings['ebs-cache-mib']), log: this.hive.log, create: { size: sizeBytes, ...(map === undefined ? {} : { map }) }
    })
    await v.persist()
    this.add(v)
  }

  async deleteVolume (volumeId: string, node: string): Promise<void> {
    await this.call(node, 'ebs.volume.delete', { volumeId })
  }

  async resizeVolume (volumeId: string, node: string, sizeBytes: number): Promise<void> {
    await this.call(node, 'ebs.volume.resize', { volumeId, size: String(sizeBytes) })
  }

  async createSnapshot (volumeId: string, node: string, snapshotId: string): Promise<void> {
    await this.call(node, 'ebs.volume.snapshot', { volumeId, snapshotId }, 600_000)
  }

  async copySnapshot (sourceSnapshotId: string, snapshotId: string): Promise<void> {
    await this.chunks.putObject(snapshotMapKey(snapshotId), await this.snapshotMap(sourceSnapshotId))
  }

  async deleteSnapshot (snapshotId: string): Promise<void> {
    await this.chunks.deleteObject(snapshotMapKey(snapshotId))
    for await (const key of this.chunks.keys(`snapshots/${snapshotId}.blocks/`)) await this.chunks.deleteObject(key)
  }

  async snapshotMap (snapshotId: string): Promise<Uint8Array> {
    const map = await this.chunks.getObject(snapshotMapKey(snapshotId))
    if (map === undefined) throw new Error(`snapshot ${snapshotId} has no block map`)
    return map
  }

  /** Where the volume is served over NBD. */
  async exportOf (volumeId: string, node: string): Promise<{ socket: string, export: string, tcp?: string }> {
    const got = await this.call(node, 'ebs.volume.export', { volumeId })
    return { socket: got.socket, export: got.export, ...(got.tcp === undefined ? {} : { tcp: got.tcp }) }
  }

  async close (): Promise<void> {
    this.reclaimer.stop()
    await this.nbd.close()
    await Promise.all([...this.volumes.values()].map(async v => await v.close()))
    this.volumes.clear()
  }

  private async call (node: string, name: string, headers: Record<string, string>, timeoutMs?: number): Promise<Record<string, string>> {
    const got = await this.hive.bus.callNode(node, name, { data: EMPTY, headers }, timeoutMs)
    return got.headers ?? {}
  }

  private volume (msg: NodeMessage): Volume {
    const id = msg.headers?.volumeId ?? ''
    const v = this.volumes.get(id)
    if (v === undefined) throw new Error(`volume ${id} is not on this node`)
    return v
  }

  private serve (): void {
    const { bus } = this.hive
    bus.serveNode('ebs.volume.delete', async msg => {
      const id = msg.headers?.volumeId ?? ''
      const v = this.volumes.get(id)
      if (v !== undefined) {
        await this.nbd.unexport(id)
        this.volumes.delete(id)
        await v.close({ drain: false })
      }
      rmSync(join(this.dir, id), { recursive: true, force: true })
      return { data: EMPTY }
    })
    bus.serveNode('ebs.volume.resize', msg => {
      this.volume(msg).resize(Number(msg.headers?.size))
      return { data: EMPTY }
    })
    bus.serveNode('ebs.volume.snapshot', async msg => {
      const map = await this.volume(msg).freezeMap()
      await this.chunks.putObject(snapshotMapKey(msg.headers?.snapshotId ?? ''), map)
      return { data: EMPTY }
    })
    bus.serveNode('ebs.volume.export', msg => {
      const v = this.volume(msg)
      return { data: EMPTY, headers: { socket: this.socket, export: v.volumeId, ...(this.tcp === undefined ? {} : { tcp: this.tcp }) } }
    })
    bus.serveNode('ebs.reclaim', async () => ({ data: Buffer.from(JSON.stringify(await this.reclaimer.pass())) }))
    bus.serveNode('ebs.chunks.referenced', () => {
      const chunks = new Set<number>()
      this.referencedChunks(chunks)
      return { data: Buffer.from(JSON.stringify({ chunks: [...chunks], unissued: this.chunks.unissued() })) }
    })
  }
}

export async function openVolumeStores (hive: Hive): Promise<VolumeStores> {
  return await VolumeStores.open(hive)
}
