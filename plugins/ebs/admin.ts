/**
 * `hive admin ebs volumes list | export VOL FILE [--format raw|qcow2] | import FILE [--az ZONE]
 * [--type TYPE]` and `hive admin ebs reclaim`. Export and import copy through the volume's NBD
 * export with qemu-img (so any format qemu-img reads can be imported); they run on the volume's
 * home node's machine (its unix socket), or anywhere when that node serves NBD on TCP
 * (--ebs-nbd-listen).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { kvBucketName, progressReporter, type AdminCommand, type AdminContext } from '../../core/index.js'
import type { VolumeRecord } from './records.js'

const GIB = 1024 ** 3

async function volumes (ctx: AdminContext): Promise<VolumeRecord[]> {
  const bucket = await ctx.kv.bucket<VolumeRecord>(kvBucketName('ebs', 'volumes'))
  return (await bucket.list()).map(e => e.value).sort((a, b) => a.createTime.localeCompare(b.createTime))
}

/** The qemu-img address of a volume, reachable from this machine. */
async function nbdAddress (ctx: AdminContext, v: VolumeRecord): Promise<string> {
  const got = await ctx.bus.callNode(v.node, 'ebs.volume.export', { data: new Uint8Array(0), headers: { volumeId: v.volumeId } })
  const h = got.headers ?? {}
  if (existsSync(h.socket)) return `nbd+unix:///${h.export}?socket=${h.socket}`
  if (h.tcp !== undefined) return `nbd://${h.tcp}/${h.export}`
  throw new Error(`${v.volumeId} lives on node ${v.node}: run this there, or start that node with --ebs-nbd-listen`)
}

/** Runs qemu-img with -p, redrawing its progress as Hive's bar. */
async function qemuImg (ctx: AdminContext, args: string[], what: string): Promise<number> {
  return await new Promise(resolve => {
    const p = spawn('qemu-img', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    const show = progressReporter(ctx, what)
    p.stdout.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) show(Number(m[1]))
    })
    p.stderr.on('data', (d: Buffer) => { err += d.toString() })
    p.on('error', e => { err += e.message })
    p.on('close', code => {
      if (code === 0) show(100)
      if (ctx.interactive) ctx.out.write('\n')
      if (code !== 0) ctx.out.write(`qemu-img failed: ${err.trim()}\n`)
      resolve(code === 0 ? 0 : 1)
    })
  })
}

function flag (args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i < 0 ? undefined : args[i + 1]
}

async function imageSize (file: string): Promise<{ size: number, format: string }> {
  return await new Promise((resolve, reject) => {
    const p = spawn('qemu-img', ['info', '--output', 'json', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.stderr.on('data', (d: Buffer) => { err += d.toString() })
    p.on('close', code => {
      if (code !== 0) { reject(new Error(err.trim())); return }
      const info = JSON.parse(out) as { 'virtual-size': number, format: string }
      resolve({ size: info['virtual-size'], format: info.format })
    })
  })
}

const USAGE = 'usage: hive admin ebs volumes list | export VOL FILE [--format raw|qcow2] | import FILE [--az ZONE] [--type TYPE]\n'

async function list (ctx: AdminContext): Promise<number> {
  ctx.out.write(`${'VOLUME'.padEnd(22)} ${'SIZE'.padStart(6)} ${'TYPE'.padEnd(8)} ${'STATE'.padEnd(10)} ${'NODE'.padEnd(20)} ATTACHED TO\n`)
  for (const v of await volumes(ctx)) {
    const attached = v.attachments.map(a => `${a.instanceId} ${a.device} (${a.state})`).join(', ')
    ctx.out.write(`${v.volumeId.padEnd(22)} ${`${v.size}G`.padStart(6)} ${v.volumeType.padEnd(8)} ${v.state.padEnd(10)} ${v.node.padEnd(20)} ${attached}\n`)
  }
  return 0
}

async function exportVolume (ctx: AdminContext, args: string[]): Promise<number> {
  const [id, file] = args
  if (id === undefined || file === undefined) { ctx.out.write(USAGE); return 2 }
  const format = flag(args, '--format') ?? 'raw'
  if (format !== 'raw' && format !== 'qcow2') { ctx.out.write(`--format is raw or qcow2, not '${format}'\n`); return 2 }
  const v = (await volumes(ctx)).find(x => x.volumeId === id)
  if (v === undefined) { ctx.out.write(`no volume ${id}\n`); return 1 }
  return await qemuImg(ctx, ['convert', '-p', '-f', 'raw', '-O', format, await nbdAddress(ctx, v), file], `exporting ${id}`)
}

async function importVolume (ctx: AdminContext, args: string[]): Promise<number> {
  const file = args[0]
  if (file === undefined || !existsSync(file)) { ctx.out.write(file === undefined ? USAGE : `no file ${file}\n`); return 2 }
  const { size } = await imageSize(file)
  const zone = flag(args, '--az') ?? (await ctx.nodes()).find(n => n.capabilities.includes('ebs'))?.az
  const out = await ctx.request('ec2', 'CreateVolume', {
    Size: Math.max(1, Math.ceil(size / GIB)),
    AvailabilityZone: zone,
    VolumeType: flag(args, '--type') ?? 'gp3'
  }) as { VolumeId: string }
  let v: VolumeRecord | undefined
  for (let i = 0; i < 600; i++) {
    v = (await volumes(ctx)).find(x => x.volumeId === out.VolumeId)
    if (v?.state === 'available') break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  if (v?.state !== 'available') { ctx.out.write(`${out.VolumeId} did not become available\n`); return 1 }
  // -n: write into the existing volume; qemu-img skips zero areas, which unwritten blocks already are.
  const code = await qemuImg(ctx, ['convert', '-p', '-n', '-O', 'raw', file, await nbdAddress(ctx, v)], `importing into ${out.VolumeId}`)
  if (code === 0) ctx.out.write(`${out.VolumeId}\n`)
  return code
}

export const ebsAdmin: Record<string, AdminCommand> = {
  volumes: {
    summary: 'list volumes; export one to a raw or qcow2 file; import a disk image as a new volume',
    async run (ctx, args) {
      const [sub, ...rest] = args
      if (sub === 'list' || sub === undefined) return await list(ctx)
      if (sub === 'export') return await exportVolume(ctx, rest)
      if (sub === 'import') return await importVolume(ctx, rest)
      ctx.out.write(USAGE)
      return 2
    }
  },
  reclaim: {
    summary: 'delete the chunks no volume or snapshot references any more, now',
    async run (ctx) {
      const nodes = (await ctx.nodes()).filter(n => n.capabilities.includes('ebs'))
      if (nodes.length === 0) { ctx.out.write('no ebs node is live\n'); return 1 }
      const got = await ctx.bus.callNode(nodes[0].nodeId, 'ebs.reclaim', { data: new Uint8Array(0) }, 600_000)
      const r = JSON.parse(Buffer.from(got.data).toString()) as { referenced: number, deleted: number, suspects: number }
      ctx.out.write(`${r.referenced} chunks referenced, ${r.deleted} deleted, ${r.suspects} unreferenced (deleted by the next pass if still so)\n`)
      return 0
    }
  }
}
