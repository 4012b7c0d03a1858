import t from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BlockStore } from '../../core/native.js'
import { tempDir } from './helpers.js'

const B = BlockStore.BLOCK_BYTES

/** `count` blocks from `first` whose bytes name their version and block. */
function blocks (version: number, first: number, count: number): Buffer {
  const b = Buffer.alloc(count * B)
  for (let i = 0; i < count; i++) {
    const block = b.subarray(i * B, (i + 1) * B)
    for (let j = 0; j < B; j++) block[j] = (version * 131 + (first + i) * 7 + j) & 255
    block.writeUInt32LE(version, 0)
    block.writeUInt32LE(first + i, 4)
  }
  return b
}

function read (store: BlockStore, first: number, count: number): Buffer {
  const out = Buffer.alloc(count * B, 0xee)
  const misses = store.read(first, count, out)
  if (misses.length !== 0) throw new Error(`unexpected misses ${misses.join(',')}`)
  return out
}

const isZero = (b: Buffer): boolean => b.every(x => x === 0)

t.test('block store - writes read back at once; unwritten blocks read as zeros', async t => {
  const store = BlockStore.open(tempDir(t, 'hive-bs-'))
  await store.write(10, blocks(1, 10, 4))
  await store.write(11, blocks(2, 11, 1))
  const got = read(store, 8, 8)
  t.ok(isZero(got.subarray(0, 2 * B)), 'before: zeros')
  t.same(got.subarray(2 * B, 3 * B), blocks(1, 10, 1))
  t.same(got.subarray(3 * B, 4 * B), blocks(2, 11, 1), 'the rewrite wins')
  t.same(got.subarray(4 * B, 6 * B), blocks(1, 12, 2))
  t.ok(isZero(got.subarray(6 * B)), 'after: zeros')
  t.match(store.stats(), { dirtyBlocks: 4, dirtyBytes: 4 * B, mappedBlocks: 0, walSequence: 2 })
  await store.close()
})

t.test('block store - fua writes and flush resolve once durable', async t => {
  const store = BlockStore.open(tempDir(t, 'hive-bs-'))
  await Promise.all(Array.from({ length: 50 }, async (_, i) => await store.write(i, blocks(1, i, 1), true)))
  t.equal(store.stats().durableSequence, 50, 'every fua write durable when its promise resolves')
  for (let i = 0; i < 50; i++) void store.write(100 + i, blocks(1, 100 + i, 1))
  await store.zero(0, 10)
  await store.flush()
  t.equal(store.stats().durableSequence, 101, 'flush covers the writes issued before it')
  await store.flush()
  await store.close()
})

t.test('block store - take/commit maps blocks; a store without them in cache reports misses until filled', async t => {
  const source = BlockStore.open(tempDir(t, 'hive-bs-'))
  await source.write(20, blocks(1, 20, 2))
  await source.write(5, blocks(1, 5, 3))
  await source.zero(8, 4)
  const taken = source.take(100)
  if (taken === null) throw new Error('nothing taken')
  t.same([...taken.blocks], [5, 6, 7, 20, 21], 'data blocks in slot order')
  t.same([...taken.zeros], [8, 4], 'zeros as runs')
  t.same(taken.data, Buffer.concat([blocks(1, 5, 3), blocks(1, 20, 2)]))
  t.equal(source.take(100), null, 'nothing left untaken')
  source.commit(taken.id, 42)
  t.match(source.stats(), { dirtyBlocks: 0, mappedBlocks: 5 })
  t.same(read(source, 5, 3), blocks(1, 5, 3), 'commit caches what it maps')
  t.throws(() => source.commit(taken.id, 42), /no take/, 'a take commits once')

  const copy = BlockStore.open(tempDir(t, 'hive-bs-'))
  copy.importMap(source.exportMap())
  const out = Buffer.alloc(4 * B, 0xee)
  t.same([...copy.read(6, 4, out)], [6, 42, 1, 7, 42, 2], 'block, chunk, slot of each miss')
  t.ok(out.subarray(0, 2 * B).every(x => x === 0xee), 'out untouched where it missed')
  t.ok(isZero(out.subarray(2 * B)), 'the zeroed blocks are unmapped')
  copy.fill(42, 1, taken.data.subarray(B, 3 * B))
  t.same([...copy.read(6, 4, out)], [], 'complete once filled')
  t.same(out.subarray(0, 2 * B), blocks(1, 6, 2))
  t.match(copy.stats(), { cacheHits: 2, cacheMisses: 2, cacheBytes: 2 * B })
  await source.close()
  await copy.close()
})

