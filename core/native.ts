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
  Wal: new (dir: string, segmentBytes: number, sync: boolean, onDurable: (sequence: number, error: string | null) => void) => NativeWal
  readWal: (dir: string, after: number, done: (err: Error | null, records?: WalRecord[]) => void) => void
}

const EXPECTED_ABI = 2

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

/** CRC32C (Castagnoli) of `data`, continuing from `prev` (streaming). */
export function crc32c (data: Uint8Array, prev = 0): number {
  if (!(data instanceof Uint8Array)) throw new TypeError('crc32c takes a Uint8Array (Buffer)')
  return addon.crc32c(data, prev >>> 0)
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
}

/**
 * A write-ahead log (native/src/wal_format.h) with group commit: concurrent appends share one write
 * and one fdatasync, and each append's promise resolves with its sequence only once it is durable.
 * Opening recovers the directory: a torn tail is truncated; corruption inside the log refuses to open.
 */
export class Wal {
  readonly #native: NativeWal
  readonly #pending = new Map<number, { resolve: (seq: number) => void, reject: (e: Error) => void }>()
  #closed = false

  private constructor (dir: string, opts: WalOptions) {
    this.#native = new addon.Wal(dir, opts.segmentBytes ?? 64 * 1024 * 1024, opts.sync ?? true, (seq, error) => this.#durable(seq, error))
  }

  static open (dir: string, opts: WalOptions = {}): Wal {
    if (opts.segmentBytes !== undefined && (!Number.isSafeInteger(opts.segmentBytes) || opts.segmentBytes < 4096)) {
      throw new RangeError('segmentBytes must be an integer ≥ 4096')
    }
    return new Wal(dir, opts)
  }

  /** Appends one record of `type` (0–255); resolves with its sequence once durable. */
  async append (type: number, data: Uint8Array): Promise<number> {
    if (this.#closed) throw new Error('the WAL is closed')
    if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError('type must be 0–255')
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array (Buffer)')
    return await new Promise<number>((resolve, reject) => {
      if (this.#pending.size === 0) this.#native.ref()
      const seq = this.#native.append(type, data)
      this.#pending.set(seq, { resolve, reject })
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

  #durable (seq: number, error: string | null): void {
    // A failed writer reports later appends with sequence 0: they all fail with the same error.
    if (seq === 0 && error !== null) {
      for (const p of this.#pending.values()) p.reject(new Error(error))
      this.#pending.clear()
    } else {
      const p = this.#pending.get(seq)
      this.#pending.delete(seq)
      if (error === null) p?.resolve(seq)
      else p?.reject(new Error(error))
    }
    if (this.#pending.size === 0 && !this.#closed) this.#native.unref()
  }
}

/** Every intact record with sequence > `after`, in order. Rejects when the log is corrupt before its tail. */
export async function readWal (dir: string, after = 0): Promise<WalRecord[]> {
  return await new Promise((resolve, reject) => addon.readWal(dir, after, (e, records) => e === null ? resolve(records ?? []) : reject(e)))
}
