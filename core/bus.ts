import { createInbox, ErrorCode, RequestStrategy, type Msg, type NatsConnection, type Subscription } from 'nats'
import type { Logger } from 'pino'
import { decode, encode } from './codec.js'
import { AwsError, CoreErrors, type AwsErrorJSON } from './errors.js'
import { ACTION_QUEUE, actionSubject, gatherSubject } from './subjects.js'

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
  /**
   * Replies to our requests arrive on `<inbox>.<token>`, one subscription for all of them. nats.js's
   * own request() builds two Error objects per call (a cancelled-promise rejection even on success),
   * a cost every AWS request would pay.
   */
  private readonly inbox = createInbox()
  private readonly pending = new Map<string, PendingReply>()
  private nextToken = 0
  /**
   * Messages published in one event-loop turn go out in one socket write: each HTTP request (and
   * each handler's completion) runs in its own turn of the loop and nats.js flushes once per
   * microtask checkpoint, so without this every message costs its own write syscall — under load
   * the largest single cost of the edge.
   */
  private outbox: Array<[string, Uint8Array, string | undefined]> = []

  constructor (readonly nc: NatsConnection, private readonly opts: BusOptions) {
    this.timeoutMs = opts.timeoutMs ?? 60_000
    this.subs.push(nc.subscribe(`${this.inbox}.*`, { callback: (_e, m) => this.settle(m.subject.slice(this.inbox.length + 1), m) }))
  }

  serve (service: string, action: string, handler: ActionHandler, opts: ServeOptions = {}): void {
    const run = (m: Msg): void => { void this.answer(service, action, handler, m) }
    this.subs.push(this.nc.subscribe(actionSubject(service, action), { queue: ACTION_QUEUE, callback: (_e, m) => run(m) }))
    if (opts.gather === true) {
      this.subs.push(this.nc.subscribe(gatherSubject(service, action), { callback: (_e, m) => run(m) }))
    }
  }

  async request (service: string, action: string, input: ActionInput, ctx: RequestContext, timeoutMs = this.timeoutMs): Promise<ActionOutput> {
    const data = this.fitting(encode({ input, ctx } satisfies BusRequest), () => CoreErrors.requestTooLarge(this.nc.info?.max_payload ?? 0))
    const token = (this.nextToken++).toString(36)
    const reply = await new Promise<Msg | 'timeout' | 'lost'>(resolve => {
      const timer = setTimeout(() => { this.pending.delete(token); resolve('timeout') }, timeoutMs)
      this.pending.set(token, { resolve, timer })
      this.send(actionSubject(service, action), data, `${this.inbox}.${token}`)
    })
    if (reply === 'timeout') throw CoreErrors.actionTimedOut(service, action)
    if (reply === 'lost') throw CoreErrors.internal()
    // The server answers a request nobody subscribes to with an empty status message.
    if (reply.data.length === 0 && reply.headers?.code === 503) {
      throw CoreErrors.capabilityUnavailable(service, action, await this.opts.capabilityOf(service, action))
    }
    return unwrap(reply)
  }

  /** The capability that serves an action, for errors that name it. */
  async capabilityOf (service: string, action: string): Promise<string | undefined> {
    return await this.opts.capabilityOf(service, action)
  }

  /** Asks every node that serves the action and returns all their answers (in arrival order). */
  async gather (service: string, action: string, input: ActionInput, ctx: RequestContext, timeoutMs = 5_000): Promise<ActionOutput[]> {
    const expected = await this.opts.serversOf(service, action)
    if (expected === 0) throw CoreErrors.capabilityUnavailable(service, action, await this.opts.capabilityOf(service, action))
    const replies = await this.nc.requestMany(gatherSubject(service, action), encode({ input, ctx } satisfies BusRequest), {
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
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.resolve('lost') }
    this.pending.clear()
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
    this.send(m.reply, data)
  }

  /** A message larger than the server's max_payload would make nats.js throw at flush time. */
  private fitting (data: Uint8Array, tooLarge: () => Error): Uint8Array {
    if (data.length > (this.nc.info?.max_payload ?? Infinity)) throw tooLarge()
    return data
  }

  /** The handler's context; its child logger is made only if the handler logs. */
  private context (ctx: RequestContext, service: string, action: string): ActionContext {
    let log: Logger | undefined
    const parent = this.opts.log
    return {
      ...ctx,
      service,
      action,
      nodeId: this.opts.nodeId,
      get log () {
        log ??= parent.child({ requestId: ctx.requestId, action: `${service}:${action}` })
        return log
      }
    }
  }

  private send (subject: string, data: Uint8Array, reply?: string): void {
    if (this.outbox.push([subject, data, reply]) === 1) setImmediate(() => this.flushOutbox())
  }

  private flushOutbox (): void {
    const batch = this.outbox
    this.outbox = []
    for (const [subject, data, reply] of batch) {
      try {
        this.nc.publish(subject, data, reply === undefined ? undefined : { reply })
      } catch (err) {
        // Closed or draining connection: a request fails now instead of at its timeout.
        this.opts.log.warn({ err, subject }, 'bus publish failed')
        if (reply?.startsWith(this.inbox) === true) this.settle(reply.slice(this.inbox.length + 1), 'lost')
      }
    }
  }

  private settle (token: string, outcome: Msg | 'lost'): void {
    const p = this.pending.get(token)
    if (p === undefined) return
    this.pending.delete(token)
    clearTimeout(p.timer)
    p.resolve(outcome)
  }
}

interface PendingReply {
  resolve: (m: Msg | 'timeout' | 'lost') => void
  timer: NodeJS.Timeout
}

function unwrap (m: Msg): ActionOutput {
  const reply = decode(m.data) as BusReply
  if ('err' in reply) throw AwsError.fromJSON(reply.err)
  return reply.ok ?? undefined
}

function isNoResponders (e: unknown): boolean {
  return (e as { code?: string }).code === ErrorCode.NoResponders
}
