// The NBD server driven by QEMU's own clients (qemu-io, qemu-img, qemu-nbd --list) as child
// processes, and by a raw socket client for what QEMU never sends (unaligned requests, bad headers,
// requests past the end). The device is in memory (test/ebs/memory-device.ts).
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NbdServer, type BlockDevice, type ExportOptions } from '../../plugins/ebs/nbd.js'
import { MemoryDevice } from './memory-device.js'

const KiB = 1024
const MiB = 1024 * KiB

interface Served { sock: string, dir: string, server: NbdServer, url: (name: string) => string }

/** A server on a fresh unix socket with `exports`; everything is closed and removed after the test. */
async function serve (t: Test, exports: Record<string, [BlockDevice, ExportOptions?]>): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'hive-nbd-'))
  const sock = join(dir, 'nbd.sock')
  const server = new NbdServer()
  for (const [name, [device, opts]] of Object.entries(exports)) server.export(name, device, opts)
  await server.listen({ path: sock })
  t.teardown(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { sock, dir, server, url: name => `nbd+unix:///${name}?socket=${sock}` }
}

/** Runs a QEMU tool to its end without blocking this process (the server lives here). */
async function run (cmd: string, args: string[]): Promise<{ code: number, out: string }> {
  return await new Promise(resolve => {
    execFile(cmd, args, { maxBuffer: 64 * MiB }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, out: stdout + stderr })
    })
  })
}

async function qemuIo (s: Served, name: string, cmds: string[], readOnly = false): Promise<{ code: number, out: string }> {
  return await run('qemu-io', [...(readOnly ? ['-r'] : []), '-f', 'raw', s.url(name), ...cmds.flatMap(c => ['-c', c])])
}

const filled = (size: number, byte: number): Buffer => Buffer.alloc(size, byte)

// ── a raw NBD client ────────────────────────────────────────────────────────────────────────────

const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 }
const E = { OK: 0, EPERM: 1, EIO: 5, EINVAL: 22, ENOSPC: 28 }

/** Speaks the protocol byte by byte, so tests can send what QEMU never would. */
class RawClient {
  private buf = Buffer.alloc(0)
  private waiters: Array<() => void> = []
  private ended = false
  private handle = 0n
  private readonly pending = new Map<bigint, { length: number, resolve: (r: { error: number, data?: Buffer }) => void }>()
  size = 0
  flags = 0

  private constructor (readonly socket: Socket) {
    socket.on('data', d => { this.buf = Buffer.concat([this.buf, d]); this.wake() })
    socket.on('close', () => { this.ended = true; this.wake() })
    socket.on('error', () => {})
  }

