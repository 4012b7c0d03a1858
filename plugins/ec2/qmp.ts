/**
 * A client for the QEMU Machine Protocol over a unix socket, the channel Hive drives each VM with.
 *
 * Wire format (qemu docs/interop/qmp-spec.rst). Every message is one JSON object; QEMU ends each with
 * "\r\n" and never pretty-prints unless started with -qmp-pretty, so one line is one message.
 *   S: {"QMP": {"version": {"qemu": {"major", "minor", "micro"}, "package"}, "capabilities": [...]}}
 *                                                   the greeting, on connect (capabilities negotiation)
 *   C: {"execute": "qmp_capabilities"}              leaves negotiation; commands are refused before it
 *   S: {"return": {}}
 *   C: {"execute": NAME, "arguments": {...}, "id": N}          "arguments" optional; "id" echoed back
 *   S: {"return": VALUE, "id": N}                              success
 *   S: {"error": {"class": CLASS, "desc": TEXT}, "id": N}      failure; CLASS is GenericError,
 *                                                   CommandNotFound, DeviceNotFound, DeviceNotActive,
 *                                                   KVMMissingCap
 *   S: {"event": NAME, "data": {...}, "timestamp": {"seconds": S, "microseconds": U}}
 *                                                   asynchronous, interleaved anywhere between replies
 *                                                   (SHUTDOWN, POWERDOWN, RESET, STOP, RESUME,
 *                                                   DEVICE_DELETED, BLOCK_IO_ERROR, …)
 * QEMU answers commands in the order it received them; replies are still matched by id, so nothing
 * here depends on that order. A monitor serves one client at a time: a second connection waits,
 * without a greeting, until the first one closes.
 */
import { createConnection, type Socket } from 'node:net'

/** A command QEMU refused: `qmpClass` and `desc` are QMP's error class and description. */
export class QmpError extends Error {
  constructor (readonly command: string, readonly qmpClass: string, readonly desc: string) {
    super(`QMP ${command}: ${qmpClass}: ${desc}`)
    this.name = 'QmpError'
  }
}

/** The connection ended (QEMU exited, or close() was called) before a command was answered. */
export class QmpClosedError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'QmpClosedError'
  }
}

export interface QmpEvent {
  event: string
  data: Record<string, unknown>
  timestamp: { seconds: number, microseconds: number }
}

export interface QmpGreeting {
  version: { qemu: { major: number, minor: number, micro: number }, package: string }
  capabilities: string[]
}

export interface QmpConnectOptions {
  /** Connect, greeting and capabilities negotiation together; default 10 s. */
  timeoutMs?: number
  /** A command not answered in time is rejected (QEMU stays blocked on, say, a hung NBD server); default 60 s. */
  commandTimeoutMs?: number
}

interface Pending {
  command: string
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

type Reply = { id?: number, return?: unknown, error?: { class: string, desc: string } } & Partial<QmpEvent> & { QMP?: QmpGreeting }

export class QmpClient {
  private readonly pending = new Map<number, Pending>()
  private readonly eventListeners = new Set<(e: QmpEvent) => void>()
  private readonly closeListeners = new Set<(err: Error) => void>()
  private nextId = 1
  private buffer = ''
  private closedWith: Error | undefined

  private constructor (private readonly socket: Socket, readonly greeting: QmpGreeting, private readonly commandTimeoutMs: number) {
    socket.on('data', (chunk: string) => this.receive(chunk))
    socket.on('error', err => this.shutdown(new QmpClosedError(`QMP connection closed by QEMU (${err.message})`)))
    socket.on('close', () => this.shutdown(new QmpClosedError('QMP connection closed by QEMU')))
  }

