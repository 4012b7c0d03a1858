/**
 * MD5 of streamed uploads on a worker thread. An ETag is the MD5 of the body, and OpenSSL's MD5 runs
 * at about 550 MB/s here: on the event loop it was half of a large PUT's time (125 ms of each
 * 64 MiB), which the body could arrive no faster than. Stripes of a streamed body are filled in
 * SharedArrayBuffers (blobs.ts putStream), so handing one over copies nothing; the worker hashes each
 * upload's stripes in the order they were sent and says when it is done with each, so that a
 * stripe's buffer is reused only after it is hashed.
 *
 * Messages to the worker:   { id, seq, data: Uint8Array } — the next bytes of upload `id`, on a
 *                            SharedArrayBuffer left alone until acknowledged | { id, end: true }
 * Messages from the worker: { id, seq } once those bytes are hashed | { id, md5: hex } after `end`.
 */
import { Worker } from 'node:worker_threads'

// Plain JavaScript: the worker runs without the TypeScript loader.
const SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const running = new Map()
parentPort.on('message', m => {
  let h = running.get(m.id)
  if (h === undefined) { h = createHash('md5'); running.set(m.id, h) }
  if (m.end !== true) { h.update(m.data); parentPort.postMessage({ id: m.id, seq: m.seq }); return }
  running.delete(m.id)
  parentPort.postMessage({ id: m.id, md5: h.digest('hex') })
})
`

/** One upload's MD5: `update` in order with bytes on SharedArrayBuffers (resolves once hashed), then `digest` — or `discard` for an upload that failed. */
export interface Md5Stream {
  update: (data: Uint8Array) => Promise<void>
  digest: () => Promise<string>
  discard: () => void
}

interface Waiting<T> { resolve: (v: T) => void, reject: (e: Error) => void }

export class Md5Worker {
  private worker: Worker | undefined
  private nextId = 0
  private readonly digests = new Map<number, Waiting<string>>()
  private readonly hashed = new Map<string, Waiting<void>>()

  stream (): Md5Stream {
    const worker = this.started()
    const id = this.nextId++
    let seq = 0
    const alive = (): boolean => this.worker === worker
    const exited = (): Error => new Error('the MD5 worker exited during an upload')
    return {
      update: async data => await new Promise<void>((resolve, reject) => {
        if (!alive()) { reject(exited()); return }
        const n = seq++
        this.hashed.set(`${id}.${n}`, { resolve, reject })
        worker.postMessage({ id, seq: n, data })
      }),
      digest: async () => await new Promise<string>((resolve, reject) => {
        if (!alive()) { reject(exited()); return }
        this.digests.set(id, { resolve, reject })
        worker.postMessage({ id, end: true })
      }),
      // The worker drops the upload's hash at its end; nobody waits for the digest it sends.
      discard: () => { if (alive() && seq > 0) worker.postMessage({ id, end: true }) }
    }
  }

  async close (): Promise<void> {
    const w = this.worker
    this.worker = undefined
    await w?.terminate()
  }

  private started (): Worker {
    if (this.worker !== undefined) return this.worker
    const w = new Worker(SOURCE, { eval: true })
    // Never what keeps the process up: a pending digest belongs to a request, whose socket does.
    w.unref()
    w.on('message', (m: { id: number, seq?: number, md5?: string }) => {
      if (m.md5 !== undefined) {
        this.digests.get(m.id)?.resolve(m.md5)
        this.digests.delete(m.id)
        return
      }
      const key = `${m.id}.${String(m.seq)}`
      this.hashed.get(key)?.resolve()
      this.hashed.delete(key)
    })
    const fail = (e: Error): void => {
      if (this.worker !== w) return
      this.worker = undefined
      for (const p of [...this.digests.values(), ...this.hashed.values()]) p.reject(e)
      this.digests.clear()
      this.hashed.clear()
    }
    w.on('error', fail)
    w.on('exit', code => { fail(new Error(`the MD5 worker exited (${code})`)) })
    this.worker = w
    return w
  }
}
