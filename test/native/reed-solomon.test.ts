import t from 'tap'
import { randomBytes } from 'node:crypto'
import { ReedSolomon } from '../../core/native.js'

const KERNELS = ['scalar', 'ssse3', 'avx2', 'gfni-avx2', 'gfni-avx512']

/** The kernels this CPU runs: creating a codec on any other one fails. */
function supportedKernels (): string[] {
  return KERNELS.filter(k => { try { return new ReedSolomon(2, 1, k).kernel === k } catch { return false } })
}

function stripe (k: number, m: number, len: number): { data: Buffer[], parity: Buffer[] } {
  return { data: Array.from({ length: k }, () => randomBytes(len)), parity: Array.from({ length: m }, () => Buffer.alloc(len)) }
}

t.test('reed-solomon - round trips for many codes and lengths, losing m shards', async t => {
  const codes: Array<[number, number]> = [[1, 1], [2, 1], [3, 2], [4, 2], [6, 3], [8, 4], [10, 4], [17, 3], [200, 55]]
  for (const [k, m] of codes) {
    for (const len of [0, 1, 63, 64, 65, 4096 + 7]) {
      const rs = new ReedSolomon(k, m)
      const { data, parity } = stripe(k, m, len)
      rs.encodeSync(data, parity)
      const all = [...data, ...parity]
      const original = all.map(s => Buffer.from(s))
      const present = all.map((_, i) => i % Math.ceil((k + m) / m) !== 0 || i / Math.ceil((k + m) / m) >= m)
      all.forEach((s, i) => { if (!present[i]) s.fill(0xee) })
      rs.reconstructSync(all, present)
      t.ok(all.every((s, i) => s.equals(original[i])), `RS(${k},${m}) len ${len}`)
    }
  }
})

t.test('reed-solomon - 1 MiB+7 shards through the async path (off the event loop)', async t => {
  const rs = new ReedSolomon(8, 4)
  const { data, parity } = stripe(8, 4, (1 << 20) + 7)
  await rs.encode(data, parity)
  const all = [...data, ...parity]
  const original = all.map(s => Buffer.from(s))
  all[0].fill(0); all[7].fill(0); all[9].fill(0); all[11].fill(0)
  await rs.reconstruct(all, all.map((_, i) => ![0, 7, 9, 11].includes(i)))
  t.ok(all.every((s, i) => s.equals(original[i])))
  t.ok(rs.verify(all))
})

t.test('reed-solomon - every erasure pattern of small codes is rebuilt', async t => {
  for (const [k, m] of [[4, 2], [5, 3], [3, 3]] as Array<[number, number]>) {
    const rs = new ReedSolomon(k, m)
    const { data, parity } = stripe(k, m, 129)
    rs.encodeSync(data, parity)
    const original = [...data, ...parity]
    let patterns = 0
    for (let mask = 0; mask < 1 << (k + m); mask++) {
      const lost = [...Array(k + m).keys()].filter(i => (mask & (1 << i)) !== 0)
      if (lost.length > m) continue
      const shards = original.map((s, i) => lost.includes(i) ? Buffer.alloc(129) : Buffer.from(s))
      rs.reconstructSync(shards, shards.map((_, i) => !lost.includes(i)))
      if (!shards.every((s, i) => s.equals(original[i]))) t.fail(`RS(${k},${m}) losing ${lost.join(',')}`)
      patterns++
    }
    t.pass(`RS(${k},${m}): ${patterns} patterns`)
  }
})

t.test('reed-solomon - every kernel this CPU runs writes the scalar bytes', async t => {
  const kernels = supportedKernels()
  t.ok(kernels.includes('scalar'))
  for (const [k, m] of [[2, 1], [4, 2], [10, 4]] as Array<[number, number]>) {
    for (const len of [1, 31, 65, 1000, 65536 + 3]) {
      const { data } = stripe(k, m, len)
      // Unaligned views: the kernels may not assume aligned buffers.
      const unaligned = data.map(d => { const b = Buffer.alloc(len + 3); d.copy(b, 3); return b.subarray(3) })
      const outputs = kernels.map(kernel => {
        const parity = Array.from({ length: m }, () => Buffer.alloc(len))
        new ReedSolomon(k, m, kernel).encodeSync(unaligned, parity)
        const shards = [...unaligned.map(b => Buffer.from(b)), ...parity]
        shards[0].fill(0)
        new ReedSolomon(k, m, kernel).reconstructSync(shards, shards.map((_, i) => i !== 0))
        return Buffer.concat([...parity, shards[0]])
      })
      t.ok(outputs.every(o => o.equals(outputs[0])), `RS(${k},${m}) len ${len}: ${kernels.join(', ')}`)
    }
  }
})

t.test('reed-solomon - verify catches a flipped byte', async t => {
  const rs = new ReedSolomon(4, 2)
  const { data, parity } = stripe(4, 2, 1000)
  rs.encodeSync(data, parity)
  t.ok(rs.verify([...data, ...parity]))
  data[2][500] ^= 1
  t.notOk(rs.verify([...data, ...parity]))
})

t.test('reed-solomon - bad arguments are refused before the native call', async t => {
  t.throws(() => new ReedSolomon(0, 1), RangeError)
  t.throws(() => new ReedSolomon(250, 6), RangeError)
  const rs = new ReedSolomon(2, 1)
  t.throws(() => rs.encodeSync([Buffer.alloc(4)], [Buffer.alloc(4)]), RangeError)
  t.throws(() => rs.encodeSync([Buffer.alloc(4), Buffer.alloc(5)], [Buffer.alloc(4)]), RangeError)
  t.throws(() => rs.reconstructSync([Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4)], [false, false, true]), /2 shards missing/)
  t.throws(() => new ReedSolomon(2, 1, 'warp-drive'), RangeError)
})
