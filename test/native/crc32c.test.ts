import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { crc32c, crc32cBinding, crc32cKernel } from '../../core/native.js'

t.test('crc32c - RFC 3720 (iSCSI) B.4 known answers and the check value', async t => {
  t.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa)
  t.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43)
  t.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e)
  t.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c)
  const pdu = Buffer.from('01c00000000000000000000000000000' + '14000000' + '00000400' + '00000014' + '00000018' + '28000000' + '00000000' + '02000000' + '00000000', 'hex')
  t.equal(crc32c(pdu), 0xd9963a56)
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
})

t.test('crc32c - streaming over any split equals one shot', async t => {
  const data = randomBytes(5000)
  const whole = crc32c(data)
  for (const cut of [0, 1, 7, 64, 255, 4096, 4999, 5000]) {
    t.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole, `split at ${cut}`)
  }
  t.equal(crc32c(Buffer.alloc(0), 0x1234), 0x1234)
})

t.test('crc32c - every kernel this CPU runs agrees (forced with HIVE_CRC32C_KERNEL)', async t => {
  const probe = "import { crc32c, crc32cKernel } from './core/native.ts'; const b = Buffer.alloc(1 << 20); for (let i = 0; i < b.length; i++) b[i] = (i * 131) & 255; " +
    "const sums = [0, 1, 15, 64, 255, 4096, 65537, b.length].map(n => crc32c(b.subarray(3, 3 + Math.min(n, b.length - 3)))); console.log(JSON.stringify({ kernel: crc32cKernel(), sums }))"
  const run = (kernel?: string): { kernel: string, sums: number[] } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { encoding: 'utf8', env: { ...process.env, ...(kernel === undefined ? {} : { HIVE_CRC32C_KERNEL: kernel }) } })
    return JSON.parse(r.stdout) as { kernel: string, sums: number[] }
  }
  const best = run()
  t.equal(best.kernel, crc32cKernel())
  for (const kernel of ['scalar', 'sse42', 'vpclmul']) {
    const forced = run(kernel)
    t.same(forced.sums, best.sums, `${forced.kernel} (asked for ${kernel})`)
  }
})

// The scalar reference: one table lookup per byte, straight from the reflected polynomial; shares
// nothing with the native kernels.
const TABLE = Uint32Array.from({ length: 256 }, (_, b) => {
  let c = b
  for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1))
  return c >>> 0
})
function referenceCrc32c (data: Uint8Array, prev = 0): number {
  let c = ~prev
  for (let i = 0; i < data.length; i++) c = (c >>> 8) ^ TABLE[(c ^ data[i]) & 0xff]
  return ~c >>> 0
}

// Views of every shape the binding must unpack: Buffers and plain Uint8Arrays at odd byteOffsets
// into one large ArrayBuffer, lengths around every kernel threshold (80, 704, 11552-byte blocks),
// empty ones, small arrays whose bytes live on the V8 heap, a SharedArrayBuffer, a resizable one.
function views (): Uint8Array[] {
  const backing = new ArrayBuffer(3 * 11552 + 256)
  const bytes = new Uint8Array(backing)
  bytes.set(randomBytes(bytes.length))
  const out: Uint8Array[] = []
  const lengths = [0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 79, 80, 81, 96, 127, 128, 255, 256, 640, 703, 704, 705, 1000, 2048, 4095, 4096, 4097, 8191, 11552, 11553, 3 * 11552 + 5]
  for (const offset of [0, 1, 3, 7, 13, 33, 63, 64, 129]) {
    for (const length of lengths) {
      out.push(offset % 2 === 0 ? Buffer.from(backing, offset, length) : new Uint8Array(backing, offset, length))
    }
  }
  for (const n of [0, 1, 5, 16, 40, 64]) out.push(Uint8Array.from(randomBytes(n)))
  const shared = new Uint8Array(new SharedArrayBuffer(5000))
  shared.set(randomBytes(5000))
  out.push(shared.subarray(3, 4100))
  // A resizable ArrayBuffer (V8 never fast-calls with one: the slow callback's job).
  const Resizable = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer
  const resizable = new Uint8Array(new Resizable(4200, { maxByteLength: 8192 }))
  resizable.set(randomBytes(4200))
  out.push(resizable, new Uint8Array(resizable.buffer, 5, 4096))
  out.push(Buffer.alloc(0), new Uint8Array(0), Buffer.from('123456789'))
  return out
}

