import t from 'tap'
import { join } from 'node:path'
import { readWal, readWalRecord, readWalRecordInto, Wal, walRecordSpan, type WalLocation } from '../../core/native.js'
import { flipByte } from '../helpers/files.js'
import { payload, tempDir } from './helpers.js'

function segmentPath (dir: string, at: WalLocation): string {
  return join(dir, `${String(at.segment).padStart(20, '0')}.wal`)
}

t.test('wal read-at - appendLocated then readWalRecord returns each payload, 0 B to 4 MiB, while the log is open', async t => {
  const dir = tempDir(t, 'hive-wal-read-at-')
  const sizes = [0, 1, 32768 - 16, 32768, (1 << 20) + 7, 4 << 20]
  const wal = Wal.open(dir, { segmentBytes: 2 << 20 })
  const located = await Promise.all(sizes.map(async (size, i) => await wal.appendLocated(i, payload(i, size))))
  t.same(located[0], { sequence: 1, segment: 1, offset: 0, length: 0 })
  t.same(located.map(at => at.length), sizes)
  t.equal(located[5].segment, 6, 'the 4 MiB record gets a segment of its own, named after it')
  t.equal(located[5].offset, 0)
  for (const [i, at] of located.entries()) {
    t.ok((await readWalRecord(dir, at)).equals(payload(i, sizes[i])), `${sizes[i]} B`)
  }
  // Into one reused buffer, as large as the largest record's span.
  const into = Buffer.alloc(Math.max(...located.map(at => walRecordSpan(at))))
  for (const [i, at] of located.entries()) {
    const got = await readWalRecordInto(dir, at, into)
    t.equal(got.buffer, into.buffer, 'a view of the buffer given')
    t.ok(got.equals(payload(i, sizes[i])), `${sizes[i]} B into a buffer`)
  }
  await t.rejects(readWalRecordInto(dir, located[4], Buffer.alloc(walRecordSpan(located[4]) - 1)), { code: 'WAL_IO' }, 'a buffer short of the span')
  t.equal(await wal.append(9, Buffer.from('plain append still resolves with a sequence')), 7)
  await wal.close()
  const scanned = await readWal(dir)
  t.same(scanned.slice(0, 6).map(r => ({ sequence: r.sequence, segment: r.segment, offset: r.offset, length: r.data.length })), located,
    'readWal finds every record where appendLocated said it was')
})

t.test('wal read-at - appendLocated with a head: the record is head then data, its length both', async t => {
  const dir = tempDir(t, 'hive-wal-head-')
  const wal = Wal.open(dir)
  const head = Buffer.from([3, 0, 0x61, 0x62, 0x63])
  const data = payload(7, 70_000)
  const at = await wal.appendLocated(1, data, head)
  t.equal(at.length, head.length + data.length)
  t.ok((await readWalRecord(dir, at)).equals(Buffer.concat([head, data])))
  await wal.close()
  t.ok((await readWal(dir))[0].data.equals(Buffer.concat([head, data])), 'replayed the same')
})

t.test('wal read-at - a flipped byte or a wrong sequence → WAL_CORRUPT', async t => {
  const dir = tempDir(t, 'hive-wal-read-at-')
  const wal = Wal.open(dir)
  const first = await wal.appendLocated(1, payload(1, 100))
  const big = await wal.appendLocated(2, payload(2, 70_000))
  await wal.close()
  await t.rejects(readWalRecord(dir, { ...first, sequence: big.sequence }), { code: 'WAL_CORRUPT' })
  await t.rejects(readWalRecord(dir, { ...big, length: big.length - 1 }), { code: 'WAL_CORRUPT' })
  const position = big.offset + 16 + 50_000
  flipByte(segmentPath(dir, big), position)
  await t.rejects(readWalRecord(dir, big), { code: 'WAL_CORRUPT', message: /checksum mismatch/ })
  t.ok((await readWalRecord(dir, first)).equals(payload(1, 100)), 'the record before it is untouched')
  flipByte(segmentPath(dir, big), position)
  t.ok((await readWalRecord(dir, big)).equals(payload(2, 70_000)))
  // A small record, which is read from the page cache where it can be: damaged, it fails the same way.
  flipByte(segmentPath(dir, first), first.offset + 16 + 40)
  await t.rejects(readWalRecord(dir, first), { code: 'WAL_CORRUPT', message: /checksum mismatch/ })
  flipByte(segmentPath(dir, first), first.offset + 16 + 40)
  t.ok((await readWalRecord(dir, first)).equals(payload(1, 100)))
})

t.test('wal read-at - after deleteUpTo of a rotated segment → WAL_MISSING; locations match readWal across segments', async t => {
  const dir = tempDir(t, 'hive-wal-read-at-')
  const wal = Wal.open(dir, { segmentBytes: 16384 })
  const located: WalLocation[] = []
  for (let i = 0; i < 30; i++) located.push(await wal.appendLocated(3, payload(i, 3000)))
  const segments = new Set(located.map(at => at.segment))
  t.ok(segments.size > 4, `${segments.size} segments`)
  const scanned = await readWal(dir)
  t.same(scanned.map(r => [r.segment, r.offset]), located.map(at => [at.segment, at.offset]))
  wal.deleteUpTo(15)
  const kept = (await readWal(dir))[0].segment
  t.ok(kept > 1 && kept <= 16, `first kept segment ${kept}`)
  await t.rejects(readWalRecord(dir, located[0]), { code: 'WAL_MISSING' })
  await t.rejects(readWalRecord(dir, located[kept - 2]), { code: 'WAL_MISSING' })
  t.ok((await readWalRecord(dir, located[kept - 1])).equals(payload(kept - 1, 3000)))
  t.ok((await readWalRecord(dir, located[29])).equals(payload(29, 3000)))
  await wal.close()
})

t.test('wal read-at - a location that cannot be one is refused before the addon', async t => {
  const at = { sequence: 5, segment: 1, offset: 0, length: 10 }
  await t.rejects(readWalRecord('', at), TypeError)
  await t.rejects(readWalRecord('/tmp', { ...at, offset: -1 }), RangeError)
  await t.rejects(readWalRecord('/tmp', { ...at, length: 1.5 }), RangeError)
  await t.rejects(readWalRecord('/tmp', { ...at, segment: 0 }), RangeError)
  await t.rejects(readWalRecord('/tmp', { ...at, segment: 6 }), RangeError)
  await t.rejects(readWalRecord('/tmp', { ...at, sequence: 2 ** 53 }), RangeError)
})
