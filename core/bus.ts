import { ErrorCode, headers as natsHeaders, RequestStrategy, type Msg, type NatsConnection, type Subscription } from 'nats'
import type { Logger } from 'pino'
import { decode, encode } from './codec.js'
import { AwsError, CoreErrors, type AwsErrorJSON } from './errors.js'
import { Requester } from './requester.js'
import { ACTION_QUEUE, actionSubject, gatherSubject, internalSubject, nodeSubject } from './subjects.js'

/** Who asked, carried with every action so handlers answer as the right account and region. */
export interface RequestContext {
  requestId: string
  region: string
  accountId: string
  principalArn: string
}

/** What a handler sees: the caller's context plus where it runs. */
export interface ActionContext extends RequestContext {
  service: string
  action: string
  /** The node handling the action. */
  nodeId: string
  log: Logger
}

export type ActionInput = Record<string, unknown>
export type ActionOutput = Record<string, unknown> | undefined
export type ActionHandler = (input: ActionInput, ctx: ActionContext) => Promise<ActionOutput> | ActionOutput

/** Message formats on hive.act.* and hive.all.* (subjects.ts), encoded with codec.ts. */
interface BusRequest { input: ActionInput, ctx: RequestContext }
type BusReply = { ok: ActionOutput } | { err: AwsErrorJSON }

export interface ServeOptions {
  /** Also answer fan-out requests (hive.all.*): for describes whose resources live on every node. */
  gather?: boolean
}

/** A node call's message: raw bytes (shards travel as they are, not base64) and a few string headers. */
export interface NodeMessage {
  data: Uint8Array
  headers?: Record<string, string>
}

export type NodeHandler = (msg: NodeMessage) => Promise<NodeMessage> | NodeMessage

/** A node call failed: the node is gone (`unreachable`), or its handler threw (the message says what). */
export class NodeCallError extends Error {
  constructor (readonly nodeId: string, readonly unreachable: boolean, message: string) {
    super(message)
    this.name = 'NodeCallError'
  }
}

export interface BusOptions {
  nodeId: string
  log: Logger
  /** Names the capability behind an action when no node answers, for the error the caller sees. */
  capabilityOf: (service: string, action: string) => Promise<string | undefined>
  /** How many nodes serve an action right now, so a gather can stop as soon as all have answered. */
  serversOf: (service: string, action: string) => Promise<number>
  timeoutMs?: number
}

/**
 * The typed layer over NATS that every action crosses: the edge and plugins `request` an action by
 * name, plugins `serve` the ones they implement, describes that span nodes `gather`.
 * Errors cross as AwsError values, so a handler on another node fails exactly like a local one.
 */
export class Bus {
  private readonly subs: Subscription[] = []
  private readonly timeoutMs: number
  private readonly requester: Requester
  /** Actions this node serves: a request for one of them runs here, without a trip through NATS. */
  private readonly local = new Map<string, ActionHandler>()
  private readonly localNode = new Map<string, NodeHandler>()
  private readonly localInternal = new Map<string, NodeHandler>()

  constructor (readonly nc: NatsConnection, private readonly opts: BusOptions) {
    this.timeoutMs = opts.timeoutMs ?? 60_000
    this.requester = new Requester(nc, (err, subject) => { opts.log.warn({ err, subject }, 'bus publish failed') })
  }

  serve (service: string, action: string, handler: ActionHandler, opts: ServeOptions = {}): void {
    this.local.set(`${service}.${action}`, handler)
    const run = (m: Msg): void => { void this.answer(service, action, handler, m) }
    this.subs.push(this.nc.subscribe(actionSubject(service, action), { queue: ACTION_QUEUE, callback: (_e, m) => run(m) }))
    if (opts.gather === true) {
      this.subs.push(this.nc.subscribe(gatherSubject(service, action), { callback: (_e, m) => run(m) }))
    }
  }

  /** Whether this node serves the action itself (a request for it never crosses NATS). */
  servesLocally (service: string, action: string): boolean {
    return this.local.has(`${service}.${action}`)
  }

