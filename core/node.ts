import { fastifyAwilixPlugin } from '@fastify/awilix'
import { asValue } from 'awilix'
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import { randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, type NatsConnection } from 'nats'
import pino, { type Logger } from 'pino'
import { Bus } from './bus.js'
import { builtinCapabilityOf, loadBuiltin, loadPlugin } from './capabilities.js'
import type { Capability, NodeInfo } from './capability.js'
import { adoptIdentity, initNode, readConfig, writeAwsProfile, type ClusterIdentity, type NodeConfig } from './config.js'
import { StaticCredentialsProvider } from './credentials.js'
import { registerEdge } from './edge.js'
import { KvStore } from './kv.js'
import { natsServerOptions, redactedNatsUrl, startEmbeddedNats, type EmbeddedNats } from './nats-server.js'
import { NodeRegistry } from './nodes.js'
import { actionsOf, registerCapabilities, validateCapabilities } from './plugin-host.js'
import { ServiceRegistry } from './services.js'
import { CLUSTER_BUCKET } from './subjects.js'

export interface NodeOptions {
  dataDir: string
  capabilities: string[]
  plugins?: string[]
  listen?: string
  nats?: string
  region?: string
  az?: string
  nodeId?: string
  tlsCert?: string
  tlsKey?: string
  log?: Logger
  /** Largest request body the edge reads for an API call, in bytes (S3 objects: up to 1 GiB). */
  bodyLimit?: number
  /** Capability settings from the command line (`--s3-code 2+1` → { 's3-code': '2+1' }). */
  settings?: Record<string, string>
}

export interface RunningNode {
  app: FastifyInstance
  config: NodeConfig
  /** Where the AWS edge listens, e.g. http://127.0.0.1:9999. */
  endpoint: string
  /** The bus, with its credentials: what another node passes as --nats to join this cluster. */
  natsUrl: string
  log: Logger
  close: () => Promise<void>
}

/**
 * Starts one Hive node: the bus (embedded nats-server unless --nats), the capabilities, the edge.
 * On any failure everything already started is stopped again before the error propagates.
 */
