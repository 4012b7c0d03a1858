import t from 'tap'
import { cpSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readWal, Wal, type WalRecord } from '../../core/native.js'
import { payload, tempDir } from './helpers.js'

async function write (dir: string, sizes: number[], opts = {}): Promise<void> {
  const wal = Wal.open(dir, opts)
  await Promise.all(sizes.map(async (size, i) => await wal.append(i % 256, payload(i, size))))
  await wal.close()
}

const same = (got: WalRecord[], sizes: number[]): boolean =>
  got.every((r, i) => r.sequence === i + 1 && r.type === i % 256 && r.data.equals(payload(i, sizes[i])))

t.test('wal - records of 0 B to 4 MiB come back intact and in order', async t => {
  const dir = tempDir(t)
  const sizes = [0, 1, 15, 16, 17, 32768 - 16, 32768, 32769, 100_000, 4 << 20, 3]
  await write(dir, sizes)
  const got = await readWal(dir)
  t.equal(got.length, sizes.length)
  t.ok(same(got, sizes))
  t.same((await readWal(dir, 9)).map(r => r.sequence), [10, 11], 'after a sequence')
})

t.test('wal - concurrent appends share fsyncs (group commit) and reopening continues the sequence', async t => {
  const dir = tempDir(t)
  const wal = Wal.open(dir)
  const seqs = await Promise.all(Array.from({ length: 200 }, async (_, i) => await wal.append(1, payload(i, 4096))))
  t.same([...seqs].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1))
  t.ok(wal.syncs < 200, `${wal.syncs} fsyncs for 200 appends`)
  await wal.close()
  const again = Wal.open(dir)
  t.equal(again.lastSequence, 200)
  t.equal(await again.append(2, Buffer.from('next')), 201)
  await again.close()
})

t.test('wal - rotation spreads records over segments; deleteUpTo drops whole old ones', async t => {
  const dir = tempDir(t)
  const sizes = Array.from({ length: 60 }, () => 3000)
  await write(dir, sizes, { segmentBytes: 16384 })
  const segments = readdirSync(dir).filter(f => f.endsWith('.wal'))
  t.ok(segments.length > 5, `${segments.length} segments`)
  t.ok(same(await readWal(dir), sizes))
  const wal = Wal.open(dir, { segmentBytes: 16384 })
  wal.deleteUpTo(30)
  await wal.close()
  const left = await readWal(dir)
  t.ok(left[0].sequence > 1 && left[0].sequence <= 31, `first kept ${left[0].sequence}`)
  t.equal(left[left.length - 1].sequence, 60)
})

t.test('wal - truncation at every byte of the last record: earlier records survive, the torn one is gone, appends go on', async t => {
  const dir = tempDir(t)
  const sizes = [100, 200, 300]
  await write(dir, sizes, { segmentBytes: 65536 })
  const segment = join(dir, readdirSync(dir).find(f => f.endsWith('.wal')) as string)
  const lastStart = 16 + 100 + 16 + 200
  const lastEnd = lastStart + 16 + 300
  const scratch = tempDir(t)
  for (let cut = lastStart; cut < lastEnd; cut++) {
    const copy = join(scratch, `cut-${cut}`)
    cpSync(dir, copy, { recursive: true })
    truncateSync(join(copy, segment.slice(dir.length + 1)), cut)
    const got = await readWal(copy)
    if (got.length !== 2 || !same(got, sizes)) t.fail(`cut at ${cut}: ${got.length} records`)
    const wal = Wal.open(copy, { segmentBytes: 65536 })
    const seq = await wal.append(9, Buffer.from('after'))
    await wal.close()
    if (seq !== 3) t.fail(`cut at ${cut}: next sequence ${seq}`)
    rmSync(copy, { recursive: true, force: true })
  }
  t.pass(`${lastEnd - lastStart} cuts`)
})

t.test('wal - a flipped bit in any byte of any record is detected, never returned as data', async t => {
  const dir = tempDir(t)
  const sizes = [40, 70, 25]
  await write(dir, sizes, { segmentBytes: 65536 })
  const name = readdirSync(dir).find(f => f.endsWith('.wal')) as string
  const original = readFileSync(join(dir, name))
  const starts = [0, 16 + 40, 16 + 40 + 16 + 70]
  const end = starts[2] + 16 + 25
  const scratch = tempDir(t)
  for (let at = 0; at < end; at++) {
    const bit = 1 << (at % 8)
    const bytes = Buffer.from(original)
    bytes[at] ^= bit
    writeFileSync(join(scratch, name), bytes)
    const hit = starts.filter(s => s <= at).length - 1
    const got = await readWal(scratch).catch(() => undefined)
    if (got === undefined) continue
    if (got.length > hit || !same(got, sizes)) t.fail(`flip at ${at} (record ${hit + 1}): ${got.length} records returned`)
  }
  t.pass(`${end} flips`)
})
