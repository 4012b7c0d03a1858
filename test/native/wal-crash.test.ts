import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readWal } from '../../core/native.js'
import { recordContent } from './fixtures/wal-appender.js'

const APPENDER = fileURLToPath(new URL('./fixtures/wal-appender.ts', import.meta.url))
const KILLS = 50

/** Runs the appender until it has acknowledged some records, SIGKILLs it, returns what it acknowledged. */
async function appendThenKill (dir: string, delayMs: number): Promise<Map<number, number>> {
  const child = spawn(process.execPath, ['--import', 'tsx', APPENDER, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const acked = new Map<number, number>()
  let buffered = ''
  let killTimer: NodeJS.Timeout | undefined
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      const [seq, index] = line.split(' ').map(Number)
      acked.set(seq, index)
    }
    killTimer ??= setTimeout(() => child.kill('SIGKILL'), delayMs)
  })
  await new Promise(resolve => child.once('exit', resolve))
  clearTimeout(killTimer)
  return acked
}

t.test('wal crash - SIGKILL at random moments loses no acknowledged record and returns nothing corrupt', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'hive-wal-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const everAcked = new Map<number, number>()
  let problems = 0
  for (let kill = 0; kill < KILLS; kill++) {
    const acked = await appendThenKill(dir, Math.floor(Math.random() * 150))
    for (const [seq, index] of acked) everAcked.set(seq, index)
    const records = await readWal(dir)
    const bySeq = new Map(records.map(r => [r.sequence, r]))
    for (let i = 0; i < records.length; i++) {
      const r = records[i]
      const index = r.data.length >= 8 ? Number(r.data.readBigUInt64LE()) : -1
      if (r.sequence !== i + 1 || r.type !== 7 || !r.data.equals(recordContent(index))) {
        t.fail(`after kill ${kill}: record ${i} (sequence ${r.sequence}) is not what was written`)
        problems++
      }
    }
    for (const [seq, index] of everAcked) {
      const r = bySeq.get(seq)
      if (r === undefined || !r.data.equals(recordContent(index))) {
        t.fail(`after kill ${kill}: acknowledged sequence ${seq} lost`)
        problems++
      }
    }
    if (problems > 10) break
  }
  t.equal(problems, 0)
  t.ok(everAcked.size > KILLS, `${everAcked.size} acknowledged records over ${KILLS} kills, all recovered`)
})
