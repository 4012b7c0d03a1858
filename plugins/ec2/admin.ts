/**
 * `hive admin ec2 images import FILE --name NAME [--format raw|qcow2|vmdk|vhd|vhdx] [--description D]
 * [--architecture A] [--boot-mode M] [--az ZONE]`: an AMI of the cluster account from a local disk
 * image, made as ImportImage makes one from S3 (image-import.ts) — qemu-img writes the disk into a
 * new volume over NBD, the volume is snapshotted and deleted, the snapshot registered — with a
 * progress bar. Prints the image id. It runs on the machine of the ebs node that takes the volume
 * (its unix socket), or anywhere when that node serves NBD on TCP (--ebs-nbd-listen).
 */
import { existsSync } from 'node:fs'
import { progressReporter, type AdminCommand, type AdminContext } from '../../core/index.js'
import { diskToSnapshot, inspectDisk } from './image-import.js'

const USAGE = 'usage: hive admin ec2 images import FILE --name NAME [--format raw|qcow2|vmdk|vhd|vhdx] [--description D] [--architecture A] [--boot-mode M] [--az ZONE]\n'

function flag (args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i < 0 ? undefined : args[i + 1]
}

/**
 * The account the admin's requests act as. AdminContext does not name it; S3's ListBuckets does
 * (Hive's S3 owner id is the account id).
 */
async function accountOf (ctx: AdminContext): Promise<string> {
  const out = await ctx.request('s3', 'ListBuckets', {}) as { Owner?: { ID?: string } }
  if (out.Owner?.ID === undefined) throw new Error('the cluster did not say which account the admin acts as')
  return out.Owner.ID
}

async function importImage (ctx: AdminContext, args: string[]): Promise<number> {
  const file = args[0]
  const name = flag(args, '--name')
  if (file === undefined || file.startsWith('--') || name === undefined) { ctx.out.write(USAGE); return 2 }
  if (!existsSync(file)) { ctx.out.write(`no file ${file}\n`); return 2 }
  const format = flag(args, '--format')
  let disk
  try {
    disk = await inspectDisk(file, format?.toUpperCase())
  } catch (e) {
    ctx.out.write(`${e instanceof Error ? e.message : String(e)}\n`)
    return 1
  }
  const zone = flag(args, '--az') ?? (await ctx.nodes()).find(n => n.capabilities.includes('ebs'))?.az
  if (zone === undefined) { ctx.out.write('no ebs node is live\n'); return 1 }
  const what = `importing ${file}`
  const show = progressReporter(ctx, what)
  // The name is checked before the long part; RegisterImage checks it again, and a loser of a race
  // gets its snapshot deleted.
  const taken = await ctx.request('ec2', 'DescribeImages', { Owners: ['self'], Filters: [{ Name: 'name', Values: [name.replace(/[*?\\]/g, '\\$&')] }] }) as { Images: Array<{ ImageId: string }> }
  if (taken.Images.length > 0) { ctx.out.write(`AMI name ${name} is already in use by AMI ${taken.Images[0].ImageId}\n`); return 1 }
  let snapshotId: string | undefined
  try {
    snapshotId = (await diskToSnapshot({
      request: async (action, input) => await ctx.request('ec2', action, input),
      bus: ctx.bus,
      accountId: await accountOf(ctx),
      availabilityZone: zone
    }, file, disk, { description: `Imported by hive admin from ${file}`, onProgress: f => show(Math.floor(f * 100)) })).snapshotId
    if (ctx.interactive) ctx.out.write('\n')
    const description = flag(args, '--description')
    const architecture = flag(args, '--architecture')
    const bootMode = flag(args, '--boot-mode')
    const out = await ctx.request('ec2', 'RegisterImage', {
      Name: name,
      ...(description === undefined ? {} : { Description: description }),
      ...(architecture === undefined ? {} : { Architecture: architecture }),
      ...(bootMode === undefined ? {} : { BootMode: bootMode }),
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snapshotId, DeleteOnTermination: true } }]
    }) as { ImageId: string }
    ctx.out.write(`${out.ImageId}\n`)
    return 0
  } catch (e) {
    if (ctx.interactive) ctx.out.write('\n')
    if (snapshotId !== undefined) await ctx.request('ec2', 'DeleteSnapshot', { SnapshotId: snapshotId }).catch(() => {})
    ctx.out.write(`import failed: ${e instanceof Error ? e.message : String(e)}\n`)
    return 1
  }
}

export const ec2Admin: Record<string, AdminCommand> = {
  images: {
    summary: 'import a local disk image (raw, qcow2, vmdk, vhd, vhdx) as a new AMI',
    async run (ctx, args) {
      const [sub, ...rest] = args
      if (sub === 'import') return await importImage(ctx, rest)
      ctx.out.write(USAGE)
      return 2
    }
  }
}