const PREVS = [0, 1, 0x7fffffff, 0x80000000, 0xe3069283, 0xffffffff]

t.test('crc32c - the binding matches the scalar reference for many lengths and offsets', async t => {
  let bad = 0
  for (const v of views()) {
    for (const prev of PREVS) if (crc32c(v, prev) !== referenceCrc32c(v, prev)) bad++
  }
  t.equal(bad, 0, 'every view, every prev')
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
})

t.test('crc32c - the same after warm-up, when TurboFan calls the Fast API path', async t => {
  const inputs = views()
  const expected = inputs.map((v, i) => referenceCrc32c(v, PREVS[i % PREVS.length]))
  const before = crc32cBinding().fastCalls
  // One hot loop, as a server's checksum path is: V8 optimizes it and switches to the fast call.
  const hot = (rounds: number): number => {
    let bad = 0
    for (let r = 0; r < rounds; r++) {
      const i = r % inputs.length
      if (crc32c(inputs[i], PREVS[i % PREVS.length]) !== expected[i]) bad++
    }
    return bad
  }
  t.equal(hot(100_000), 0, '100k calls over every view')
  const small = Buffer.from(randomBytes(4096))
  const want = referenceCrc32c(small)
  let bad = 0
  for (let i = 0; i < 100_000; i++) if (crc32c(small) !== want) bad++
  t.equal(bad, 0, '100k calls on one 4 KiB Buffer')
  const { binding, fastCalls } = crc32cBinding()
  t.comment(`binding ${binding}, ${fastCalls - before} of 200000 calls took the fast path`)
  // The declarations crc32c_fast.cc restates are V8 11.3's (Node 20): there the fast path must be
  // taken, which also shows V8 accepted them.
  if (process.versions.v8.startsWith('11.3.')) {
    t.equal(binding, 'fast-api')
    t.ok(fastCalls - before > 100_000, 'most calls went through the Fast API path')
  }
  const detached = new Uint8Array(16)
  structuredClone(detached.buffer, { transfer: [detached.buffer] })
  t.equal(crc32c(detached, 0x1234), 0x1234, 'a detached view is empty')
  t.throws(() => crc32c([1, 2, 3] as unknown as Uint8Array), TypeError)
  t.throws(() => crc32c(new Uint8ClampedArray(4) as unknown as Uint8Array), TypeError)
})

t.test('crc32c - the N-API fallback and the V8 slow callback give the same sums', async t => {
  // Views at odd offsets, copies small enough to live on the V8 heap, and a chained 4 KiB loop.
  const probe = "import { crc32c, crc32cBinding } from './core/native.ts'; const b = Buffer.alloc(70000); for (let i = 0; i < b.length; i++) b[i] = (i * 131 + (i >> 8)) & 255; " +
    'const sums = []; for (const off of [0, 1, 7, 33]) for (const n of [0, 1, 15, 64, 80, 704, 4096, 11553, 65537]) { sums.push(crc32c(b.subarray(off, off + n), n * 2654435761 >>> 0)); if (n <= 64) sums.push(crc32c(new Uint8Array(b.subarray(off, off + n)), 0xfedcba98)) } ' +
    'let x = 0; for (let i = 0; i < 50000; i++) x = crc32c(b.subarray(1, 4097), x); sums.push(x); console.log(JSON.stringify({ ...crc32cBinding(), sums }))'
  const run = (env: Record<string, string>, nodeArgs: string[] = []): { binding: string, fastCalls: number, sums: number[] } => {
    const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', '-e', probe], { encoding: 'utf8', env: { ...process.env, ...env } })
    return JSON.parse(r.stdout) as { binding: string, fastCalls: number, sums: number[] }
  }
  const napi = run({ HIVE_CRC32C_BINDING: 'napi' })
  const fast = run({})
  const slowOnly = run({}, ['--no-opt'])
  const scalar = run({ HIVE_CRC32C_KERNEL: 'scalar' })
  t.equal(napi.binding, 'napi')
  t.equal(fast.binding, crc32cBinding().binding)
  t.same(fast.sums, napi.sums, 'the fast binding, warmed up')
  t.equal(slowOnly.fastCalls, 0, 'without TurboFan every call takes the slow callback')
  t.same(slowOnly.sums, napi.sums, 'the slow callback')
  t.same(scalar.sums, napi.sums, 'the fast binding over the scalar kernel')
})
