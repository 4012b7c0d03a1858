import { spawn } from 'node:child_process'
import t from 'tap'
import { startNode } from '../helpers/node.js'
import { createVolume, nbdOpts, qemuIo } from './helpers.js'

const WRITES = 4000
const SIZE = 65536

t.test('SIGKILL while qemu-io writes with periodic flushes: every write before the last completed flush, and every FUA write, reads back', async t => {
  const first = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-crash' })
  const vol = await createVolume(first, 1)

  // Command k: write number w to its own 64 KiB slot; a flush after every 16th write and every
  // 50th write with FUA. qemu-io runs them in order, so a write that completed proves every
  // command before it (flushes included) completed.
  const commands: Array<{ kind: 'write' | 'flush', w: number, fua: boolean }> = []
  for (let w = 0; w < WRITES; w++) {
    commands.push({ kind: 'write', w, fua: w % 50 === 49 })
    if (w % 16 === 15) commands.push({ kind: 'flush', w, fua: false })
  }
  const pattern = (w: number): number => (w % 251) + 1
  const args = ['-oL', 'qemu-io', '--image-opts', ...commands.flatMap(c => ['-c', c.kind === 'flush'
    ? 'flush'
    : `write ${c.fua ? '-f ' : ''}-P ${pattern(c.w)} ${c.w * SIZE} ${SIZE}`]), nbdOpts(first, vol)]
  const io = spawn('stdbuf', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const killed = new Promise<void>(resolve => {
    io.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if ((out.match(/^wrote /gm) ?? []).length >= 600 && first.proc.exitCode === null) {
        first.proc.kill('SIGKILL')
        resolve()
      }
    })
  })
  const ended = new Promise<void>(resolve => io.on('close', () => resolve()))
  await killed
  await ended
  await first.stop('SIGKILL', { keep: true })

  const done = new Set([...out.matchAll(/^wrote \d+\/\d+ bytes at offset (\d+)/gm)].map(m => Number(m[1]) / SIZE))
  t.ok(done.size >= 600 && done.size < WRITES, `killed mid-stream (${done.size} of ${WRITES} writes acknowledged)`)
  const lastDone = Math.max(...done)
  // The last flush command that a later completed write proves finished.
  let lastFlushCovers = -1
  for (const c of commands) if (c.kind === 'flush' && c.w < lastDone) lastFlushCovers = c.w
  const mustHold = [...done].filter(w => w <= lastFlushCovers || commands.some(c => c.kind === 'write' && c.w === w && c.fua))
  t.ok(mustHold.length > 0)

  const again = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-crash', home: first.home })
  t.teardown(async () => { await again.stop() })
  const reads = mustHold.map(w => `read -P ${pattern(w)} ${w * SIZE} ${SIZE}`)
  for (let i = 0; i < reads.length; i += 500) {
    const r = await qemuIo(again, vol, reads.slice(i, i + 500))
    t.equal(r.status, 0, r.stderr)
    t.notMatch(r.stdout, /Pattern verification failed/, 'acknowledged and flushed writes read back exactly')
  }
})
