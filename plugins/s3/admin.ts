/**
 * `hive admin s3 status` and `hive admin s3 heal [--deep]`: heal progress of every s3 member,
 * through the heal node calls (heal.ts). A member that does not answer is shown as down.
 */
import { progressBar, kvBucketName, type AdminCommand, type AdminContext } from '../../core/index.js'
import type { HealStatus } from './heal.js'
import type { MemberRecord } from './ring.js'

async function members (ctx: AdminContext): Promise<string[]> {
  const bucket = await ctx.kv.bucket<MemberRecord>(kvBucketName('s3', 'members'))
  return (await bucket.list()).map(m => m.value.nodeId)
}

async function ask (ctx: AdminContext, nodeId: string, name: string, body = ''): Promise<HealStatus | undefined> {
  try {
    const r = await ctx.bus.callNode(nodeId, name, { data: Buffer.from(body) }, 5_000)
    return JSON.parse(Buffer.from(r.data).toString('utf8')) as HealStatus
  } catch {
    return undefined
  }
}

function line (nodeId: string, s: HealStatus | undefined): string {
  if (s === undefined) return `${nodeId.padEnd(24)} down`
  const state = s.running ? `healing${s.deep ? ' (deep)' : ''}` : `idle after ${s.passes} pass${s.passes === 1 ? '' : 'es'}`
  return `${nodeId.padEnd(24)} ${progressBar(s.checked, s.total)}  ${s.checked}/${s.total} stripes  ` +
    `repaired ${s.repaired}  failed ${s.failed}  orphans freed ${s.collected ?? 0}  ${state}`
}

export const s3Admin: Record<string, AdminCommand> = {
  compact: {
    summary: 'reclaim the space of deleted objects on every s3 node now',
    async run (ctx) {
      let failed = false
      for (const id of await members(ctx)) {
        try {
          const r = await ctx.bus.callNode(id, 's3.compact', { data: Buffer.alloc(0) }, 600_000)
          const c = JSON.parse(Buffer.from(r.data).toString('utf8')) as { segments: number, moved: number, reclaimedBytes: number }
          ctx.out.write(`${id.padEnd(24)} ${c.segments} segments compacted, ${c.moved} shards moved, ${(c.reclaimedBytes / 1048576).toFixed(1)} MiB reclaimed\n`)
        } catch (err) {
          failed = true
          ctx.out.write(`${id.padEnd(24)} down (${(err as Error).message})\n`)
        }
      }
      return failed ? 1 : 0
    }
  },
  status: {
    summary: 'heal progress and state of every s3 node',
    async run (ctx) {
      for (const id of await members(ctx)) ctx.out.write(line(id, await ask(ctx, id, 's3.heal.status')) + '\n')
      return 0
    }
  },
  heal: {
    summary: 'start a heal pass on every s3 node (--deep also re-reads every shard) and follow it',
    async run (ctx, args) {
      const ids = await members(ctx)
      const deep = args.includes('--deep')
      const started = await Promise.all(ids.map(async id => await ask(ctx, id, 's3.heal.start', JSON.stringify({ deep }))))
      const passes = new Map(ids.map((id, i) => [id, started[i]?.passes ?? 0]))
      let drawn = 0
      for (;;) {
        const now = await Promise.all(ids.map(async id => await ask(ctx, id, 's3.heal.status')))
        const text = ids.map((id, i) => line(id, now[i]))
        if (ctx.interactive && drawn > 0) ctx.out.write(`\x1b[${drawn}A`)
        if (ctx.interactive || now.every(s => s === undefined || !s.running)) ctx.out.write(text.map(l => `\x1b[2K${l}`).join('\n') + '\n')
        drawn = text.length
        // Done when every reachable node has finished the pass that was running when we asked.
        if (now.every((s, i) => s === undefined || (!s.running && s.passes > (passes.get(ids[i]) ?? 0)))) {
          return now.some(s => s !== undefined && s.failed > 0) ? 1 : 0
        }
        await new Promise(resolve => setTimeout(resolve, 500))
      }
    }
  }
}
