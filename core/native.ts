/**
 * The typed face of the native addon (native/src/addon.cc): Reed-Solomon, CRC32C, the
 * write-ahead log and the block store. Every argument is checked here, before it crosses into C++; plugins reach these
 * through core/index.ts.
 *
 * Sync or async: a hop onto the thread pool costs 10–50 µs, more than checksumming 4 KiB or
 * encoding a small stripe, so small calls run on the calling thread and only large stripes go off
 * the event loop (ASYNC_THRESHOLD). Buffers are never copied or concatenated on the way.
 */
import { createRequire } from 'node:module'

interface NativeReedSolomon {
  readonly kernel: string
  encodeSync: (data: Uint8Array[], parity: Uint8Array[]) => void
  encode: (data: Uint8Array[], parity: Uint8Array[], done: (err: Error | null) => void) => void
  reconstructSync: (shards: Uint8Array[], present: Uint8Array) => void
  reconstruct: (shards: Uint8Array[], present: Uint8Array, done: (err: Error | null) => void) => void
  verify: (shards: Uint8Array[]) => boolean
}

interface NativeWal {
  readonly lastSequence: number
  readonly syncs: number
  readonly batches: number
  append: (type: number, data: Uint8Array, head?: Uint8Array) => number
  deleteUpTo: (sequence: number) => void
  close: (done: (err: Error | null) => void) => void
  ref: () => void
  unref: () => void
}

interface NativeTake {
  id: number
  blocks: Float64Array
  zeros: Float64Array
  data: Buffer
}

interface NativeBlockStore {
  readonly durableSequence: number
  readonly lastSequence: number
  readonly failure: string | null
  write: (block: number, data: Uint8Array) => number
  zero: (block: number, count: number) => number
  notifyAt: (sequence: number) => boolean
  read: (block: number, count: number, out: Uint8Array) => Float64Array | null
  fill: (chunk: number, slot: number, data: Uint8Array) => void
  take: (maxBlocks: number, all: boolean) => NativeTake | null
  commit: (id: number, chunk: number) => void
  abandon: (id: number) => void
  checkpoint: (done: (err: Error | null) => void) => void
  exportMap: () => Buffer
  importMap: (map: Uint8Array) => void
  stats: () => BlockStoreStats
  close: (done: (err: Error | null) => void) => void
  ref: () => void
  unref: () => void
}

interface NativeAddon {
  abiVersion: number
  gfKernel: string
  crc32cKernel: string
  ReedSolomon: new (k: number, m: number, kernel?: string) => NativeReedSolomon
  crc32c: (data: Uint8Array, prev: number) => number
  Wal: new (dir: string, segmentBytes: number, sync: boolean, onDurable: (sequence: number, error: string | null, segment: number, offset: number) => void) => NativeWal
  readWal: (dir: string, after: number, done: (err: Error | null, records?: WalRecord[]) => void) => void
  readWalRecord: (dir: string, segment: number, offset: number, sequence: number, length: number, done: (err: Error | null, data?: Buffer) => void) => void
  readWalRecordInto: (dir: string, segment: number, offset: number, sequence: number, length: number, into: Buffer, done: (err: Error | null) => void) => void
  readWalRecordCached: (dir: string, segment: number, offset: number, sequence: number, length: number) => Buffer | undefined | null
  walRecordSpan: (offset: number, length: number) => number
  BlockStore: new (dir: string, cacheBytes: number, walSegmentBytes: number, onDurable: () => void) => NativeBlockStore
}

const EXPECTED_ABI = 6

const addon = ((): NativeAddon => {
  const loaded = createRequire(import.meta.url)('../build/Release/hive_native.node') as NativeAddon
  if (loaded.abiVersion !== EXPECTED_ABI) {
    throw new Error(`native addon ABI ${loaded.abiVersion}, expected ${EXPECTED_ABI}: run npm run build`)
  }
  return loaded
})()

/** Stripes of at least this many data bytes are encoded off the event loop by the async methods. */
export const ASYNC_THRESHOLD = 256 * 1024