export async function startNode (opts: NodeOptions): Promise<RunningNode> {
  const log = opts.log ?? pino({ level: process.env.HIVE_LOG_LEVEL ?? 'info' })
  const caps: Capability[] = []
  for (const name of opts.capabilities) caps.push(await loadBuiltin(name))
  for (const spec of opts.plugins ?? []) caps.push(await loadPlugin(spec))
  const stored = readConfig(opts.dataDir) ?? initNode({ dataDir: opts.dataDir, listen: opts.listen, region: opts.region, az: opts.az, nodeId: opts.nodeId }).config
  let config: NodeConfig = {
    ...stored,
    ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
    ...(opts.region !== undefined ? { region: opts.region, az: opts.az ?? `${opts.region}a` } : {}),
    ...(opts.az !== undefined ? { az: opts.az } : {}),
    ...(opts.nodeId !== undefined ? { nodeId: opts.nodeId } : {})
  }
  const cleanup: Array<() => Promise<void>> = []
  const close = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) {
      try { await step() } catch (err) { log.warn({ err }, 'shutdown step failed') }
    }
  }
  try {
    let embedded: EmbeddedNats | undefined
    if (opts.nats === undefined) {
      embedded = await startEmbeddedNats(opts.dataDir, log)
      cleanup.push(embedded.stop)
    }
    const natsUrl = opts.nats ?? (embedded as EmbeddedNats).url
    if (embedded !== undefined) writeFileSync(joinUrlPath(opts.dataDir), natsUrl + '\n', { mode: 0o600 })
    // noAsyncTraces: nats.js would otherwise build two Error objects per request for stack traces.
    const nc: NatsConnection = await connect({ ...natsServerOptions(natsUrl), name: `hive-${config.nodeId}`, maxReconnectAttempts: -1, noAsyncTraces: true })
    // A drain waits for the server; one that is gone (reconnecting forever) must not hold shutdown.
    cleanup.push(async () => { await withDeadline(nc.drain(), 5_000).catch(async () => await nc.close()) })
    const kv = new KvStore(nc)
    config = { ...config, ...await joinCluster(kv, opts.dataDir, config) }
    const registry = await NodeRegistry.open(kv)
    const models = validateCapabilities(caps, (await registry.nodes()).filter(n => n.nodeId !== config.nodeId))

    const bus = new Bus(nc, {
      nodeId: config.nodeId,
      log,
      capabilityOf: async (s, a) => await registry.capabilityOf(s, a) ?? await builtinCapabilityOf(s, a),
      serversOf: async (s, a) => await registry.serversOf(s, a)
    })
    cleanup.push(async () => { await bus.close() })

    const [host, port] = splitHostPort(config.listen)
    const tls = opts.tlsCert !== undefined && opts.tlsKey !== undefined
      ? { key: readFileSync(opts.tlsKey), cert: readFileSync(opts.tlsCert) }
      : undefined
    const app = Fastify({
      loggerInstance: log,
      genReqId: () => randomUUID(),
      // the edge logs one line per AWS request itself, with the action and status
      logController: new LogController({ disableRequestLogging: true }),
      // S3's single PUT: bodies are held in memory whole (a Buffer's ceiling is 4 GiB); larger objects go multipart.
      bodyLimit: 1024 * 1024 * 1024,
      ...(tls !== undefined ? { https: tls } : {})
    }) as unknown as FastifyInstance
    cleanup.push(async () => { await app.close() })
    const node: NodeInfo = { nodeId: config.nodeId, region: config.region, az: config.az, accountId: config.accountId, dataDir: opts.dataDir, settings: opts.settings ?? {} }
    // The capabilities and their DI container live in a context of their own: the container's
    // per-request scope hook then stays off the edge route, which never uses it.
    await app.register(async scope => {
      await scope.register(fastifyAwilixPlugin, { disposeOnClose: true, disposeOnResponse: false, strictBooleanEnforced: true })
      scope.diContainer.register({ node: asValue(node), bus: asValue(bus), kv: asValue(kv), log: asValue(log) })
      await registerCapabilities(scope, caps, { node, bus, kv, log, registry })
    })
    registerEdge(app, {
      bus,
      bodyLimit: opts.bodyLimit ?? 16 * 1024 * 1024,
      region: config.region,
      serversOf: async (s, a) => await registry.serversOf(s, a),
      services: new ServiceRegistry(models),
      credentials: new StaticCredentialsProvider([{
        accessKeyId: config.rootAccessKeyId,
        secretAccessKey: config.rootSecretAccessKey,
        principal: { accountId: config.accountId, arn: `arn:aws:iam::${config.accountId}:root`, isRoot: true }
      }])
    })
    await app.listen({ host, port })
    const address = app.server.address()
    const boundPort = typeof address === 'object' && address !== null ? address.port : port
    const endpoint = `${tls !== undefined ? 'https' : 'http'}://${host}:${boundPort}`
    await registry.start({
      nodeId: config.nodeId,
      region: config.region,
      az: config.az,
      capabilities: caps.map(c => c.capability),
      actions: actionsOf(caps),
      endpoint,
      startedAt: new Date().toISOString()
    }, caps.map(c => ({ capability: c.capability, plugin: c.name, actions: Object.keys(actionsOf([c])) })))
    cleanup.push(async () => { await registry.stop(config.nodeId) })
    try {
      writeAwsProfile(config, endpoint)
    } catch (err) {
      log.warn({ err }, 'could not update the hive aws profile')
    }
    log.info({ endpoint, nats: redactedNatsUrl(natsUrl), capabilities: caps.map(c => c.capability), nodeId: config.nodeId }, 'hive node ready')
    return { app, config: { ...config, listen: `${host}:${boundPort}` }, endpoint, natsUrl, log, close }
  } catch (e) {
    await close()
    throw e
  }
}

/** `<data-dir>/nats-url` (0600): the embedded bus's URL with its token, for `--nats` on joining nodes. */
export function joinUrlPath (dataDir: string): string {
  return join(dataDir, 'nats-url')
}

async function joinCluster (kv: KvStore, dataDir: string, config: NodeConfig): Promise<ClusterIdentity> {
  const bucket = await kv.bucket<ClusterIdentity>(CLUSTER_BUCKET)
  const mine = { accountId: config.accountId, rootAccessKeyId: config.rootAccessKeyId, rootSecretAccessKey: config.rootSecretAccessKey }
  await bucket.create('identity', mine)
  const cluster = (await bucket.get('identity'))?.value ?? mine
  if (JSON.stringify(cluster) !== JSON.stringify(mine)) adoptIdentity(dataDir, cluster)
  return cluster
}

async function withDeadline<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('deadline')), ms) })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

function splitHostPort (listen: string): [string, number] {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen)
  if (m === null) throw new Error(`--listen wants host:port, got '${listen}'`)
  return [m[1], Number(m[2])]
}