t.test('block store - a rewrite during a take stays dirty; abandon lets blocks be taken again', async t => {
  const store = BlockStore.open(tempDir(t, 'hive-bs-'))
  await store.write(0, blocks(1, 0, 4))
  const first = store.take(100)
  await store.write(1, blocks(2, 1, 1))
  const second = store.take(100)
  t.same([...(second?.blocks ?? [])], [1], 'only the rewrite is new')
  store.commit(first?.id ?? 0, 1)
  t.match(store.stats(), { dirtyBlocks: 1, mappedBlocks: 3 })
  t.same(read(store, 1, 1), blocks(2, 1, 1), 'the newer data')
  store.abandon(second?.id ?? 0)
  const again = store.take(100)
  t.same([...(again?.blocks ?? [])], [1], 'taken again after abandon')
  store.commit(again?.id ?? 0, 2)
  t.same(read(store, 0, 4), Buffer.concat([blocks(1, 0, 1), blocks(2, 1, 1), blocks(1, 2, 2)]))
  t.match(store.stats(), { dirtyBlocks: 0, mappedBlocks: 4 })

  await store.write(10, blocks(3, 10, 6))
  t.equal(store.take(2)?.blocks.length, 2, 'maxBlocks bounds a take')
  t.equal(store.take(1, true)?.blocks.length, 6, 'all: taken or not, whatever maxBlocks')
  await store.close()
})

t.test('block store - zero unmaps; a 1 TiB zero is one run', async t => {
  const store = BlockStore.open(tempDir(t, 'hive-bs-'))
  await store.write(0, blocks(1, 0, 8))
  store.commit(store.take(100)?.id ?? 0, 3)
  await store.zero(2, 3)
  const want = blocks(1, 0, 8)
  want.fill(0, 2 * B, 5 * B)
  t.same(read(store, 0, 8), want)
  const zeros = store.take(100)
  t.same([...(zeros?.zeros ?? [])], [2, 3])
  t.equal(zeros?.data.length, 0, 'no chunk bytes for zeros')
  store.commit(zeros?.id ?? 0, 0)
  t.equal(store.stats().mappedBlocks, 5)

  const tib = 2 ** 40 / B
  await store.zero(0, tib, true)
  t.match(store.stats(), { dirtyBlocks: tib, dirtyBytes: 0 })
  t.ok(isZero(read(store, tib - 2, 2)))
  store.commit(store.take(16)?.id ?? 0, 0)
  t.match(store.stats(), { dirtyBlocks: 0, mappedBlocks: 0 })
  await store.close()
})

t.test('block store - checkpoint and reopen restore the map; a corrupt checkpoint refuses to open', async t => {
  const dir = tempDir(t, 'hive-bs-')
  const store = BlockStore.open(dir)
  await store.write(0, blocks(1, 0, 64))
  store.commit(store.take(1000)?.id ?? 0, 77)
  await store.write(200, blocks(2, 200, 1))
  await store.checkpoint()
  const map = store.exportMap()
  await store.close()

  const again = BlockStore.open(dir)
  t.same(again.exportMap(), map)
  t.same(read(again, 200, 1), blocks(2, 200, 1), 'the dirty write comes back from the WAL')
  t.equal(again.stats().walSequence, 2)
  await again.close()

  const checkpoint = readFileSync(join(dir, 'checkpoint'))
  checkpoint[30] ^= 1
  writeFileSync(join(dir, 'checkpoint'), checkpoint)
  t.throws(() => BlockStore.open(dir), /checkpoint .* is corrupt/)
})

t.test('block store - a checkpoint frees the WAL segments of committed blocks', async t => {
  const dir = tempDir(t, 'hive-bs-')
  const segments = (): number => readdirSync(join(dir, 'wal')).filter(f => f.endsWith('.wal')).length
  const store = BlockStore.open(dir, { walSegmentBytes: 64 * 1024 })
  for (let i = 0; i < 100; i++) await store.write(i, blocks(1, i, 1))
  await store.flush()
  t.ok(segments() > 4, `${segments()} segments`)
  await store.checkpoint()
  t.ok(segments() > 4, 'all dirty: none freed')
  store.commit(store.take(100)?.id ?? 0, 1)
  await store.checkpoint()
  t.equal(segments(), 1, 'only the segment being written is left')
  await store.close()
  const again = BlockStore.open(dir)
  t.equal(again.stats().mappedBlocks, 100)
  await again.close()
})