/** The Reed-Solomon kernel this process uses ('avx2', 'gfni-avx512', …; HIVE_GF_KERNEL forces a lower one). */
export function gfKernel (): string {
  return addon.gfKernel
}

/**
 * Systematic Reed-Solomon over GF(2^8) with k data and m parity shards (native/src/reed_solomon.h
 * documents the matrix; parity is byte-identical to ISA-L's ec_encode_data with gf_gen_cauchy1_matrix).
 * Shards are Uint8Arrays of one length, any length.
 */
export class ReedSolomon {
  readonly #native: NativeReedSolomon

  constructor (readonly dataShards: number, readonly parityShards: number, kernel?: string) {
    if (!Number.isInteger(dataShards) || !Number.isInteger(parityShards) || dataShards < 1 || parityShards < 1 || dataShards + parityShards > 255) {
      throw new RangeError(`Reed-Solomon needs 1 ≤ k, 1 ≤ m, k + m ≤ 255; got k=${dataShards}, m=${parityShards}`)
    }
    this.#native = kernel === undefined ? new addon.ReedSolomon(dataShards, parityShards) : new addon.ReedSolomon(dataShards, parityShards, kernel)
  }

  get kernel (): string {
    return this.#native.kernel
  }

  /** Writes the m parity shards of the k data shards. */
  encodeSync (data: Uint8Array[], parity: Uint8Array[]): void {
    this.#check(data, this.dataShards, 'data', parity, this.parityShards, 'parity')
    this.#native.encodeSync(data, parity)
  }

  /** As encodeSync; off the event loop for stripes of ASYNC_THRESHOLD data bytes or more. */
  async encode (data: Uint8Array[], parity: Uint8Array[]): Promise<void> {
    this.#check(data, this.dataShards, 'data', parity, this.parityShards, 'parity')
    if (data[0].length * this.dataShards < ASYNC_THRESHOLD) return this.#native.encodeSync(data, parity)
    await new Promise<void>((resolve, reject) => this.#native.encode(data, parity, e => e === null ? resolve() : reject(e)))
  }

  /**
   * Rebuilds, in place, every shard whose `present` flag is false (data and parity) from the others.
   * Throws when more than m are missing. A repeated pattern of missing shards costs no matrix inversion.
   */
  reconstructSync (shards: Uint8Array[], present: boolean[]): void {
    this.#native.reconstructSync(shards, this.#flags(shards, present))
  }

  async reconstruct (shards: Uint8Array[], present: boolean[]): Promise<void> {
    const flags = this.#flags(shards, present)
    if (shards[0].length * this.dataShards < ASYNC_THRESHOLD) return this.#native.reconstructSync(shards, flags)
    await new Promise<void>((resolve, reject) => this.#native.reconstruct(shards, flags, e => e === null ? resolve() : reject(e)))
  }

  /** True when the parity shards match the data shards. */
  verify (shards: Uint8Array[]): boolean {
    this.#check(shards, this.dataShards + this.parityShards, 'shards')
    return this.#native.verify(shards)
  }

  #flags (shards: Uint8Array[], present: boolean[]): Uint8Array {
    this.#check(shards, this.dataShards + this.parityShards, 'shards')
    if (present.length !== shards.length) throw new RangeError(`present needs one flag per shard (${shards.length})`)
    const missing = present.filter(p => !p).length
    if (missing > this.parityShards) throw new RangeError(`${missing} shards missing; RS(${this.dataShards},${this.parityShards}) rebuilds at most ${this.parityShards}`)
    return Uint8Array.from(present, p => p ? 1 : 0)
  }

  #check (a: Uint8Array[], n: number, what: string, b?: Uint8Array[], bn?: number, bwhat?: string): void {
    if (!Array.isArray(a) || a.length !== n) throw new RangeError(`${what}: expected ${n} shards`)
    if (b !== undefined && (!Array.isArray(b) || b.length !== bn)) throw new RangeError(`${bwhat ?? ''}: expected ${bn ?? 0} shards`)
    const len = a[0]?.length
    for (const s of b === undefined ? a : [...a, ...b]) {
      if (!(s instanceof Uint8Array)) throw new TypeError('shards must be Uint8Arrays (Buffers)')
      if (s.length !== len) throw new RangeError('shards must all have the same length')
    }
  }
}