  /**
   * Runs the action, on this node when it serves it — request bodies and responses (an S3 object)
   * then never cross NATS, whose max_payload would cap them — else on a node that does.
   */
  async request (service: string, action: string, input: ActionInput, ctx: RequestContext, timeoutMs = this.timeoutMs): Promise<ActionOutput> {
    const handler = this.local.get(`${service}.${action}`)
    if (handler !== undefined) {
      let timer: NodeJS.Timeout | undefined
      try {
        // The same bound as a remote action's: a handler stuck on a lost dependency fails the request.
        return await Promise.race([
          handler(input, this.context(ctx, service, action)),
          new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(CoreErrors.actionTimedOut(service, action)), timeoutMs) })
        ])
      } catch (e) {
        if (e instanceof AwsError) throw e
        this.opts.log.error({ err: e, requestId: ctx.requestId, action: `${service}:${action}` }, 'action failed')
        throw CoreErrors.internal()
      } finally {
        clearTimeout(timer)
      }
    }
    const data = this.fitting(encode({ input, ctx: requestContextOf(ctx) } satisfies BusRequest), () => CoreErrors.requestTooLarge(this.nc.info?.max_payload ?? 0))
    const reply = await this.requester.request(actionSubject(service, action), data, timeoutMs)
    if (reply === 'timeout') throw CoreErrors.actionTimedOut(service, action)
    if (reply === 'lost') throw CoreErrors.internal()
    // The server answers a request nobody subscribes to with an empty status message.
    if (reply.data.length === 0 && reply.headers?.code === 503) {
      throw CoreErrors.capabilityUnavailable(service, action, await this.opts.capabilityOf(service, action))
    }
    return unwrap(reply)
  }

  /**
   * Serves `name` (`<capability>.<what>`, e.g. `s3.shard.put`) at this node's own address: for
   * traffic between the nodes of a capability, addressed to one node (the one holding a shard).
   */
  serveNode (name: string, handler: NodeHandler): void {
    this.localNode.set(name, handler)
    this.subs.push(this.nc.subscribe(nodeSubject(this.opts.nodeId, name), {
      callback: (_e, m) => { void this.answerNode(name, handler, m) }
    }))
  }

  /**
   * Serves `name` for the whole cluster (`hive.int.<name>`, queue group): the API one capability
   * offers another beside the AWS actions — the s3 store's internal objects for ebs, say. One node
   * that serves it answers each call; this node's own handler when it has one.
   */
  serveInternal (name: string, handler: NodeHandler): void {
    this.localInternal.set(name, handler)
    this.subs.push(this.nc.subscribe(internalSubject(name), {
      queue: ACTION_QUEUE,
      callback: (_e, m) => { void this.answerNode(name, handler, m) }
    }))
  }

  /** Calls an internal API by name on a node that serves it; NodeCallError (unreachable) when none does. */
  async callInternal (name: string, msg: NodeMessage, timeoutMs = 60_000): Promise<NodeMessage> {
    const local = this.localInternal.get(name)
    if (local !== undefined) {
      try {
        return await local(msg)
      } catch (e) {
        throw new NodeCallError(this.opts.nodeId, false, e instanceof Error ? e.message : String(e))
      }
    }
    return await this.exchange('cluster', internalSubject(name), name, msg, timeoutMs)
  }

  /** Calls `name` on node `nodeId` (this node's own handler runs in-process). */
  async callNode (nodeId: string, name: string, msg: NodeMessage, timeoutMs = 30_000): Promise<NodeMessage> {
    if (nodeId === this.opts.nodeId) {
      const handler = this.localNode.get(name)
      if (handler === undefined) throw new NodeCallError(nodeId, true, `this node does not serve ${name}`)
      // Fails as a remote handler's failure does, so callers treat a local disk's error like any node's.
      try {
        return await handler(msg)
      } catch (e) {
        throw new NodeCallError(nodeId, false, e instanceof Error ? e.message : String(e))
      }
    }
    return await this.exchange(nodeId, nodeSubject(nodeId, name), name, msg, timeoutMs)
  }

  /** A node or internal call, over the same requester as actions. */
  private async exchange (nodeId: string, subject: string, name: string, msg: NodeMessage, timeoutMs: number): Promise<NodeMessage> {
    if (msg.data.length > this.maxPayload) throw new NodeCallError(nodeId, false, `${name}: ${msg.data.length} bytes exceed the bus's max_payload`)
    const h = natsHeaders()
    for (const [k, v] of Object.entries(msg.headers ?? {})) h.set(k, v)
    const reply = await this.requester.request(subject, msg.data, timeoutMs, h)
    const who = nodeId === 'cluster' ? 'no node' : `node ${nodeId}`
    if (reply === 'timeout' || reply === 'lost') throw new NodeCallError(nodeId, true, `${who} did not answer ${name} (${reply})`)
    // The server's status reply when nobody subscribes: the node is gone.
    if (reply.data.length === 0 && reply.headers?.code === 503) throw new NodeCallError(nodeId, true, `${who} serves ${name}`)
    const out: Record<string, string> = {}
    for (const k of reply.headers?.keys() ?? []) out[k] = reply.headers?.get(k) ?? ''
    if (out['hive-error'] !== undefined) throw new NodeCallError(nodeId, false, out['hive-error'])
    return { data: reply.data, headers: out }
  }

  /** The capability that serves an action, for errors that name it. */
  async capabilityOf (service: string, action: string): Promise<string | undefined> {
    return await this.opts.capabilityOf(service, action)
  }

  /** Asks every node that serves the action and returns all their answers (in arrival order). */
  async gather (service: string, action: string, input: ActionInput, ctx: RequestContext, timeoutMs = 5_000): Promise<ActionOutput[]> {
    const expected = await this.opts.serversOf(service, action)
    if (expected === 0) throw CoreErrors.capabilityUnavailable(service, action, await this.opts.capabilityOf(service, action))
    const replies = await this.nc.requestMany(gatherSubject(service, action), encode({ input, ctx: requestContextOf(ctx) } satisfies BusRequest), {
      strategy: RequestStrategy.Count, maxMessages: expected, maxWait: timeoutMs
    })
    const out: ActionOutput[] = []
    try {
      for await (const m of replies) out.push(unwrap(m))
    } catch (e) {
      if (!isNoResponders(e)) throw e
    }
    if (out.length === 0) throw CoreErrors.capabilityUnavailable(service, action, await this.opts.capabilityOf(service, action))
    return out
  }

  /** Stops serving; requests still waiting for a reply fail. */
  async close (): Promise<void> {
    for (const s of this.subs.splice(0)) s.unsubscribe()
    this.requester.close()
  }

  private async answer (service: string, action: string, handler: ActionHandler, m: Msg): Promise<void> {
    let reply: BusReply
    let req: BusRequest | undefined
    try {
      req = decode(m.data) as BusRequest
      reply = { ok: await handler(req.input, this.context(req.ctx, service, action)) }
    } catch (e) {
      if (!(e instanceof AwsError)) {
        this.opts.log.error({ err: e, requestId: req?.ctx.requestId, action: `${service}:${action}` }, 'action failed')
      }
      reply = { err: (e instanceof AwsError ? e : CoreErrors.internal()).toJSON() }
    }
    if (m.reply === undefined || m.reply === '') return
    let data: Uint8Array
    try {
      data = this.fitting(encode(reply), () => new Error(`reply of ${service}:${action} exceeds the bus's max_payload`))
    } catch (err) {
      this.opts.log.error({ err, requestId: req?.ctx.requestId }, 'reply not sent')
      data = encode({ err: CoreErrors.internal().toJSON() } satisfies BusReply)
    }
    this.requester.publish(m.reply, data)
  }

  private async answerNode (name: string, handler: NodeHandler, m: Msg): Promise<void> {
    const h = natsHeaders()
    let data: Uint8Array = new Uint8Array(0)
    try {
      const headers: Record<string, string> = {}
      for (const k of m.headers?.keys() ?? []) headers[k] = m.headers?.get(k) ?? ''
      const out = await handler({ data: m.data, headers })
      for (const [k, v] of Object.entries(out.headers ?? {})) h.set(k, v)
      data = out.data
    } catch (e) {
      // A header value is one line.
      h.set('hive-error', (e instanceof Error ? e.message : String(e)).replace(/[\r\n]+/g, ' '))
    }
    if (m.reply === undefined || m.reply === '') return
    if (data.length > this.maxPayload) {
      this.opts.log.error({ name, bytes: data.length }, 'node call reply exceeds the bus max_payload')
      h.set('hive-error', `the reply of ${name} exceeds the bus's max_payload`)
      data = new Uint8Array(0)
    }
    this.requester.publish(m.reply, data, undefined, h)
  }

  /** The largest message the bus carries (the server's max_payload). */
  get maxPayload (): number {
    return this.requester.maxPayload
  }

  /** A message larger than the server's max_payload would make nats.js throw at flush time. */
  private fitting (data: Uint8Array, tooLarge: () => Error): Uint8Array {
    if (data.length > (this.nc.info?.max_payload ?? Infinity)) throw tooLarge()
    return data
  }

  private context (ctx: RequestContext, service: string, action: string): ActionContext {
    return new HandlerContext(ctx, service, action, this.opts.nodeId, this.opts.log)
  }
}

