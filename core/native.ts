/**
 * The typed face of the native addon (native/src/addon.cc): Reed-Solomon, CRC32C and the
 * write-ahead log. Every argument is checked here, before it crosses into C++; plugins reach these
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
  append: (type: number, data: Uint8Array) => number
  deleteUpTo: (sequence: number) => void
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
}

const EXPECTED_ABI = 3

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

  /** As append; resolves with where the record landed, from which readWalRecord can read it back. */
  async appendLocated (type: number, data: Uint8Array): Promise<WalLocation> {
    if (this.#closed) throw new Error('the WAL is closed')
    if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError('type must be 0–255')
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array (Buffer)')
    return await new Promise<WalLocation>((resolve, reject) => {
      if (this.#pending.size === 0) this.#native.ref()
      const seq = this.#native.append(type, data)
      this.#pending.set(seq, { length: data.length, resolve, reject })
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
 * Reads the one record at `at` (from appendLocated or readWal) off the event loop, checking its
 * checksums, sequence and length, while a Wal may be appending to the same directory. Rejects with an
 * Error whose `code` is a WalReadErrorCode.
 */
export async function readWalRecord (dir: string, at: WalLocation): Promise<Buffer> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a directory path')
  const { sequence, segment, offset, length } = at
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new RangeError('sequence must be an integer ≥ 1')
  if (!Number.isSafeInteger(segment) || segment < 1 || segment > sequence) throw new RangeError('segment must be an integer from 1 to the sequence')
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('offset must be an integer ≥ 0')
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be an integer ≥ 0')
  return await new Promise((resolve, reject) => addon.readWalRecord(dir, segment, offset, sequence, length,
    (e, data) => e === null ? resolve(data as Buffer) : reject(e)))
}