  static async open (sock: string | number): Promise<RawClient> {
    const socket = typeof sock === 'string' ? connect(sock) : connect(sock, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const c = new RawClient(socket)
    const hello = await c.take(18)
    if (hello.toString('latin1', 0, 16) !== 'NBDMAGICIHAVEOPT') throw new Error('not an NBD server')
    socket.write(u32(3)) // C_FIXED_NEWSTYLE | C_NO_ZEROES
    return c
  }

  /** Connects with NBD_OPT_GO; `infos` are the NBD_INFO requests (QEMU asks for BLOCK_SIZE, 3). */
  static async go (sock: string, name: string, infos: number[] = []): Promise<RawClient> {
    const c = await RawClient.open(sock)
    const n = Buffer.from(name)
    const replies = await c.option(7, Buffer.concat([u32(n.length), n, u16(infos.length), ...infos.map(u16)]))
    const last = replies[replies.length - 1]
    if (last.type !== 1) throw new Error(`GO: reply ${last.type.toString(16)} ${last.data.toString()}`)
    const exp = replies.find(r => r.type === 3 && r.data.readUInt16BE(0) === 0)
    if (exp === undefined) throw new Error('no NBD_INFO_EXPORT')
    c.size = Number(exp.data.readBigUInt64BE(2))
    c.flags = exp.data.readUInt16BE(10)
    c.pump()
    return c
  }

  async option (option: number, data: Buffer): Promise<Array<{ type: number, data: Buffer }>> {
    this.socket.write(Buffer.concat([Buffer.from('IHAVEOPT'), u32(option), u32(data.length), data]))
    const out = []
    for (;;) {
      const h = await this.take(20)
      const r = { type: h.readUInt32BE(12), data: await this.take(h.readUInt32BE(16)) }
      out.push(r)
      if (r.type !== 2 && r.type !== 3) return out
    }
  }

  /** Resolves once the server has closed the connection. */
  async closed (): Promise<void> {
    while (!this.ended) await new Promise<void>(resolve => this.waiters.push(resolve))
  }

  /** Sends one request; resolves with its reply whenever that comes (replies may be out of order). */
  async call (type: number, offset: number, length: number, opts: { flags?: number, data?: Buffer } = {}): Promise<{ error: number, data?: Buffer }> {
    const handle = ++this.handle
    const done = new Promise<{ error: number, data?: Buffer }>(resolve => this.pending.set(handle, { length: type === CMD.READ ? length : 0, resolve }))
    this.socket.write(request(type, handle, offset, length, opts.flags ?? 0, opts.data))
    return await done
  }

  /** NBD_CMD_DISC (no reply); resolves once the server has closed. */
  async disconnect (): Promise<void> {
    this.socket.write(request(CMD.DISC, ++this.handle, 0, 0, 0))
    await this.closed()
  }

  async read (offset: number, length: number): Promise<Buffer> {
    const r = await this.call(CMD.READ, offset, length)
    if (r.error !== 0) throw new Error(`read ${offset}+${length}: error ${r.error}`)
    return r.data as Buffer
  }

  async write (offset: number, data: Buffer): Promise<number> {
    return (await this.call(CMD.WRITE, offset, data.length, { data })).error
  }

  end (): void {
    this.socket.destroy()
  }

  /** Connects with the old NBD_OPT_EXPORT_NAME, which has no error reply. */
  static async exportName (sock: string | number, name: string): Promise<RawClient> {
    const c = await RawClient.open(sock)
    c.socket.write(Buffer.concat([Buffer.from('IHAVEOPT'), u32(1), u32(Buffer.byteLength(name)), Buffer.from(name)]))
    const b = await c.take(10)
    c.size = Number(b.readBigUInt64BE(0))
    c.flags = b.readUInt16BE(8)
    c.pump()
    return c
  }

  /** Matches replies to requests; a bad reply, or the close, fails what is still pending (error -1). */
  private pump (): void {
    void (async () => {
      for (;;) {
        const h = await this.take(16)
        if (h.readUInt32BE(0) !== 0x67446698) throw new Error('bad reply magic')
        const handle = h.readBigUInt64BE(8)
        const p = this.pending.get(handle)
        if (p === undefined) throw new Error(`reply to unknown handle ${handle}`)
        this.pending.delete(handle)
        const error = h.readUInt32BE(4)
        p.resolve(error === 0 && p.length > 0 ? { error, data: await this.take(p.length) } : { error })
      }
    })().catch(() => {
      for (const p of this.pending.values()) p.resolve({ error: -1 })
      this.pending.clear()
    })
  }

  async take (n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection closed (wanted ${n} bytes, have ${this.buf.length})`)
      await new Promise<void>(resolve => this.waiters.push(resolve))
    }
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  private wake (): void {
    for (const w of this.waiters.splice(0)) w()
  }
}

function request (type: number, handle: bigint, offset: number, length: number, flags: number, data?: Buffer): Buffer {
  const h = Buffer.alloc(28)
  h.writeUInt32BE(0x25609513, 0)
  h.writeUInt16BE(flags, 4)
  h.writeUInt16BE(type, 6)
  h.writeBigUInt64BE(handle, 8)
  h.writeBigUInt64BE(BigInt(offset), 16)
  h.writeUInt32BE(length, 24)
  return data === undefined ? h : Buffer.concat([h, data])
}

function u32 (v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b }
function u16 (v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b }

// ── through QEMU ────────────────────────────────────────────────────────────────────────────────

t.test('nbd - patterns written at many offsets by qemu-io read back, and the device only sees 4 KiB blocks', async t => {
  const dev = new MemoryDevice(64 * MiB)
  const s = await serve(t, { vol: [dev] })
  const spots: Array<[number, number]> = [[0, 4 * KiB], [4 * KiB, 64 * KiB], [1 * MiB, 1 * MiB], [7 * MiB + 12 * KiB, 32 * KiB],
    [33 * MiB, 256 * KiB], [64 * MiB - 4 * KiB, 4 * KiB], [20 * MiB + 512, 1536], [40 * MiB + 100, 9000]]
  const writes = spots.map(([off, len], i) => `write -P ${0x10 + i} ${off} ${len}`)
  const reads = spots.map(([off, len], i) => `read -P ${0x10 + i} ${off} ${len}`)
  const r = await qemuIo(s, 'vol', [...writes, ...reads, 'read -P 0 8M 1M'])
  t.equal(r.code, 0, r.out)
  t.notMatch(r.out, /verification failed|error/i)
  for (const [i, [off, len]] of spots.entries()) t.ok(dev.bytes.subarray(off, off + len).equals(filled(len, 0x10 + i)), `bytes at ${off}`)
  t.equal(dev.misaligned, 0)
})

t.test('nbd - a sub-block write from qemu-io keeps the rest of its block', async t => {
  const dev = new MemoryDevice(8 * MiB)
  const s = await serve(t, { vol: [dev] })
  const r = await qemuIo(s, 'vol', ['write -P 0x11 0 64k', 'write -P 0x22 100 1000', 'write -P 0x33 8000 200',
    'read -P 0x11 0 100', 'read -P 0x22 100 1000', 'read -P 0x11 1100 6900', 'read -P 0x33 8000 200', 'read -P 0x11 8200 57336'])
  t.equal(r.code, 0, r.out)
  t.notMatch(r.out, /verification failed/)
  t.equal(dev.misaligned, 0)
})

t.test('nbd - write-zeroes and discard read back as zeros; neighbours keep their data', async t => {
  const dev = new MemoryDevice(8 * MiB)
  const s = await serve(t, { vol: [dev] })
  const r = await qemuIo(s, 'vol', ['write -P 0xab 0 1M', 'write -z 4k 8k', 'write -z -u 64k 64k', 'discard 128k 64k', 'write -z 300k 1000',
    'read -P 0xab 0 4k', 'read -P 0 4k 8k', 'read -P 0xab 12k 52k', 'read -P 0 64k 128k', 'read -P 0xab 192k 108k',
    'read -P 0 300k 1000', 'read -P 0xab 308200 200'])
  t.equal(r.code, 0, r.out)
  t.notMatch(r.out, /verification failed/)
  t.ok(dev.trims > 0, 'zeroing is the device trim')
  t.equal(dev.misaligned, 0)
})

t.test('nbd - FUA writes and flushes reach the device', async t => {
  const dev = new MemoryDevice(4 * MiB)
  const s = await serve(t, { vol: [dev] })
  const r = await qemuIo(s, 'vol', ['write -f -P 1 0 4k', 'write -P 2 4k 4k', 'flush'])
  t.equal(r.code, 0, r.out)
  t.ok(dev.fuaWrites >= 1, `${dev.fuaWrites} FUA writes`)
  t.ok(dev.flushes >= 1, `${dev.flushes} flushes`)
})

t.test('nbd - qemu-nbd --list shows every export, its size, description and read-only flag', async t => {
  const s = await serve(t, { 'vol-1': [new MemoryDevice(4 * MiB), { description: 'first volume' }], 'vol-2': [new MemoryDevice(8 * MiB), { readOnly: true }] })
  const r = await run('qemu-nbd', ['--list', '-k', s.sock])
  t.equal(r.code, 0, r.out)
  t.match(r.out, /exports available: 2/)
  t.match(r.out, /export: 'vol-1'\s+description: first volume\s+size:\s+4194304/)
  t.match(r.out, /export: 'vol-2'\s+size:\s+8388608\s+flags: \S+ \( readonly/)
  t.match(r.out, /min block: 4096/)
})

t.test('nbd - an unknown export name is refused with its name; the server goes on serving', async t => {
  const s = await serve(t, { vol: [new MemoryDevice(4 * MiB)] })
  const bad = await qemuIo(s, 'nope', ['read 0 4k'])
  t.not(bad.code, 0)
  t.match(bad.out, /export 'nope' not present/)
  const old = await RawClient.open(s.sock)
  old.socket.write(Buffer.concat([Buffer.from('IHAVEOPT'), u32(1), u32(4), Buffer.from('nope')]))
  await old.closed()
  t.pass('NBD_OPT_EXPORT_NAME of an unknown name: the connection is closed')
  const good = await qemuIo(s, 'vol', ['write -P 5 0 4k', 'read -P 5 0 4k'])
  t.equal(good.code, 0, good.out)
})

t.test('nbd - a read-only export serves reads and refuses writes (EPERM)', async t => {
  const dev = new MemoryDevice(4 * MiB)
  dev.bytes.fill(7)
  const s = await serve(t, { ro: [dev, { readOnly: true }] })
  const r = await qemuIo(s, 'ro', ['read -P 7 0 64k'], true)
  t.equal(r.code, 0, r.out)
  const w = await qemuIo(s, 'ro', ['write 0 4k'])
  t.not(w.code, 0, 'qemu-io cannot open it for writing')
  const c = await RawClient.go(s.sock, 'ro')
  t.ok((c.flags & 2) !== 0, 'NBD_FLAG_READ_ONLY')
  t.equal(await c.write(0, filled(4096, 1)), E.EPERM)
  t.equal((await c.call(CMD.TRIM, 0, 4096)).error, E.EPERM)
  t.equal((await c.call(CMD.WRITE_ZEROES, 0, 4096)).error, E.EPERM)
  t.ok((await c.read(0, 4096)).equals(filled(4096, 7)))
  t.ok(dev.bytes.equals(filled(4 * MiB, 7)), 'nothing changed')
  c.end()
})

t.test('nbd - qemu-img info, convert and compare over NBD', async t => {
  const s = await serve(t, { vol: [new MemoryDevice(16 * MiB)] })
  const info = await run('qemu-img', ['info', s.url('vol')])
  t.equal(info.code, 0, info.out)
  t.match(info.out, /virtual size: 16 MiB \(16777216 bytes\)/)
  const src = join(s.dir, 'src.raw')
  const data = Buffer.alloc(16 * MiB)
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i)
  data.fill(0, 5 * MiB, 9 * MiB)
  writeFileSync(src, data)
  const conv = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, s.url('vol')])
  t.equal(conv.code, 0, conv.out)
  const cmp = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, s.url('vol')])
  t.equal(cmp.code, 0, cmp.out)
  t.match(cmp.out, /Images are identical/)
})

t.test('nbd - qemu-img bench at queue depth 32 completes writes and reads', async t => {
  const dev = new MemoryDevice(32 * MiB)
  const s = await serve(t, { vol: [dev] })
  const w = await run('qemu-img', ['bench', '-f', 'raw', '-w', '--pattern=90', '-c', '4000', '-d', '32', '-s', '4k', '-S', String(1013 * 4096), s.url('vol')])
  t.equal(w.code, 0, w.out)
  const r = await run('qemu-img', ['bench', '-f', 'raw', '-c', '4000', '-d', '32', '-s', '4k', '-S', String(1013 * 4096), s.url('vol')])
  t.equal(r.code, 0, r.out)
  t.equal(dev.bytes.subarray(1013 * 4096, 1014 * 4096).every(b => b === 90), true, 'a strided block holds the pattern')
})

t.test('nbd - concurrent qemu-io writers at queue depth 32: every 4 KiB block is one writer\'s whole', async t => {
  const dev = new MemoryDevice(4 * MiB, true)
  const s = await serve(t, { vol: [dev] })
  // Two writers cover the same first MiB (64 KiB writes, all in flight at once); a third writes the next.
  const writer = (pattern: number, base: number, passes: number): string[] => [
    ...Array.from({ length: 16 * passes }, (_, i) => `aio_write -q -P ${pattern} ${base + (i % 16) * 64 * KiB} 64k`), 'aio_flush']
  const results = await Promise.all([qemuIo(s, 'vol', writer(0xaa, 0, 24)), qemuIo(s, 'vol', writer(0xbb, 0, 24)), qemuIo(s, 'vol', writer(0xcc, MiB, 1))])
  for (const r of results) t.equal(r.code, 0, r.out)
  let torn = 0
  for (let b = 0; b < 256; b++) {
    const block = dev.bytes.subarray(b * 4096, (b + 1) * 4096)
    if (!block.equals(filled(4096, 0xaa)) && !block.equals(filled(4096, 0xbb))) torn++
  }
  t.equal(torn, 0, 'no block mixes the two writers')
  t.ok(dev.bytes.subarray(MiB, 2 * MiB).equals(filled(MiB, 0xcc)), 'the third writer\'s range is whole')
  t.ok(dev.bytes.subarray(2 * MiB).equals(filled(2 * MiB, 0)), 'nothing else was touched')
})

// ── through a raw client ────────────────────────────────────────────────────────────────────────

t.test('nbd - a client that asks no block size is served at byte granularity (server read-modify-write)', async t => {
  const dev = new MemoryDevice(1 * MiB)
  const s = await serve(t, { vol: [dev] })
  const c = await RawClient.go(s.sock, 'vol')
  const model = Buffer.alloc(1 * MiB)
  const edits: Array<[number, number]> = [[4095, 1], [4090, 10], [3000, 5000], [0, 1], [12289, 20000], [1 * MiB - 7, 7], [65536, 4096], [70000, 300]]
  for (const [i, [off, len]] of edits.entries()) {
    const d = Buffer.alloc(len)
    for (let j = 0; j < len; j++) d[j] = (i * 37 + j) & 255
    t.equal(await c.write(off, d), E.OK, `write ${off}+${len}`)
    d.copy(model, off)
  }
  t.ok(dev.bytes.equals(model), 'the device holds exactly the bytes written')
  for (const [off, len] of [[1, 1], [4000, 200], [3001, 9000], [1 * MiB - 3, 3], [12288, 4096], [0, 1 * MiB]]) {
    t.ok((await c.read(off, len)).equals(model.subarray(off, off + len)), `read ${off}+${len}`)
  }
  t.equal((await c.call(CMD.WRITE_ZEROES, 5000, 10000)).error, E.OK)
  model.fill(0, 5000, 15000)
  t.equal((await c.call(CMD.WRITE_ZEROES, 100, 50)).error, E.OK)
  model.fill(0, 100, 150)
  t.ok(dev.bytes.equals(model), 'unaligned write-zeroes zero exactly their bytes')
  t.equal((await c.call(CMD.TRIM, 20000, 20000)).error, E.OK)
  model.fill(0, 20480, 40960)
  t.ok(dev.bytes.equals(model), 'trim discards only the whole blocks inside it')
  t.equal((await c.call(CMD.WRITE, 0, 0)).error, E.OK, 'a zero-length write succeeds')
  t.equal(dev.misaligned, 0, 'the device still only saw whole blocks')
  c.end()
})

t.test('nbd - concurrent unaligned writes into the same blocks from two connections lose no bytes', async t => {
  const dev = new MemoryDevice(64 * KiB, true)
  const s = await serve(t, { vol: [dev] })
  const [a, b] = await Promise.all([RawClient.go(s.sock, 'vol'), RawClient.go(s.sock, 'vol')])
  // 16 KiB cut into 48-byte slots: even slots from a, odd from b, all in flight at once, plus
  // whole-block writes by b over the next 16 KiB racing a's patches there.
  const slot = 48
  const calls: Array<Promise<number>> = []
  for (let i = 0; i * slot < 16 * KiB; i++) calls.push((i % 2 === 0 ? a : b).write(i * slot, filled(slot, 1 + (i % 250))))
  for (let i = 0; i < 4; i++) calls.push(b.write(16 * KiB + i * 4096, filled(4096, 0xee)))
  const errors = await Promise.all(calls)
  t.same(errors.filter(e => e !== 0), [])
  let lost = 0
  for (let i = 0; i * slot < 16 * KiB; i++) {
    const end = Math.min((i + 1) * slot, 16 * KiB)
    if (!dev.bytes.subarray(i * slot, end).equals(filled(end - i * slot, 1 + (i % 250)))) lost++
  }
  t.equal(lost, 0, 'every slot holds its writer\'s bytes')
  t.equal(dev.misaligned, 0)
  a.end()
  b.end()
})

t.test('nbd - requests past the end or with bad flags are errors, not disconnects', async t => {
  const dev = new MemoryDevice(1 * MiB)
  const s = await serve(t, { vol: [dev] })
  const c = await RawClient.go(s.sock, 'vol', [3])
  t.equal(c.size, 1 * MiB)
  t.equal((await c.call(CMD.READ, 1 * MiB, 4096)).error, E.EINVAL, 'read past the end → EINVAL')
  t.equal((await c.call(CMD.READ, 1 * MiB - 4096, 8192)).error, E.EINVAL, 'read across the end → EINVAL')
  t.equal(await c.write(1 * MiB, filled(4096, 1)), E.ENOSPC, 'write past the end → ENOSPC')
  t.equal((await c.call(CMD.WRITE_ZEROES, 1 * MiB - 4096, 8192)).error, E.ENOSPC, 'zeroing across the end → ENOSPC')
  t.equal((await c.call(CMD.TRIM, 2 * MiB, 4096)).error, E.EINVAL, 'trim past the end → EINVAL')
  t.equal((await c.call(CMD.READ, 2 ** 60, 4096)).error, E.EINVAL, 'an offset beyond 2^53 → EINVAL')
  t.equal((await c.call(CMD.READ, 0, 33 * MiB)).error, E.EINVAL, 'a read over 32 MiB → EINVAL')
  t.equal((await c.call(CMD.READ, 0, 4096, { flags: 2 })).error, E.EINVAL, 'NO_HOLE on a read → EINVAL')
  t.equal((await c.call(CMD.FLUSH, 4096, 0)).error, E.EINVAL, 'a flush with an offset → EINVAL')
  t.equal((await c.call(9, 0, 0)).error, E.EINVAL, 'an unknown command → EINVAL')
  dev.failNext = true
  t.equal((await c.call(CMD.READ, 0, 4096)).error, E.EIO, 'a device failure → EIO')
  t.equal((await c.call(CMD.WRITE_ZEROES, 0, 4096, { flags: 1 | 2 | 16 })).error, E.OK, 'FUA, NO_HOLE and FAST_ZERO on write-zeroes are fine')
  t.ok((await c.read(0, 4096)).equals(filled(4096, 0)), 'and the connection still serves')
  const inFlight = c.read(4096, 4096)
  await c.disconnect()
  t.ok((await inFlight).equals(filled(4096, 0)), 'NBD_CMD_DISC: the request before it is answered, then the server closes')
})

t.test('nbd - a malformed request closes that connection only; the next client is served', async t => {
  const dev = new MemoryDevice(1 * MiB)
  const s = await serve(t, { vol: [dev] })
  const bad = await RawClient.go(s.sock, 'vol')
  bad.socket.write(Buffer.alloc(28, 0x5a))
  await bad.closed()
  t.pass('bad request magic: closed')

  const huge = await RawClient.go(s.sock, 'vol')
  huge.socket.write(request(CMD.WRITE, 1n, 0, 0xffffffff, 0))
  await huge.closed()
  t.pass('a 4 GiB write: closed')

  const opt = await RawClient.open(s.sock)
  opt.socket.write(Buffer.alloc(16, 0x41))
  await opt.closed()
  t.pass('bad option magic: closed')

  const flags = await RawClient.open(s.sock)
  flags.socket.end(u32(0xff))
  await flags.closed()
  t.pass('unknown client flags: closed')

  const unsup = await RawClient.open(s.sock)
  const [reply] = await unsup.option(8, Buffer.alloc(0))
  t.equal(reply.type, 0x80000001, 'NBD_OPT_STRUCTURED_REPLY → NBD_REP_ERR_UNSUP')
  const [abort] = await unsup.option(2, Buffer.alloc(0))
  t.equal(abort.type, 1, 'NBD_OPT_ABORT → ACK')
  await unsup.closed()

  const r = await qemuIo(s, 'vol', ['write -P 9 0 64k', 'read -P 9 0 64k'])
  t.equal(r.code, 0, r.out)
})

t.test('nbd - a client that does not read its replies stops being read, then catches up', async t => {
  const dev = new MemoryDevice(4 * MiB)
  dev.bytes.fill(3)
  const s = await serve(t, { vol: [dev] })
  const c = await RawClient.go(s.sock, 'vol')
  let reads = 0
  const read = dev.read.bind(dev)
  dev.read = async (offset, length) => { reads++; return await read(offset, length) }
  c.socket.pause()
  const n = 96
  const replies = Array.from({ length: n }, async (_, i) => await c.read((i % 4) * MiB, MiB))
  let last = -1
  while (reads !== last) { last = reads; await new Promise(resolve => setTimeout(resolve, 200)) }
  t.ok(reads < n, `${reads} of ${n} 1 MiB reads started while the client read nothing`)
  c.socket.resume()
  const got = await Promise.all(replies)
  t.ok(got.every(d => d.equals(filled(MiB, 3))), `all ${n} replies arrive whole`)
  c.end()
})

t.test('nbd - unexport resolves only once the device has no call of that export in flight', async t => {
  const dev = new MemoryDevice(4 * MiB, true)
  const s = await serve(t, { vol: [dev] })
  const c = await RawClient.go(s.sock, 'vol')
  // Replies are not awaited: the connection closes under them.
  for (let i = 0; i < 64; i++) void c.write(i * 64 * KiB, filled(64 * KiB, 1))
  while (dev.busy === 0) await new Promise(resolve => setImmediate(resolve))
  await s.server.unexport('vol')
  t.equal(dev.busy, 0, 'no device call in flight')
  await c.closed()
})

t.test('nbd - unexport closes its connections and the name is gone', async t => {
  const s = await serve(t, { vol: [new MemoryDevice(1 * MiB)], other: [new MemoryDevice(1 * MiB)] })
  const c = await RawClient.go(s.sock, 'vol')
  const o = await RawClient.go(s.sock, 'other')
  t.equal(await c.write(0, filled(4096, 1)), E.OK)
  await s.server.unexport('vol')
  await c.closed()
  t.pass('its connection is closed')
  await t.rejects(RawClient.go(s.sock, 'vol'), { message: /^GO: reply 80000006/ }, 'NBD_REP_ERR_UNKNOWN afterwards')
  t.ok((await o.read(0, 4096)).equals(filled(4096, 0)), 'other exports keep serving')
  o.end()
})

t.test('nbd - TCP as well as the unix socket, and the old NBD_OPT_EXPORT_NAME handshake', async t => {
  const dev = new MemoryDevice(2 * MiB)
  const dir = mkdtempSync(join(tmpdir(), 'hive-nbd-'))
  const server = new NbdServer()
  server.export('vol', dev)
  const { port } = await server.listen({ path: join(dir, 'nbd.sock'), host: '127.0.0.1', port: 0 })
  t.teardown(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  t.type(port, 'number')
  const r = await run('qemu-io', ['-f', 'raw', `nbd://127.0.0.1:${port as number}/vol`, '-c', 'write -P 4 1M 64k', '-c', 'read -P 4 1M 64k'])
  t.equal(r.code, 0, r.out)
  const c = await RawClient.exportName(port as number, 'vol')
  t.equal(c.size, 2 * MiB)
  t.equal(c.flags & 0x16d, 0x16d, 'HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM, SEND_WRITE_ZEROES, CAN_MULTI_CONN')
  t.ok((await c.read(1 * MiB, 4096)).equals(filled(4096, 4)))
  await c.disconnect()
})