interface NativeCrc32cFast {
  crc32c: (data: Uint8Array, prev: number) => number
  /** False when built against a V8 whose fast-call ABI it does not know: then only the V8 slow callback. */
  fastApi: boolean
  /** Calls V8 routed through the Fast API path, for the tests. */
  fastCalls: () => number
}

/**
 * crc32c's binding. hive_crc32c_fast (native/src/crc32c_fast.cc) is a V8 Fast API function: once
 * TurboFan optimizes the caller, an empty call costs ~13 ns instead of N-API's ~60, a third of a 4 KiB
 * checksum. It uses the classic V8 API, tied to the Node ABI it was built for, so if it is missing
 * or will not load, hive_native's N-API crc32c (same kernels, same results) takes over.
 * HIVE_CRC32C_BINDING=napi forces that fallback (tests).
 */
const crc32cFast = ((): NativeCrc32cFast | undefined => {
  if (process.env.HIVE_CRC32C_BINDING === 'napi') return undefined
  try {
    return createRequire(import.meta.url)('../build/Release/hive_crc32c_fast.node') as NativeCrc32cFast
  } catch {
    return undefined
  }
})()
// One function value for the one call site below, so V8's call feedback stays monomorphic.
const crc32cBound: (data: Uint8Array, prev: number) => number = crc32cFast?.crc32c ?? addon.crc32c

/** CRC32C (Castagnoli) of `data`, continuing from `prev` (streaming). */
export function crc32c (data: Uint8Array, prev = 0): number {
  if (!(data instanceof Uint8Array)) throw new TypeError('crc32c takes a Uint8Array (Buffer)')
  return crc32cBound(data, prev >>> 0)
}

/**
 * How crc32c reaches C++: 'fast-api' (V8 Fast API calls once optimized), 'v8' (the same module,
 * slow callbacks only) or 'napi' (the fallback); fastCalls counts calls that took the fast path.
 */
export function crc32cBinding (): { binding: 'fast-api' | 'v8' | 'napi', fastCalls: number } {
  if (crc32cFast === undefined) return { binding: 'napi', fastCalls: 0 }
  return { binding: crc32cFast.fastApi ? 'fast-api' : 'v8', fastCalls: crc32cFast.fastCalls() }
}

/** The CRC32C kernel in use ('vpclmul', 'sse42', 'scalar'; HIVE_CRC32C_KERNEL forces a lower one). */
export function crc32cKernel (): string {
  return addon.crc32cKernel
}

export interface WalOptions {
  /** Segment size; a record larger than this gets a segment of its own (default 64 MiB). */
  segmentBytes?: number
  /** fdatasync before acknowledging (default true); false survives a process crash but not power loss. */
  sync?: boolean
}

export interface WalRecord {
  sequence: number
  type: number
  data: Buffer
  /** Where the record lies, as in WalLocation: a recovery scan rebuilds an index from these. */
  segment: number
  offset: number
}

/** Where a durable record lies: with its sequence and length, enough for readWalRecord to find and check it alone. */
export interface WalLocation {
  sequence: number
  /** The segment holding it, named by its first sequence. */
  segment: number
  /** The byte offset of the record's first fragment header in that segment. */
  offset: number
  /** Payload bytes. */
  length: number
}

/**
 * Why readWalRecord failed, as its Error's `code`: WAL_MISSING, the record is no longer in the log
 * (a checkpoint removed its segment, or the segment ends before it); WAL_CORRUPT, the bytes there are
 * not that record (checksum, sequence, length or layout wrong); WAL_IO, the segment could not be read.
 */
export type WalReadErrorCode = 'WAL_MISSING' | 'WAL_CORRUPT' | 'WAL_IO'

/**
 * A write-ahead log (native/src/wal_format.h) with group commit: concurrent appends share one write
 * and one fdatasync, and each append's promise resolves with its sequence only once it is durable.
 * Opening recovers the directory: a torn tail is truncated; corruption inside the log refuses to open.
 */
