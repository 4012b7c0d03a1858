/** A BlockDevice in memory for the NBD tests: it checks the server's alignment promise and can be slow. */
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { BlockDevice } from '../../plugins/ebs/nbd.js'

const BLOCK = 4096

export class MemoryDevice implements BlockDevice {
  readonly bytes: Buffer
  /** Calls that broke the 4 KiB alignment promise (always 0 unless the server is wrong). */
  misaligned = 0
  flushes = 0
  fuaWrites = 0
  trims = 0
  /** The next device call fails with EIO when set. */
  failNext = false
  /** Calls started and not yet settled. */
  busy = 0

  /**
   * `slow`: every call yields to the event loop before it starts and between blocks, so requests in
   * flight interleave block by block as they would on a real store.
   */
  constructor (size: number, private readonly slow = false) {
    this.bytes = Buffer.alloc(size)
  }

  get size (): number {
    return this.bytes.length
  }

  async read (offset: number, length: number): Promise<Uint8Array> {
    return await this.call(offset, length, async () => {
      const out = Buffer.alloc(length)
      for (let at = 0; at < length; at += BLOCK) {
        this.bytes.copy(out, at, offset + at, offset + Math.min(at + BLOCK, length))
        if (this.slow) await nextTurn()
      }
      return out
    })
  }

  async write (offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    await this.call(offset, data.length, async () => {
      if (fua) this.fuaWrites++
      for (let at = 0; at < data.length; at += BLOCK) {
        this.bytes.set(data.subarray(at, Math.min(at + BLOCK, data.length)), offset + at)
        if (this.slow) await nextTurn()
      }
    })
  }

  async flush (): Promise<void> {
    await this.call(0, 0, async () => { this.flushes++ })
  }

  async trim (offset: number, length: number, _fua: boolean): Promise<void> {
    await this.call(offset, length, async () => {
      this.trims++
      this.bytes.fill(0, offset, offset + length)
    })
  }

  private async call<T> (offset: number, length: number, op: () => Promise<T>): Promise<T> {
    if (offset % BLOCK !== 0 || length % BLOCK !== 0) this.misaligned++
    this.busy++
    try {
      if (this.slow) await nextTurn()
      if (this.failNext) {
        this.failNext = false
        throw Object.assign(new Error('injected device failure'), { code: 'EIO' })
      }
      return await op()
    } finally {
      this.busy--
    }
  }
}
