/**
 * The NBD server that hands EBS volumes to QEMU: one unix socket (and optionally TCP), named exports.
 *
 * Wire format served here — a subset of the NBD protocol, NetworkBlockDevice/nbd doc/proto.md
 * ("The NBD protocol", https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md).
 * All integers are big-endian; u64 offsets and sizes above 2^53 are treated as out of range.
 *
 * Handshake (fixed newstyle only)
 *   S: "NBDMAGIC" "IHAVEOPT" u16 handshake flags = FIXED_NEWSTYLE(1) | NO_ZEROES(2)
 *   C: u32 client flags ⊆ C_FIXED_NEWSTYLE(1) | C_NO_ZEROES(2)        (other bits: hard disconnect)
 *   then options until one enters transmission:
 *   C: "IHAVEOPT" u32 option u32 length, length bytes of data         (length > 16 KiB: hard disconnect)
 *   S: u64 0x0003e889045565a9 u32 option u32 reply-type u32 length, length bytes   (an option reply)
 *     EXPORT_NAME(1)  data: name.  S: u64 size u16 transmission flags [124 zero bytes unless
 *                     C_NO_ZEROES]; transmission starts.  Unknown name: hard disconnect.
 *     ABORT(2)        S: ACK; the server closes.
 *     LIST(3)         S: SERVER(2) {u32 name length, name, description} per export, then ACK.
 *     INFO(6) / GO(7) data: u32 name length, name, u16 n, n × u16 info request.
 *                     S: INFO(3) {u16 EXPORT(0), u64 size, u16 transmission flags};
 *                        INFO(3) {u16 BLOCK_SIZE(3), u32 minimum 4096, u32 preferred 4096,
 *                        u32 maximum 32 MiB} when requested; INFO(3) {u16 NAME(1) | DESCRIPTION(2),
 *                        string} when requested; then ACK, and after GO transmission starts.
 *                     Unknown name: ERR_UNKNOWN(2^31+6) with a message; bad data: ERR_INVALID(2^31+3).
 *     anything else (STARTTLS, STRUCTURED_REPLY, META_CONTEXT, …): ERR_UNSUP(2^31+1).
 *   Transmission flags: HAS_FLAGS(1) SEND_FLUSH(4) SEND_FUA(8) CAN_MULTI_CONN(256), and either
 *   READ_ONLY(2) or SEND_TRIM(32) SEND_WRITE_ZEROES(64) SEND_FAST_ZERO(2048).
 *
 * Transmission
 *   C: u32 0x25609513 u16 command flags u16 type u64 handle u64 offset u32 length
 *      [length bytes of data if type = WRITE]                          (28-byte header)
 *   S: u32 0x67446698 u32 error u64 handle [length bytes if type = READ and error = 0]
 *   Types: READ(0) WRITE(1) DISC(2, no reply; in-flight requests finish, then the server closes)
 *   FLUSH(3) TRIM(4) WRITE_ZEROES(6). Flags: FUA(1) on any; NO_HOLE(2), FAST_ZERO(16) on WRITE_ZEROES.
 *   Errors: EPERM(1) a write, trim or zeroing on a read-only export; EIO(5) the device failed;
 *   EINVAL(22) unknown type or flag, a read or trim past the end, a read over 32 MiB, a flush with
 *   an offset or length; ENOSPC(28) a write or zeroing past the end. A bad request magic or a write
 *   over 32 MiB is a hard disconnect. A zero-length request succeeds and touches nothing.
 *   Replies go out as requests complete, in any order; each reply is written whole.
 *
 * Choices
 * - Simple replies only. Structured replies pay off for sparse reads (holes), NBD_CMD_BLOCK_STATUS
 *   and errors found mid-read; a BlockDevice exposes no allocation map, and a read completes before
 *   its reply header is sent, so a failed read is always a clean error reply.
 * - Block size: to a client that asks (QEMU, libnbd) we advertise minimum = preferred = 4096, the
 *   device's block, so QEMU aligns its requests and does any read-modify-write itself. A client that
 *   does not ask gets the protocol's defaults (minimum 1), so unaligned requests are served too:
 *   the server reads the partial edge blocks, patches them and writes whole blocks. Such a
 *   read-modify-write excludes every other write to its blocks (earlier ones finish first, later
 *   ones wait), so concurrent writers never lose each other's bytes within a block. An unaligned
 *   request from a client that did agree to 4096 is served the same way rather than refused. The
 *   device only ever sees 4096-aligned offsets and lengths.
 * - WRITE_ZEROES is the device's trim (which reads back as zeros), NO_HOLE included: a volume is
 *   thin, with no space reserved per block, so writing literal zeros would promise nothing more
 *   and cost the space. FAST_ZERO is therefore always honoured. TRIM discards only whole blocks.
 * - CAN_MULTI_CONN: every connection to a device shares it, and its flush covers all writes.
 * - Backpressure: a connection stops reading while its requests in flight hold more than
 *   maxInFlightBytes (64 MiB of payloads and read lengths) or 1024 requests, or 16 MiB of replies
 *   wait in its socket, and resumes below half of each.
 * - Hot path: requests are parsed in place from the socket's chunks (a payload inside one chunk is
 *   handed to the device as a view of it; only a payload spanning chunks is copied, once), and
 *   each reply leaves in one socket write (header and data together).
 */