export class Wal {
  readonly #native: NativeWal
  readonly #pending = new Map<number, { length: number, resolve: (at: WalLocation) => void, reject: (e: Error) => void }>()
  #closed = false

  private constructor (dir: string, opts: WalOptions) {
    this.#native = new addon.Wal(dir, opts.segmentBytes ?? 64 * 1024 * 1024, opts.sync ?? true,
      (seq, error, segment, offset) => this.#durable(seq, error, segment, offset))
  }

  static open (dir: string, opts: WalOptions = {}): Wal {
    if (opts.segmentBytes !== undefined && (!Number.isSafeInteger(opts.segmentBytes) || opts.segmentBytes < 4096)) {
      throw new RangeError('segmentBytes must be an integer ≥ 4096')
    }
    return new Wal(dir, opts)
  }

  /** Appends one record of `type` (0–255); resolves with its sequence once durable. */
  async append (type: number, data: Uint8Array): Promise<number> {
    return (await this.appendLocated(type, data)).sequence
  }

  /**
   * As append; resolves with where the record landed, from which readWalRecord can read it back.
   * The payload is `head` (when given) followed by `data`: a small header needs no copy of the data.
   */
  async appendLocated (type: number, data: Uint8Array, head?: Uint8Array): Promise<WalLocation> {
    if (this.#closed) throw new Error('the WAL is closed')
    if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError('type must be 0–255')
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array (Buffer)')
    if (head !== undefined && !(head instanceof Uint8Array)) throw new TypeError('head must be a Uint8Array (Buffer)')
    return await new Promise<WalLocation>((resolve, reject) => {
      if (this.#pending.size === 0) this.#native.ref()
      const seq = head === undefined ? this.#native.append(type, data) : this.#native.append(type, data, head)
      this.#pending.set(seq, { length: (head?.length ?? 0) + data.length, resolve, reject })
    })
  }

  get lastSequence (): number {
    return this.#native.lastSequence
  }

  /** fdatasync calls so far; appends ÷ syncs is how much group commit batched. */
  get syncs (): number {
    return this.#native.syncs
  }

  /** Deletes whole segments whose records all have sequence ≤ `sequence` (after a checkpoint). */
  deleteUpTo (sequence: number): void {
    this.#native.deleteUpTo(sequence)
  }

  /** Makes every pending append durable (their promises settle), then closes the files. */
  async close (): Promise<void> {
    this.#closed = true
    await new Promise<void>((resolve, reject) => this.#native.close(e => e === null ? resolve() : reject(e)))
  }

  #durable (seq: number, error: string | null, segment: number, offset: number): void {
    // A failed writer reports later appends with sequence 0: they all fail with the same error.
    if (seq === 0 && error !== null) {
      for (const p of this.#pending.values()) p.reject(new Error(error))
      this.#pending.clear()
    } else {
      const p = this.#pending.get(seq)
      this.#pending.delete(seq)
      if (error !== null) p?.reject(new Error(error))
      else if (p !== undefined) p.resolve({ sequence: seq, segment, offset, length: p.length })
    }
    if (this.#pending.size === 0 && !this.#closed) this.#native.unref()
  }
}

/** Every intact record with sequence > `after`, in order. Rejects when the log is corrupt before its tail. */
export async function readWal (dir: string, after = 0): Promise<WalRecord[]> {
  return await new Promise((resolve, reject) => addon.readWal(dir, after, (e, records) => e === null ? resolve(records ?? []) : reject(e)))
}

/**
 * Records up to this size are read on the event loop when all their bytes are in the page cache: a
 * read that cannot wait for the disk (RWF_NOWAIT) costs a few microseconds there, less than handing
 * it to the thread pool — whose wake-up, on a loaded machine, also takes the CPU from the loop.
 */
const CACHED_READ_MAX = 64 * 1024
/** Directories whose filesystem cannot read without waiting (tmpfs): not asked again. */
const cannotReadCached = new Set<string>()

/**
 * Reads the one record at `at` (from appendLocated or readWal), checking its checksums, sequence and
 * length, while a Wal may be appending to the same directory: from the page cache on the event loop
 * when it is small and cached there, else off the event loop. Rejects with an Error whose `code` is a
 * WalReadErrorCode.
 */
export async function readWalRecord (dir: string, at: WalLocation): Promise<Buffer> {
  const { sequence, segment, offset, length } = checkedLocation(dir, at)
  if (length <= CACHED_READ_MAX && !cannotReadCached.has(dir)) {
    const cached = addon.readWalRecordCached(dir, segment, offset, sequence, length)
    if (cached === null) cannotReadCached.add(dir)
    else if (cached !== undefined) return cached.subarray(0, length)
  }
  return await new Promise((resolve, reject) => addon.readWalRecord(dir, segment, offset, sequence, length,
    (e, data) => e === null ? resolve(data as Buffer) : reject(e)))
}

/** The bytes readWalRecordInto needs for the record at `at`: its payload and its fragments' headers. */
export function walRecordSpan (at: Pick<WalLocation, 'offset' | 'length'>): number {
  if (!Number.isSafeInteger(at.offset) || at.offset < 0) throw new RangeError('offset must be an integer ≥ 0')
  if (!Number.isSafeInteger(at.length) || at.length < 0) throw new RangeError('length must be an integer ≥ 0')
  return addon.walRecordSpan(at.offset, at.length)
}

/**
 * As readWalRecord, into `into` (walRecordSpan(at) bytes at least, else WAL_IO), so that a reader
 * that reuses its buffers makes no garbage: resolves with the record's payload, the start of `into`.
 * `into` must not be touched until this settles.
 */
export async function readWalRecordInto (dir: string, at: WalLocation, into: Buffer): Promise<Buffer> {
  const { sequence, segment, offset, length } = checkedLocation(dir, at)
  if (!Buffer.isBuffer(into)) throw new TypeError('into must be a Buffer')
  return await new Promise((resolve, reject) => addon.readWalRecordInto(dir, segment, offset, sequence, length, into,
    e => e === null ? resolve(into.subarray(0, length)) : reject(e)))
}

function checkedLocation (dir: string, at: WalLocation): WalLocation {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a directory path')
  const { sequence, segment, offset, length } = at
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new RangeError('sequence must be an integer ≥ 1')
  if (!Number.isSafeInteger(segment) || segment < 1 || segment > sequence) throw new RangeError('segment must be an integer from 1 to the sequence')
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be an integer ≥ 0')
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be an integer ≥ 0')
  return at
}

const BLOCK_BYTES = 4096

export interface BlockStoreOptions {
  /** Bytes of chunk blocks kept in memory (LRU); 0 caches nothing. Default 64 MiB. */
  cacheBytes?: number
  /** WAL segment size; a checkpoint frees whole segments. Default 64 MiB. */
  walSegmentBytes?: number
}

export interface BlockStoreStats {
  /** Written or zeroed blocks not yet committed to a chunk. */
  dirtyBlocks: number
  /** 4096 per dirty block that holds data (zeroed blocks hold none). */
  dirtyBytes: number
  mappedBlocks: number
  cacheBytes: number
  cacheHits: number
  cacheMisses: number
  /** The last WAL record appended (one per write or zero). */
  walSequence: number
  durableSequence: number
}

/** Dirty blocks handed over to become one chunk (BlockStore.take). */
export interface BlockStoreTake {
  id: number
  /** Data blocks, ascending; blocks[i] is slot i of the chunk. */
  blocks: Float64Array
  /** Zeroed blocks as runs: first, count, first, count, … (they need no chunk space). */
  zeros: Float64Array
  /** The chunk's bytes: blocks.length × 4096, slot i at i × 4096. */
  data: Buffer
}

const NO_MISSES = new Float64Array(0)

/**
 * The block store of one EBS volume (native/src/block_store.h; formats: native/src/block_map_format.h).
 * Writes land in a write-ahead log and an in-memory dirty map; take/commit move dirty blocks into
 * chunks, which the caller stores; read serves blocks from the dirty map and a chunk cache, and reports
 * the chunk blocks it lacks for the caller to fetch and fill. `dir` holds wal/ and checkpoint. Block
 * numbers, chunk ids and counts are integers below 2^53.
 */
export class BlockStore {
  /** Bytes in a block: every offset and length of a BlockStore is in blocks of this size. */
  static readonly BLOCK_BYTES = BLOCK_BYTES

  readonly #native: NativeBlockStore
  /** Waiting for durability, by ascending target sequence. */
  readonly #waiters: Array<{ sequence: number, resolve: () => void, reject: (e: Error) => void }> = []
  readonly #checkpoints = new Set<Promise<void>>()
  #closed = false
  /** The native close has finished: every write is durable or has failed. */
  #shut = false

  private constructor (native: NativeBlockStore) {
    this.#native = native
  }

  /**
   * Opens (creating) the store in `dir`: loads the checkpoint, then replays the WAL. Throws when the
   * checkpoint or the WAL is corrupt, or another process has the store open.
   */
  static open (dir: string, opts: BlockStoreOptions = {}): BlockStore {
    if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a directory path')
    const cacheBytes = opts.cacheBytes ?? 64 * 1024 * 1024
    const walSegmentBytes = opts.walSegmentBytes ?? 64 * 1024 * 1024
    if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0) throw new RangeError('cacheBytes must be an integer ≥ 0')
    if (!Number.isSafeInteger(walSegmentBytes) || walSegmentBytes < 4096) throw new RangeError('walSegmentBytes must be an integer ≥ 4096')
    let store: BlockStore | undefined
    const native = new addon.BlockStore(dir, cacheBytes, walSegmentBytes, () => { if (store !== undefined) store.#durable() })
    store = new BlockStore(native)
    return store
  }

  /**
   * Writes data.length / 4096 blocks from `block`. Reads see them at once. Resolves without waiting for
   * the disk unless `fua` (then once the write is durable), like a disk's write cache: flush() covers it.
   */
  async write (block: number, data: Uint8Array, fua = false): Promise<void> {
    this.#open()
    blockNumber(block, 'block')
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array (Buffer)')
    if (data.length === 0 || data.length % BLOCK_BYTES !== 0) throw new RangeError('data must be a non-empty multiple of 4096 bytes')
    const sequence = this.#native.write(block, data)
    if (fua) await this.#whenDurable(sequence)
  }

  /** Makes `count` blocks from `block` read as zeros (TRIM, WRITE_ZEROES); one WAL record whatever the count. */
  async zero (block: number, count: number, fua = false): Promise<void> {
    this.#open()
    blockNumber(block, 'block')
    blockNumber(count, 'count', 1)
    const sequence = this.#native.zero(block, count)
    if (fua) await this.#whenDurable(sequence)
  }

  /** Resolves once every write and zero issued before it is durable; rejects if the WAL has failed. */
  async flush (): Promise<void> {
    this.#open()
    await this.#whenDurable(this.#native.lastSequence)
  }

  /**
   * Fills `out` (count × 4096 bytes) with blocks block… as far as memory has them. Returns the blocks it
   * could not fill — mapped to a chunk slot not in the cache; `out` is untouched there — as triples
   * block, chunk, slot; fetch those slots, fill() them and read again. Empty: `out` is complete.
   */
  read (block: number, count: number, out: Uint8Array): Float64Array {
    this.#open()
    blockNumber(block, 'block')
    blockNumber(count, 'count', 1)
    if (!(out instanceof Uint8Array)) throw new TypeError('out must be a Uint8Array (Buffer)')
    if (out.length !== count * BLOCK_BYTES) throw new RangeError(`out must be count × 4096 = ${count * BLOCK_BYTES} bytes`)
    return this.#native.read(block, count, out) ?? NO_MISSES
  }

  /** Caches slots slot, slot + 1, … of `chunk` from `data` (a multiple of 4096 bytes). */
  fill (chunk: number, slot: number, data: Uint8Array): void {
    this.#open()
    blockNumber(chunk, 'chunk')
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array (Buffer)')
    if (data.length % BLOCK_BYTES !== 0) throw new RangeError('data must be a multiple of 4096 bytes')
    if (!Number.isInteger(slot) || slot < 0 || slot + data.length / BLOCK_BYTES > 2 ** 32) throw new RangeError('slots must lie in 0 … 2^32 − 1')
    this.#native.fill(chunk, slot, data)
  }

  /**
   * Hands over dirty blocks not already taken, ascending: up to `maxBlocks` entries, where a data block
   * is one and a run of zeroed blocks is one. `all`: every dirty block, taken already or not, whatever
   * maxBlocks (freezing a snapshot). Store `data` as a chunk, then commit(id, chunk), or abandon(id).
   * null when there is nothing to take.
   */
  take (maxBlocks: number, all = false): BlockStoreTake | null {
    this.#open()
    blockNumber(maxBlocks, 'maxBlocks', 1)
    return this.#native.take(maxBlocks, all)
  }

  /**
   * The take's blocks that were not rewritten since move out of the dirty map: data blocks to their
   * slot of `chunk` (and into the cache), zeroed ones out of the map. Throws for an unknown take.
   * A take without data blocks needs no chunk: commit it with any id.
   */
  commit (id: number, chunk: number): void {
    this.#open()
    blockNumber(id, 'id', 1)
    blockNumber(chunk, 'chunk')
    this.#native.commit(id, chunk)
  }

  /** Releases a take whose chunk could not be stored: its blocks stay dirty and can be taken again. */
  abandon (id: number): void {
    this.#open()
    blockNumber(id, 'id', 1)
    this.#native.abandon(id)
  }

  /**
   * Writes the block map as of this call to `checkpoint` (atomically), then frees the WAL segments
   * every block's state no longer needs.
   */
  async checkpoint (): Promise<void> {
    this.#open()
    const done = new Promise<void>((resolve, reject) => this.#native.checkpoint(e => e === null ? resolve() : reject(e)))
    this.#checkpoints.add(done)
    try {
      await done
    } finally {
      this.#checkpoints.delete(done)
    }
  }

  /** The block map in the map format (block_map_format.h). */
  exportMap (): Buffer {
    this.#open()
    return this.#native.exportMap()
  }

  /** Sets the block map of an empty store (a volume from a snapshot); checkpoint() then to keep it. */
  importMap (map: Uint8Array): void {
    this.#open()
    if (!(map instanceof Uint8Array)) throw new TypeError('map must be a Uint8Array (Buffer)')
    this.#native.importMap(map)
  }

  stats (): BlockStoreStats {
    this.#open()
    return this.#native.stats()
  }

  /** Waits for checkpoints in progress, makes every write durable and closes the WAL. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled(this.#checkpoints)
    await new Promise<void>((resolve, reject) => this.#native.close(e => e === null ? resolve() : reject(e)))
    this.#shut = true
    this.#durable()
  }

  #open (): void {
    if (this.#closed) throw new Error('the block store is closed')
  }

  async #whenDurable (sequence: number): Promise<void> {
    const failure = this.#native.failure
    if (failure !== null) throw new Error(failure)
    if (this.#native.durableSequence >= sequence) return
    await new Promise<void>((resolve, reject) => {
      this.#waiters.push({ sequence, resolve, reject })
      if (this.#waiters.length === 1) {
        this.#native.ref()
        if (this.#native.notifyAt(sequence)) queueMicrotask(() => this.#durable())
      }
    })
  }

  /** Settles the waiters the durable sequence has reached, then asks to hear about the next one. */
  #durable (): void {
    for (;;) {
      const durable = this.#native.durableSequence
      const failure = this.#native.failure
      while (this.#waiters.length > 0 && this.#waiters[0].sequence <= durable) this.#waiters.shift()?.resolve()
      if (failure !== null || this.#shut) {
        for (const w of this.#waiters.splice(0)) w.reject(new Error(failure ?? 'the block store closed'))
      }
      if (this.#waiters.length === 0) {
        this.#native.unref()
        return
      }
      // Once close() has begun, it settles the rest when the WAL has closed.
      if (this.#closed || !this.#native.notifyAt(this.#waiters[0].sequence)) return
    }
  }
}

function blockNumber (n: number, what: string, min = 0): void {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${what} must be an integer from ${min} to 2^53 − 1`)
}
