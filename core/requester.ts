import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats'

/** How a request ended without a reply: no answer in time, or the connection dropped it. */
export type NoReply = 'timeout' | 'lost'

/**
 * Requests over one NATS connection that share one reply subscription, and publishes that go out
 * together: what every request of an AWS call pays for (the bus's actions and node calls, the KV's
 * reads and writes), so it is kept to a map entry and a timer.
 *
 * Replies arrive on `<inbox>.<token>` (subjects.ts), one subscription for all of them: nats.js's own
 * request() builds two Error objects per call (a cancelled-promise rejection even on success).
 *
 * Messages published in one event-loop turn go out in one socket write: each HTTP request (and each
 * handler's completion) runs in its own turn of the loop and nats.js flushes once per microtask
 * checkpoint, so without this every message costs its own write syscall — under load the largest
 * single cost of the edge.
 */
export class Requester {
  private readonly inbox = createInbox()
  private readonly sub: Subscription
  private readonly pending = new Map<string, PendingReply>()
  private nextToken = 0
  private outbox: Array<[string, Uint8Array, string | undefined, MsgHdrs | undefined]> = []

  /** `onPublishError` hears of a message the connection refused (closed or draining). */
  constructor (private readonly nc: NatsConnection, private readonly onPublishError: (err: unknown, subject: string) => void = () => {}) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (_e, m) => this.settle(m.subject.slice(this.inbox.length + 1), m) })
    // Requests of a connection that closed fail then rather than at their timeouts.
    void nc.closed().then(() => { this.close() })
  }

  /** Sends `data` to `subject` and resolves with the first reply, or why none came. */
  async request (subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg | NoReply> {
    const token = (this.nextToken++).toString(36)
    return await new Promise<Msg | NoReply>(resolve => {
      const timer = setTimeout(() => { this.pending.delete(token); resolve('timeout') }, timeoutMs)
      this.pending.set(token, { resolve, timer })
      this.publish(subject, data, `${this.inbox}.${token}`, headers)
    })
  }

  /** The largest message the server takes (its max_payload). */
  get maxPayload (): number {
    return this.nc.info?.max_payload ?? 1024 * 1024
  }

  /** Queues a message for this turn's write. */
  publish (subject: string, data: Uint8Array, reply?: string, headers?: MsgHdrs): void {
    if (this.outbox.push([subject, data, reply, headers]) === 1) setImmediate(() => this.flush())
  }

  /** Stops listening for replies; requests still waiting end 'lost'. */
  close (): void {
    if (!this.sub.isClosed()) this.sub.unsubscribe()
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.resolve('lost') }
    this.pending.clear()
  }

  private flush (): void {
    const batch = this.outbox
    this.outbox = []
    for (const [subject, data, reply, headers] of batch) {
      try {
        this.nc.publish(subject, data, reply === undefined && headers === undefined ? undefined : { ...(reply === undefined ? {} : { reply }), ...(headers === undefined ? {} : { headers }) })
      } catch (err) {
        this.onPublishError(err, subject)
        // A request fails now instead of at its timeout.
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
  resolve: (m: Msg | NoReply) => void
  timer: NodeJS.Timeout
}