  /** Connects to a QMP unix socket, reads the greeting and leaves capabilities negotiation. */
  static async connect (path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000
    const socket = createConnection(path)
    socket.setEncoding('utf8')
    let client: QmpClient | undefined
    try {
      client = await new Promise<QmpClient>((resolve, reject) => {
        const timer = setTimeout(() => fail(new Error(`QMP ${path}: no greeting within ${timeoutMs} ms`)), timeoutMs)
        const fail = (err: Error): void => { clearTimeout(timer); socket.off('data', onData); reject(err) }
        let head = ''
        const onData = (chunk: string): void => {
          head += chunk
          const nl = head.indexOf('\n')
          if (nl < 0) return
          clearTimeout(timer)
          socket.off('data', onData)
          socket.off('error', fail)
          socket.off('close', onEarlyClose)
          let greeting: QmpGreeting | undefined
          try { greeting = (JSON.parse(head.slice(0, nl)) as Reply).QMP } catch {}
          if (greeting === undefined) { reject(new Error(`QMP ${path}: not a QMP greeting: ${head.slice(0, nl)}`)); return }
          const c = new QmpClient(socket, greeting, opts.commandTimeoutMs ?? 60_000)
          c.receive(head.slice(nl + 1))
          resolve(c)
        }
        const onEarlyClose = (): void => fail(new QmpClosedError(`QMP ${path}: closed before the greeting`))
        socket.on('data', onData)
        socket.once('error', fail)
        socket.once('close', onEarlyClose)
      })
      await client.execute('qmp_capabilities')
      return client
    } catch (err) {
      client?.close()
      socket.destroy()
      throw err
    }
  }

  /** Runs a command; resolves with its "return", rejects with a QmpError, QmpClosedError or a timeout. */
  async execute<T = unknown> (command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedWith !== undefined) throw new QmpClosedError(`QMP ${command}: ${this.closedWith.message}`)
    const id = this.nextId++
    const line = JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id }) + '\n'
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`QMP ${command}: no answer within ${this.commandTimeoutMs} ms`))
      }, this.commandTimeoutMs)
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer })
      this.socket.write(line)
    })
  }

  /** Calls `listener` with every event until the returned function is called. */
  onEvent (listener: (e: QmpEvent) => void): () => void {
    this.eventListeners.add(listener)
    return () => { this.eventListeners.delete(listener) }
  }

  /** Called once when the connection ends, with why (immediately if it already has). */
  onClose (listener: (err: Error) => void): () => void {
    if (this.closedWith !== undefined) { listener(this.closedWith); return () => {} }
    this.closeListeners.add(listener)
    return () => { this.closeListeners.delete(listener) }
  }

  /**
   * The next event named `name` that `match` accepts, arriving from now on. Rejects after `timeoutMs`
   * or when the connection closes first.
   */
  async waitForEvent (name: string, match: (e: QmpEvent) => boolean = () => true, timeoutMs = 30_000): Promise<QmpEvent> {
    return await new Promise<QmpEvent>((resolve, reject) => {
      const done = (): void => { clearTimeout(timer); offEvent(); offClose() }
      const timer = setTimeout(() => { done(); reject(new Error(`QMP: no ${name} event within ${timeoutMs} ms`)) }, timeoutMs)
      const offEvent = this.onEvent(e => { if (e.event === name && match(e)) { done(); resolve(e) } })
      const offClose = this.onClose(err => { done(); reject(new QmpClosedError(`QMP: closed while waiting for ${name}: ${err.message}`)) })
    })
  }

  get closed (): boolean {
    return this.closedWith !== undefined
  }

  /** Drops the connection (QEMU keeps running); commands in flight reject with QmpClosedError. */
  close (): void {
    this.shutdown(new QmpClosedError('QMP connection closed by Hive'))
  }

  private receive (chunk: string): void {
    this.buffer += chunk
    let nl: number
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim()
      this.buffer = this.buffer.slice(nl + 1)
      if (line !== '') this.dispatch(line)
    }
  }

  private dispatch (line: string): void {
    let msg: Reply
    try { msg = JSON.parse(line) as Reply } catch { return }
    if (typeof msg.event === 'string') {
      const e: QmpEvent = { event: msg.event, data: msg.data ?? {}, timestamp: msg.timestamp ?? { seconds: 0, microseconds: 0 } }
      for (const l of [...this.eventListeners]) l(e)
      return
    }
    if (typeof msg.id !== 'number') return
    const p = this.pending.get(msg.id)
    if (p === undefined) return
    this.pending.delete(msg.id)
    clearTimeout(p.timer)
    if (msg.error !== undefined) p.reject(new QmpError(p.command, msg.error.class, msg.error.desc))
    else p.resolve(msg.return)
  }

  private shutdown (why: Error): void {
    if (this.closedWith !== undefined) return
    this.closedWith = why
    this.socket.destroy()
    for (const [id, p] of this.pending) {
      this.pending.delete(id)
      clearTimeout(p.timer)
      p.reject(new QmpClosedError(`QMP ${p.command}: ${why.message}`))
    }
    for (const l of [...this.closeListeners]) l(why)
    this.closeListeners.clear()
  }
}