import { lstatSync, unlinkSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'

/** A 4 KiB-block device, as the server drives it. Offsets and lengths are always multiples of 4096. */
export interface BlockDevice {
  /** Bytes, a multiple of 4096. May grow while served: the server re-reads it on each request. */
  readonly size: number
  /** Resolves with exactly `length` bytes. */
  read: (offset: number, length: number) => Promise<Uint8Array>
  /** `fua`: resolve only once the data is durable. */
  write: (offset: number, data: Uint8Array, fua: boolean) => Promise<void>
  /** Makes every write that has resolved durable. */
  flush: () => Promise<void>
  /** The range reads back as zeros afterwards (NBD's TRIM and WRITE_ZEROES). */
  trim: (offset: number, length: number, fua: boolean) => Promise<void>
}

export interface ExportOptions {
  /** Writes, trims and zeroing fail with EPERM; the client is told (NBD_FLAG_READ_ONLY). */
  readOnly?: boolean
  /** Shown to humans by `qemu-nbd --list`. */
  description?: string
}

export interface NbdServerOptions {
  log?: Logger
  /**
   * A connection stops reading requests while its requests in flight hold more than this many
   * bytes (payloads and read lengths), and resumes below half. Default 64 MiB.
   */
  maxInFlightBytes?: number
}

export interface ListenOptions {
  /** A unix socket path; a stale socket file there is replaced. */
  path?: string
  /** TCP as well (or instead); port 0 picks one. */
  host?: string
  port?: number
}

const BLOCK = 4096
/** The largest READ or WRITE payload (2^25, what the protocol says every server should take). */
const MAX_PAYLOAD = 32 << 20
/** Option data beyond this is not a real client (names are at most 4 KiB). */
const MAX_OPTION = 16 << 10
/** Requests in flight per connection before it stops reading, whatever their size. */
const MAX_IN_FLIGHT_REQUESTS = 1024
/** Read replies up to this size are copied behind their header: cheaper than a writev of two. */
const COPY_REPLY_BYTES = 64 << 10
/** Reply bytes queued on a socket before the connection stops reading until they drain. */
const MAX_QUEUED_REPLY_BYTES = 16 << 20

const NBDMAGIC = Buffer.from('NBDMAGIC')
const IHAVEOPT = Buffer.from('IHAVEOPT')
const OPTION_REPLY_MAGIC = Buffer.from('0003e889045565a9', 'hex')
const REQUEST_MAGIC = 0x25609513
const SIMPLE_REPLY_MAGIC = 0x67446698

const FLAG_FIXED_NEWSTYLE = 1
const FLAG_NO_ZEROES = 2

const OPT_EXPORT_NAME = 1
const OPT_ABORT = 2
const OPT_LIST = 3
const OPT_INFO = 6
const OPT_GO = 7

const REP_ACK = 1
const REP_SERVER = 2
const REP_INFO = 3
const REP_ERR_UNSUP = 0x80000001
const REP_ERR_INVALID = 0x80000003
const REP_ERR_UNKNOWN = 0x80000006

const INFO_EXPORT = 0
const INFO_NAME = 1
const INFO_DESCRIPTION = 2
const INFO_BLOCK_SIZE = 3

const TF_HAS_FLAGS = 1
const TF_READ_ONLY = 2
const TF_SEND_FLUSH = 4
const TF_SEND_FUA = 8
const TF_SEND_TRIM = 32
const TF_SEND_WRITE_ZEROES = 64
const TF_CAN_MULTI_CONN = 256
const TF_SEND_FAST_ZERO = 2048

const CMD_READ = 0
const CMD_WRITE = 1
const CMD_DISC = 2
const CMD_FLUSH = 3
const CMD_TRIM = 4
const CMD_WRITE_ZEROES = 6

const CMD_FLAG_FUA = 1
const CMD_FLAG_NO_HOLE = 2
const CMD_FLAG_FAST_ZERO = 16

const EPERM = 1
const EIO = 5
const EINVAL = 22
const ENOSPC = 28

const HEADER = 28

interface Export {
  readonly name: string
  readonly device: BlockDevice
  readonly readOnly: boolean
  readonly description: string
  readonly order: WriteOrder
  readonly connections: Set<Connection>
}

/** What every connection of a server reads. */
interface Host {
  readonly exports: Map<string, Export>
  readonly log: Logger | undefined
  readonly maxInFlightBytes: number
}

/** Serves named block devices over NBD to any number of connections. */
export class NbdServer {
  private readonly host: Host
  private readonly exports = new Map<string, Export>()
  private readonly orders = new WeakMap<BlockDevice, WriteOrder>()
  private readonly connections = new Set<Connection>()
  private readonly listeners: Server[] = []

  constructor (opts: NbdServerOptions = {}) {
    this.host = { exports: this.exports, log: opts.log, maxInFlightBytes: opts.maxInFlightBytes ?? 64 << 20 }
  }

  /** Serves `device` as `name` to connections that ask for it from now on. */
  export (name: string, device: BlockDevice, opts: ExportOptions = {}): void {
    if (Buffer.byteLength(name) > 4096) throw new Error('an NBD export name is at most 4096 bytes')
    if (this.exports.has(name)) throw new Error(`NBD export '${name}' already exists`)
    let order = this.orders.get(device)
    if (order === undefined) {
      order = new WriteOrder()
      this.orders.set(device, order)
    }
    this.exports.set(name, { name, device, readOnly: opts.readOnly === true, description: opts.description ?? '', order, connections: new Set() })
  }

  /**
   * Stops serving `name`: new clients no longer find it, and its connections are closed once their
   * requests in flight are answered. Resolves when the device will see no more calls from here.
   */
  async unexport (name: string): Promise<void> {
    const e = this.exports.get(name)
    if (e === undefined) return
    this.exports.delete(name)
    await Promise.all([...e.connections].map(async c => await c.shutdown()))
  }

  /** Listens on a unix socket and/or TCP; resolves with the TCP port when one was asked for. */
  async listen (opts: ListenOptions): Promise<{ port?: number }> {
    const out: { port?: number } = {}
    if (opts.path !== undefined) {
      removeStaleSocket(opts.path)
      await this.listenOn(opts.path)
    }
    if (opts.port !== undefined) {
      const s = await this.listenOn(opts.port, opts.host)
      const addr = s.address()
      if (addr !== null && typeof addr === 'object') out.port = addr.port
    }
    return out
  }

  private async listenOn (where: string | number, host?: string): Promise<Server> {
    const server = createServer(socket => { this.accept(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      const ready = (): void => { server.off('error', reject); resolve() }
      if (typeof where === 'string') server.listen(where, ready)
      else server.listen(where, host, ready)
    })
    server.on('error', err => this.host.log?.warn({ err }, 'nbd: listener error'))
    this.listeners.push(server)
    return server
  }

  private accept (socket: Socket): void {
    if (socket.remoteAddress !== undefined) socket.setNoDelay(true)
    const c = new Connection(this.host, socket)
    this.connections.add(c)
    // A connection counts until its device calls have settled, even after its socket is gone.
    socket.once('close', () => {
      void c.drained().then(() => {
        this.connections.delete(c)
        c.export?.connections.delete(c)
      })
    })
  }

  /** Stops listening, then closes every connection once its requests in flight are answered. */
  async close (): Promise<void> {
    const closing = this.listeners.splice(0).map(async s => await new Promise<void>(resolve => s.close(() => resolve())))
    await Promise.all([...this.connections].map(async c => await c.shutdown()))
    await Promise.all(closing)
  }
}

function removeStaleSocket (path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}

/**
 * The writes in flight on one device, so that a read-modify-write of partial blocks excludes every
 * other write to those blocks: it waits for overlapping writes that arrived before it, and
 * overlapping writes that arrive after it wait for it. Whole-block writes run side by side.
 * Waits only ever point at earlier arrivals, so they cannot deadlock.
 */
class WriteOrder {
  private readonly active = new Set<Span>()
  private exclusives = 0

  /** Runs `op` on blocks [first, end) once the writes it must follow are done. */
  async run (first: number, end: number, exclusive: boolean, op: () => Promise<void>): Promise<void> {
    let waits: Array<Promise<void>> | undefined
    if (exclusive || this.exclusives > 0) {
      for (const s of this.active) {
        if (s.first < end && first < s.end && (exclusive || s.exclusive)) (waits ??= []).push(s.done)
      }
    }
    const span: Span = { first, end, exclusive, done: waits === undefined ? op() : Promise.allSettled(waits).then(op) }
    this.active.add(span)
    if (exclusive) this.exclusives++
    try {
      await span.done
    } finally {
      this.active.delete(span)
      if (exclusive) this.exclusives--
    }
  }
}

interface Span { first: number, end: number, exclusive: boolean, done: Promise<void> }

/** Thrown by request handling with the NBD error to reply. */
class NbdError extends Error {
  constructor (readonly errno: number, message: string) {
    super(message)
  }
}

function errnoOf (e: unknown): number {
  if (e instanceof NbdError) return e.errno
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' ? ENOSPC : EIO
}

/** Reads `length` bytes at any offset: whole blocks from the device, trimmed to the request. */
async function readRange (device: BlockDevice, offset: number, length: number): Promise<Uint8Array> {
  if (offset % BLOCK === 0 && length % BLOCK === 0) return checked(await device.read(offset, length), length)
  const start = offset - offset % BLOCK
  const end = roundUp(offset + length)
  const data = checked(await device.read(start, end - start), end - start)
  return data.subarray(offset - start, offset - start + length)
}

function checked (data: Uint8Array, length: number): Uint8Array {
  if (data.length !== length) throw new NbdError(EIO, `device returned ${data.length} bytes for a read of ${length}`)
  return data
}

const roundUp = (x: number): number => Math.ceil(x / BLOCK) * BLOCK

/** Writes `data` at any offset; partial edge blocks are read, patched and written whole. */
async function writeRange (device: BlockDevice, order: WriteOrder, offset: number, data: Uint8Array, fua: boolean): Promise<void> {
  const end = offset + data.length
  if (offset % BLOCK === 0 && data.length % BLOCK === 0) {
    await order.run(offset / BLOCK, end / BLOCK, false, async () => await device.write(offset, data, fua))
    return
  }
  const start = offset - offset % BLOCK
  const stop = roundUp(end)
  await order.run(start / BLOCK, stop / BLOCK, true, async () => {
    const whole = Buffer.allocUnsafe(stop - start)
    if (stop - start <= 2 * BLOCK) {
      whole.set(checked(await device.read(start, stop - start), stop - start))
    } else {
      const [head, tail] = await Promise.all([
        offset > start ? device.read(start, BLOCK) : undefined,
        end < stop ? device.read(stop - BLOCK, BLOCK) : undefined
      ])
      if (head !== undefined) whole.set(checked(head, BLOCK), 0)
      if (tail !== undefined) whole.set(checked(tail, BLOCK), stop - start - BLOCK)
    }
    whole.set(data, offset - start)
    await device.write(start, whole, fua)
  })
}

/** Zeroes `length` bytes at any offset: whole blocks by trim, partial edge blocks by read-modify-write. */
async function zeroRange (device: BlockDevice, order: WriteOrder, offset: number, length: number, fua: boolean): Promise<void> {
  const end = offset + length
  if (offset % BLOCK === 0 && length % BLOCK === 0) {
    await order.run(offset / BLOCK, end / BLOCK, false, async () => await device.trim(offset, length, fua))
    return
  }
  const start = offset - offset % BLOCK
  const stop = roundUp(end)
  await order.run(start / BLOCK, stop / BLOCK, true, async () => {
    const patch = async (block: number): Promise<void> => {
      const b = Buffer.from(checked(await device.read(block, BLOCK), BLOCK))
      b.fill(0, Math.max(offset, block) - block, Math.min(end, block + BLOCK) - block)
      await device.write(block, b, fua)
    }
    const innerStart = roundUp(offset)
    const innerEnd = end - end % BLOCK
    const work: Array<Promise<void>> = []
    if (offset > start) work.push(patch(start))
    // One partial block holding both edges is patched once.
    if (end < stop && (stop - BLOCK !== start || offset === start)) work.push(patch(stop - BLOCK))
    if (innerEnd > innerStart) work.push(device.trim(innerStart, innerEnd - innerStart, fua))
    await Promise.all(work)
  })
}

/** Discards the whole blocks inside the range (TRIM is advisory; partial blocks keep their data). */
async function trimRange (device: BlockDevice, order: WriteOrder, offset: number, length: number, fua: boolean): Promise<void> {
  const start = roundUp(offset)
  const end = offset + length - (offset + length) % BLOCK
  if (end <= start) return
  await order.run(start / BLOCK, end / BLOCK, false, async () => await device.trim(start, end - start, fua))
}

const u64 = (b: Buffer, at: number): number => {
  const hi = b.readUInt32BE(at)
  // Beyond 2^53 nothing is exact, and nothing is in range either.
  return hi >= 0x200000 ? Number.POSITIVE_INFINITY : hi * 0x100000000 + b.readUInt32BE(at + 4)
}

function putU64 (b: Buffer, at: number, v: number): void {
  b.writeUInt32BE(Math.floor(v / 0x100000000), at)
  b.writeUInt32BE(v % 0x100000000, at + 4)
}

/** One client: the handshake, then requests parsed straight from the socket's chunks. */
class Connection {
  export: Export | undefined
  private readonly host: Host
  private readonly socket: Socket
  private handshaking = true
  private clientFlags = -1
  private noZeroes = false
  private hs: Buffer = Buffer.alloc(0)
  /** An incomplete request header carried over from the previous chunk. */
  private partial: Buffer | undefined
  /** The WRITE whose payload is being assembled across chunks. */
  private pending: { hdr: Buffer, flags: number, offset: number, data: Buffer, filled: number } | undefined
  /** Chunks received while parsing is held back. */
  private held: Buffer[] = []
  private blocked = false
  private stopped = false
  private inFlight = 0
  private inFlightBytes = 0
  private idle: Array<() => void> = []

  constructor (host: Host, socket: Socket) {
    this.host = host
    this.socket = socket
    socket.on('data', chunk => this.onData(chunk))
    socket.on('error', err => this.host.log?.debug({ err }, 'nbd: connection error'))
    socket.on('drain', () => this.maybeResume())
    socket.once('close', () => {
      this.stopped = true
      this.held = []
    })
    const hello = Buffer.alloc(18)
    NBDMAGIC.copy(hello, 0)
    IHAVEOPT.copy(hello, 8)
    hello.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16)
    socket.write(hello)
  }

  /** Stops taking requests, answers those in flight, then closes. */
  async shutdown (): Promise<void> {
    if (!this.socket.destroyed) this.stop()
    await this.drained()
    this.socket.destroy()
  }

  /** Takes no more requests; what the client still sends is read and dropped, so its close is seen. */
  private stop (): void {
    this.stopped = true
    this.held = []
    this.pending = undefined
    this.socket.resume()
  }

  /** Resolves once no request of this connection is in flight. */
  async drained (): Promise<void> {
    if (this.inFlight === 0) return
    await new Promise<void>(resolve => this.idle.push(resolve))
  }

  private wakeIdle (): void {
    for (const w of this.idle.splice(0)) w()
  }

  private fail (why: string): void {
    this.host.log?.warn(`nbd: closing a connection: ${why}`)
    this.stop()
    this.socket.destroy()
  }

  private onData (chunk: Buffer): void {
    if (this.stopped) return
    try {
      if (this.handshaking) {
        this.hs = this.hs.length === 0 ? chunk : Buffer.concat([this.hs, chunk])
        this.negotiate()
      } else if (this.blocked) {
        this.held.push(chunk)
      } else {
        this.parse(chunk)
      }
    } catch (err) {
      // Whatever a client sends costs it its connection, never the process.
      this.fail(`unexpected ${String(err)}`)
    }
  }

  // ── handshake ───────────────────────────────────────────────────────────────────────────────

  private negotiate (): void {
    while (this.handshaking && !this.stopped) {
      if (this.clientFlags < 0) {
        if (this.hs.length < 4) return
        const flags = this.hs.readUInt32BE(0)
        this.hs = this.hs.subarray(4)
        if ((flags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)) !== 0) { this.fail(`unknown client flags ${flags}`); return }
        this.clientFlags = flags
        this.noZeroes = (flags & FLAG_NO_ZEROES) !== 0
        continue
      }
      if (this.hs.length < 16) return
      if (!this.hs.subarray(0, 8).equals(IHAVEOPT)) { this.fail('bad option magic'); return }
      const option = this.hs.readUInt32BE(8)
      const length = this.hs.readUInt32BE(12)
      if (length > MAX_OPTION) { this.fail(`option ${option} carries ${length} bytes`); return }
      if (this.hs.length < 16 + length) return
      const data = this.hs.subarray(16, 16 + length)
      this.hs = this.hs.subarray(16 + length)
      this.option(option, data)
    }
    if (!this.handshaking && !this.stopped && this.hs.length > 0) {
      const rest = this.hs
      this.hs = Buffer.alloc(0)
      this.parse(rest)
    }
  }

  private option (option: number, data: Buffer): void {
    switch (option) {
      case OPT_EXPORT_NAME: {
        const e = this.host.exports.get(data.toString('utf8'))
        if (e === undefined) { this.fail(`no export '${data.toString('utf8')}'`); return }
        const b = Buffer.alloc(this.noZeroes ? 10 : 134)
        putU64(b, 0, e.device.size)
        b.writeUInt16BE(transmissionFlags(e), 8)
        this.socket.write(b)
        this.begin(e)
        return
      }
      case OPT_ABORT:
        this.optionReply(option, REP_ACK)
        this.stop()
        this.socket.end()
        return
      case OPT_LIST:
        if (data.length !== 0) { this.optionReply(option, REP_ERR_INVALID, Buffer.from('NBD_OPT_LIST takes no data')); return }
        for (const e of this.host.exports.values()) {
          const name = Buffer.from(e.name)
          const b = Buffer.alloc(4 + name.length)
          b.writeUInt32BE(name.length, 0)
          name.copy(b, 4)
          this.optionReply(option, REP_SERVER, Buffer.concat([b, Buffer.from(e.description)]))
        }
        this.optionReply(option, REP_ACK)
        return
      case OPT_INFO:
      case OPT_GO:
        this.infoOrGo(option, data)
        return
      default:
        this.optionReply(option, REP_ERR_UNSUP, Buffer.from(`option ${option} is not supported`))
    }
  }

  private infoOrGo (option: number, data: Buffer): void {
    const nameLength = data.length >= 6 ? data.readUInt32BE(0) : -1
    const count = nameLength >= 0 && nameLength <= data.length - 6 ? data.readUInt16BE(4 + nameLength) : -1
    if (count < 0 || data.length !== 6 + nameLength + 2 * count) {
      this.optionReply(option, REP_ERR_INVALID, Buffer.from('malformed NBD_OPT_INFO/NBD_OPT_GO'))
      return
    }
    const name = data.toString('utf8', 4, 4 + nameLength)
    const e = this.host.exports.get(name)
    if (e === undefined) {
      this.optionReply(option, REP_ERR_UNKNOWN, Buffer.from(`export '${name}' not present`))
      return
    }
    const wanted = new Set<number>()
    for (let i = 0; i < count; i++) wanted.add(data.readUInt16BE(6 + nameLength + 2 * i))
    const exp = Buffer.alloc(12)
    exp.writeUInt16BE(INFO_EXPORT, 0)
    putU64(exp, 2, e.device.size)
    exp.writeUInt16BE(transmissionFlags(e), 10)
    this.optionReply(option, REP_INFO, exp)
    if (wanted.has(INFO_BLOCK_SIZE)) {
      const b = Buffer.alloc(14)
      b.writeUInt16BE(INFO_BLOCK_SIZE, 0)
      b.writeUInt32BE(BLOCK, 2)
      b.writeUInt32BE(BLOCK, 6)
      b.writeUInt32BE(MAX_PAYLOAD, 10)
      this.optionReply(option, REP_INFO, b)
    }
    for (const [info, text] of [[INFO_NAME, e.name], [INFO_DESCRIPTION, e.description]] as const) {
      if (!wanted.has(info) || text === '') continue
      const s = Buffer.from(text)
      const b = Buffer.alloc(2 + s.length)
      b.writeUInt16BE(info, 0)
      s.copy(b, 2)
      this.optionReply(option, REP_INFO, b)
    }
    this.optionReply(option, REP_ACK)
    if (option === OPT_GO) this.begin(e)
  }

  private optionReply (option: number, type: number, data: Buffer = Buffer.alloc(0)): void {
    const b = Buffer.alloc(20)
    OPTION_REPLY_MAGIC.copy(b, 0)
    b.writeUInt32BE(option, 8)
    b.writeUInt32BE(type, 12)
    b.writeUInt32BE(data.length, 16)
    this.socket.write(data.length === 0 ? b : Buffer.concat([b, data]))
  }

  private begin (e: Export): void {
    if (this.host.exports.get(e.name) !== e) { this.fail(`export '${e.name}' went away`); return }
    this.handshaking = false
    this.export = e
    e.connections.add(this)
  }

  // ── transmission ────────────────────────────────────────────────────────────────────────────

  /** Parses requests from `chunk`, keeping what does not make a whole header or payload yet. */
  private parse (chunk: Buffer): void {
    let pos = 0
    const n = chunk.length
    while (pos < n && !this.stopped) {
      const p = this.pending
      if (p !== undefined) {
        const take = Math.min(n - pos, p.data.length - p.filled)
        chunk.copy(p.data, p.filled, pos, pos + take)
        p.filled += take
        pos += take
        if (p.filled === p.data.length) {
          this.pending = undefined
          this.dispatch(p.hdr, CMD_WRITE, p.flags, p.offset, p.data.length, p.data, p.data.length)
        }
      } else {
        let b: Buffer
        let at: number
        if (this.partial !== undefined) {
          const need = HEADER - this.partial.length
          if (n - pos < need) { this.partial = Buffer.concat([this.partial, chunk.subarray(pos)]); return }
          b = Buffer.concat([this.partial, chunk.subarray(pos, pos + need)])
          at = 0
          pos += need
          this.partial = undefined
        } else if (n - pos < HEADER) {
          this.partial = Buffer.from(chunk.subarray(pos))
          return
        } else {
          b = chunk
          at = pos
          pos += HEADER
        }
        if (b.readUInt32BE(at) !== REQUEST_MAGIC) { this.fail('bad request magic'); return }
        const flags = b.readUInt16BE(at + 4)
        const type = b.readUInt16BE(at + 6)
        const offset = u64(b, at + 16)
        const length = b.readUInt32BE(at + 24)
        if (type === CMD_DISC) { this.disconnect(); return }
        const hdr = Buffer.allocUnsafe(16)
        hdr.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0)
        b.copy(hdr, 8, at + 8, at + 16)
        if (type === CMD_WRITE) {
          if (length > MAX_PAYLOAD) { this.fail(`a write of ${length} bytes`); return }
          if (n - pos >= length) {
            const data = chunk.subarray(pos, pos + length)
            pos += length
            this.dispatch(hdr, type, flags, offset, length, data, length)
          } else {
            // The payload is copied once, into its own buffer, as its chunks arrive.
            const data = Buffer.allocUnsafe(length)
            chunk.copy(data, 0, pos, n)
            this.pending = { hdr, flags, offset, data, filled: n - pos }
            pos = n
          }
        } else {
          this.dispatch(hdr, type, flags, offset, length, undefined, type === CMD_READ && length <= MAX_PAYLOAD ? length : 0)
        }
      }
      // Reading stops only between requests: a payload being assembled is always read to its end.
      if (this.pending === undefined && this.overLimit(1)) {
        this.blocked = true
        this.socket.pause()
        if (pos < n) this.held.unshift(chunk.subarray(pos))
        return
      }
    }
  }

  /** Past the limits (`share` 1), reading stops; it resumes below half of them (`share` 0.5). */
  private overLimit (share: number): boolean {
    return this.inFlightBytes > this.host.maxInFlightBytes * share || this.inFlight > MAX_IN_FLIGHT_REQUESTS * share ||
      this.socket.writableLength > MAX_QUEUED_REPLY_BYTES * share
  }

  private maybeResume (): void {
    if (!this.blocked || this.stopped || this.overLimit(0.5)) return
    this.blocked = false
    while (this.held.length > 0 && !this.blocked && !this.stopped) this.parse(this.held.shift() as Buffer)
    if (!this.blocked && !this.stopped) this.socket.resume()
  }

  private disconnect (): void {
    this.stop()
    void this.drained().then(() => this.socket.end())
  }

  /**
   * Starts one request; `bytes` (its payload or read length) count against the in-flight limit
   * until it is answered. (The one payload being assembled is not counted: it is at most 32 MiB.)
   */
  private dispatch (hdr: Buffer, type: number, flags: number, offset: number, length: number, data: Buffer | undefined, bytes: number): void {
    this.inFlight++
    this.inFlightBytes += HEADER + bytes
    void this.execute(hdr, type, flags, offset, length, data, bytes)
  }

  private async execute (hdr: Buffer, type: number, flags: number, offset: number, length: number, data: Buffer | undefined, bytes: number): Promise<void> {
    const e = this.export as Export
    try {
      const out = await this.perform(e, type, flags, offset, length, data)
      this.reply(hdr, 0, out)
    } catch (err) {
      const errno = errnoOf(err)
      if (!(err instanceof NbdError)) this.host.log?.warn({ err, export: e.name, type, offset, length }, 'nbd: device error')
      this.reply(hdr, errno, undefined)
    } finally {
      this.inFlight--
      this.inFlightBytes -= HEADER + bytes
      if (this.inFlight === 0) this.wakeIdle()
      this.maybeResume()
    }
  }

  private async perform (e: Export, type: number, flags: number, offset: number, length: number, data: Buffer | undefined): Promise<Uint8Array | undefined> {
    const size = e.device.size
    const fua = (flags & CMD_FLAG_FUA) !== 0
    const allowed = type === CMD_WRITE_ZEROES ? CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO : CMD_FLAG_FUA
    if ((flags & ~allowed) !== 0) throw new NbdError(EINVAL, `flags ${flags} on command ${type}`)
    const inRange = offset <= size && length <= size - offset
    switch (type) {
      case CMD_READ:
        if (length > MAX_PAYLOAD) throw new NbdError(EINVAL, `a read of ${length} bytes`)
        if (!inRange) throw new NbdError(EINVAL, 'read past the end')
        return length === 0 ? undefined : await readRange(e.device, offset, length)
      case CMD_WRITE:
        if (e.readOnly) throw new NbdError(EPERM, 'read-only export')
        if (!inRange) throw new NbdError(ENOSPC, 'write past the end')
        if (length > 0) await writeRange(e.device, e.order, offset, data as Buffer, fua)
        return undefined
      case CMD_WRITE_ZEROES:
        if (e.readOnly) throw new NbdError(EPERM, 'read-only export')
        if (!inRange) throw new NbdError(ENOSPC, 'zeroing past the end')
        if (length > 0) await zeroRange(e.device, e.order, offset, length, fua)
        return undefined
      case CMD_TRIM:
        if (e.readOnly) throw new NbdError(EPERM, 'read-only export')
        if (!inRange) throw new NbdError(EINVAL, 'trim past the end')
        await trimRange(e.device, e.order, offset, length, fua)
        return undefined
      case CMD_FLUSH:
        if (offset !== 0 || length !== 0) throw new NbdError(EINVAL, 'flush with an offset or length')
        await e.device.flush()
        return undefined
      default:
        throw new NbdError(EINVAL, `unknown command ${type}`)
    }
  }

  /**
   * Sends one reply in one socket write: a small read's data is copied behind its header, a large
   * one goes out with it as one writev. (While a write is pending in the socket, Node queues later
   * replies and sends them together.)
   */
  private reply (hdr: Buffer, errno: number, data: Uint8Array | undefined): void {
    if (!this.socket.writable) return
    hdr.writeUInt32BE(errno, 4)
    if (data === undefined) {
      this.socket.write(hdr)
    } else if (data.length <= COPY_REPLY_BYTES) {
      const b = Buffer.allocUnsafe(16 + data.length)
      hdr.copy(b, 0)
      b.set(data, 16)
      this.socket.write(b)
    } else {
      this.socket.cork()
      this.socket.write(hdr)
      this.socket.write(data)
      this.socket.uncork()
    }
  }
}

function transmissionFlags (e: Export): number {
  const base = TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA | TF_CAN_MULTI_CONN
  return e.readOnly ? base | TF_READ_ONLY : base | TF_SEND_TRIM | TF_SEND_WRITE_ZEROES | TF_SEND_FAST_ZERO
}