/**
 * The handler's context; its child logger is made only if the handler logs. A class: an object
 * literal with a getter and a spread took 2% of the event loop under small S3 requests.
 */
class HandlerContext implements ActionContext {
  readonly requestId: string
  readonly region: string
  readonly accountId: string
  readonly principalArn: string
  readonly #parent: Logger
  #log: Logger | undefined

  constructor (ctx: RequestContext, readonly service: string, readonly action: string, readonly nodeId: string, parent: Logger) {
    this.#parent = parent
    this.requestId = ctx.requestId
    this.region = ctx.region
    this.accountId = ctx.accountId
    this.principalArn = ctx.principalArn
  }

  get log (): Logger {
    this.#log ??= this.#parent.child({ requestId: this.requestId, action: `${this.service}:${this.action}` })
    return this.#log
  }
}

/**
 * The caller's context alone, without what a handler's context adds (its logger, its node): what
 * crosses the bus, and what work that outlives its handler keeps.
 */
export function requestContextOf ({ requestId, region, accountId, principalArn }: RequestContext): RequestContext {
  return { requestId, region, accountId, principalArn }
}

function unwrap (m: Msg): ActionOutput {
  const reply = decode(m.data) as BusReply
  if ('err' in reply) throw AwsError.fromJSON(reply.err)
  return reply.ok ?? undefined
}

function isNoResponders (e: unknown): boolean {
  return (e as { code?: string }).code === ErrorCode.NoResponders
}
