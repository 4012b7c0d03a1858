/**
 * `hive admin <capability> <command>`: operator commands a capability contributes. The command runs
 * in the CLI's own process as a client of the cluster's bus — it serves nothing — and talks to the
 * capability's nodes with node calls (Bus.callNode) and reads KV.
 */
import { readFileSync } from 'node:fs'
import { connect } from 'nats'
import pino from 'pino'
import { Bus } from './bus.js'
import { loadBuiltin } from './capabilities.js'
import { KvStore } from './kv.js'
import { natsServerOptions } from './nats-server.js'
import { joinUrlPath } from './node.js'
import { NodeRegistry } from './nodes.js'

export interface AdminContext {
  bus: Bus
  kv: KvStore
  /** Where the command writes what the operator reads. */
  out: NodeJS.WriteStream
  /** True when `out` is a terminal: progress bars redraw in place, else print a line now and then. */
  interactive: boolean
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
    const kv = new KvStore(nc.jetstream())
    const registry = await NodeRegistry.open(kv)
    const bus = new Bus(nc, {
      nodeId: `admin-${process.pid}`,
      log: pino({ level: 'warn' }),
      capabilityOf: async (s, a) => await registry.capabilityOf(s, a),
      serversOf: async (s, a) => await registry.serversOf(s, a)
    })
    try {
      return await cmd.run({ bus, kv, out: process.stdout, interactive: process.stdout.isTTY }, args)
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
