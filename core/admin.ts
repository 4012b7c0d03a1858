/**
 * `hive admin <capability> <command>`: operator commands a capability contributes. The command runs
 * in the CLI's own process as a client of the cluster's bus — it serves nothing — and talks to the
 * capability's nodes with node calls (Bus.callNode) and reads KV.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect } from 'nats'
import pino from 'pino'
import { Bus, type ActionInput, type ActionOutput } from './bus.js'
import { loadBuiltin } from './capabilities.js'
import { KvStore } from './kv.js'
import { natsServerOptions } from './nats-server.js'
import { joinUrlPath } from './node.js'
import type { ClusterIdentity } from './config.js'
import { NodeRegistry, type NodeRecord } from './nodes.js'
import { CLUSTER_BUCKET } from './subjects.js'

export interface AdminContext {
  bus: Bus
  kv: KvStore
  /** Where the command writes what the operator reads. */
  out: NodeJS.WriteStream
  /** True when `out` is a terminal: progress bars redraw in place, else print a line now and then. */
  interactive: boolean
  /** The cluster's live nodes. */
  nodes: () => Promise<NodeRecord[]>
  /** Calls an AWS action (`ec2`, `CreateVolume`) as the cluster account's root user, as the edge would. */
  request: (service: string, action: string, input: ActionInput) => Promise<ActionOutput>
}

export interface AdminCommand {
  /** One line for `hive admin <capability> --help`. */
  summary: string
  /** Returns the process exit code. */
  run: (ctx: AdminContext, args: string[]) => Promise<number>
}

/** Runs `command` of capability `name` against the cluster at `natsUrl` (default: the data dir's embedded bus). */
export async function runAdmin (name: string, command: string | undefined, args: string[], opts: { dataDir: string, nats?: string }): Promise<number> {
  const cap = await loadBuiltin(name)
  const commands = cap.admin ?? {}
  const cmd = command === undefined ? undefined : commands[command]
  if (cmd === undefined) {
    const list = Object.entries(commands).map(([c, d]) => `  hive admin ${name} ${c.padEnd(10)} ${d.summary}`).join('\n')
    process.stderr.write(`${command === undefined || command === '--help' ? '' : `hive: unknown command '${command}'\n`}` +
      `${list === '' ? `the ${name} capability has no admin commands` : list}\n`)
    return command === '--help' ? 0 : 2
  }
  const url = opts.nats ?? readFileSync(joinUrlPath(opts.dataDir), 'utf8').trim()
  const nc = await connect({ ...natsServerOptions(url), name: `hive-admin-${process.pid}`, noAsyncTraces: true })
  try {
    const kv = new KvStore(nc)
    const registry = await NodeRegistry.open(kv)
    const bus = new Bus(nc, {
      nodeId: `admin-${process.pid}`,
      log: pino({ level: 'warn' }),
      capabilityOf: async (s, a) => await registry.capabilityOf(s, a),
      serversOf: async (s, a) => await registry.serversOf(s, a)
    })
    const request = async (service: string, action: string, input: ActionInput): Promise<ActionOutput> => {
      const identity = (await (await kv.bucket<ClusterIdentity>(CLUSTER_BUCKET)).get('identity'))?.value
      const region = (await registry.nodes())[0]?.region
      if (identity === undefined || region === undefined) throw new Error('no live node in the cluster')
      const ctx = { requestId: randomUUID(), region, accountId: identity.accountId, principalArn: `arn:aws:iam::${identity.accountId}:root` }
      return await bus.request(service, action, input, ctx)
    }
    try {
      return await cmd.run({ bus, kv, out: process.stdout, interactive: process.stdout.isTTY, nodes: async () => await registry.nodes(), request }, args)
    } finally {
      await bus.close()
    }
  } finally {
    await nc.close()
  }
}

/** `[#########-----------]  45%` */
export function progressBar (done: number, total: number, width = 30): string {
  const f = total === 0 ? 1 : Math.min(1, done / total)
  const n = Math.round(f * width)
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${String(Math.floor(f * 100)).padStart(3)}%`
}

/**
 * Shows `what`'s progress in percent: one bar redrawn in place on a terminal, else a line every 10%
 * (a log stays readable).
 */
export function progressReporter (ctx: Pick<AdminContext, 'out' | 'interactive'>, what: string): (percent: number) => void {
  let shown = -10
  return percent => {
    if (ctx.interactive) ctx.out.write(`\r${what} ${progressBar(percent, 100)}`)
    else if (percent - shown >= 10 || percent === 100) {
      shown = percent
      ctx.out.write(`${what} ${progressBar(percent, 100)}\n`)
    }
  }
}