t.test('block store - an exported map imports into an empty store only', async t => {
  const source = BlockStore.open(tempDir(t, 'hive-bs-'))
  await source.write(0, blocks(1, 0, 8))
  await source.write(50, blocks(1, 50, 8))
  source.commit(source.take(100)?.id ?? 0, 11)
  const map = source.exportMap()
  t.equal(map.subarray(0, 4).toString(), 'HVBM')
  t.equal(map.readBigUInt64LE(8), 2n, 'two extents')
  t.throws(() => source.importMap(map), /empty store/)

  const dir = tempDir(t, 'hive-bs-')
  const copy = BlockStore.open(dir)
  const damaged = Buffer.from(map)
  damaged[20] ^= 1
  t.throws(() => copy.importMap(damaged), /checksum/)
  copy.importMap(map)
  t.same(copy.exportMap(), map)
  await copy.checkpoint()
  await copy.close()
  const reopened = BlockStore.open(dir)
  t.same(reopened.exportMap(), map)
  await reopened.close()
  await source.close()
})

t.test('block store - bad arguments throw TypeError or RangeError, not a crash', async t => {
  const dir = tempDir(t, 'hive-bs-')
  const store = BlockStore.open(dir)
  await t.rejects(store.write(0, Buffer.alloc(100)), RangeError)
  await t.rejects(store.write(0, Buffer.alloc(0)), RangeError)
  await t.rejects(store.write(-1, Buffer.alloc(B)), RangeError)
  await t.rejects(store.write(0.5, Buffer.alloc(B)), RangeError)
  await t.rejects(store.write(0, 'data' as unknown as Buffer), TypeError)
  await t.rejects(store.zero(0, 0), RangeError)
  t.throws(() => store.read(0, 2, Buffer.alloc(B)), RangeError)
  t.throws(() => store.read(0, 1, [] as unknown as Buffer), TypeError)
  t.throws(() => store.fill(1, 0, Buffer.alloc(10)), RangeError)
  t.throws(() => store.fill(1, 2 ** 32, Buffer.alloc(B)), RangeError)
  t.throws(() => store.take(0), RangeError)
  t.throws(() => store.commit(99, 1), /no take 99/)
  t.throws(() => store.importMap(Buffer.from('nope')), /not a block map/)
  t.throws(() => BlockStore.open(dir), /held by another writer/, 'one store per directory')
  t.throws(() => BlockStore.open(dir, { walSegmentBytes: 10 }), RangeError)
  await store.close()
  await store.close()
  t.throws(() => store.stats(), /closed/)
  await t.rejects(store.write(0, Buffer.alloc(B)), /closed/)
  await t.rejects(store.flush(), /closed/)
})

t.test('block store - SIGKILL after flush loses nothing', async t => {
  const dir = tempDir(t, 'hive-bs-')
  const child = join(dir, 'child.mts')
  const native = fileURLToPath(new URL('../../core/native.ts', import.meta.url))
  // Flushes 64 numbered blocks, says so, then keeps writing other blocks until it is killed.
  writeFileSync(child, `
    import { BlockStore } from ${JSON.stringify(native)}
    const store = BlockStore.open(${JSON.stringify(join(dir, 'store'))})
    const block = (v, b) => { const x = Buffer.alloc(4096, (v + b) & 255); x.writeUInt32LE(v, 0); x.writeUInt32LE(b, 4); return x }
    for (let b = 0; b < 64; b++) void store.write(b, block(1, b))
    await store.zero(10, 5)
    await store.flush()
    process.stdout.write('flushed\\n')
    for (let i = 0; ; i++) await store.write(1000 + (i % 100), block(2 + i, 1000 + (i % 100)), i % 7 === 0)
  `)
  const proc = spawn(process.execPath, ['--import', 'tsx', child], { stdio: ['ignore', 'pipe', 'inherit'] })
  proc.stdout.on('data', (d: Buffer) => { if (d.toString().includes('flushed')) setTimeout(() => proc.kill('SIGKILL'), 20) })
  const [, signal] = await new Promise<[number | null, string | null]>(resolve => proc.once('exit', (code, sig) => resolve([code, sig])))
  t.equal(signal, 'SIGKILL')

  const store = BlockStore.open(join(dir, 'store'))
  const got = read(store, 0, 64)
  let lost = 0
  for (let b = 0; b < 64; b++) {
    const block = got.subarray(b * B, (b + 1) * B)
    if (b >= 10 && b < 15 ? !isZero(block) : block.readUInt32LE(0) !== 1 || block.readUInt32LE(4) !== b || block[8] !== ((1 + b) & 255)) lost++
  }
  t.equal(lost, 0, 'every flushed block as written')
  const later = read(store, 1000, 100)
  let torn = 0
  for (let b = 0; b < 100; b++) {
    const block = later.subarray(b * B, (b + 1) * B)
    if (!isZero(block) && (block.readUInt32LE(4) !== 1000 + b || block[8] !== ((block.readUInt32LE(0) + 1000 + b) & 255))) torn++
  }
  t.equal(torn, 0, 'writes after the flush are there whole or not at all')
  await store.close()
})
