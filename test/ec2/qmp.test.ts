import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { QmpClient, QmpClosedError, QmpError, type QmpEvent } from '../../plugins/ec2/qmp.js'
import { waitForSocket } from '../helpers/guest.js'

// A real QEMU with no guest: -S keeps the vCPU stopped, which is all QMP needs.
interface Qemu { proc: ChildProcess, socket: string, exited: Promise<void> }

const dir = mkdtempSync(join(tmpdir(), 'hive-qmp-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

async function startQemu (t: Test): Promise<Qemu> {
  const socket = join(dir, `qmp-${n++}.sock`)
  const proc = spawn('qemu-system-x86_64', ['-nodefaults', '-no-user-config', '-display', 'none', '-S', '-machine', 'pc', '-accel', 'tcg',
    '-qmp', `unix:${socket},server=on,wait=off`], { stdio: 'ignore' })
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
  t.teardown(async () => { proc.kill('SIGKILL'); await exited })
  await waitForSocket(socket, proc, () => 'qemu-system-x86_64')
  return { proc, socket, exited }
}

t.test('qmp - greeting, capabilities and a command\'s return value', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket)
  t.teardown(() => qmp.close())
  t.type(qmp.greeting.version.qemu.major, 'number')
  t.same(await qmp.execute('query-status'), { status: 'prelaunch', singlestep: false, running: false })
  const version = await qmp.execute<{ qemu: { major: number } }>('query-version')
  t.equal(version.qemu.major, qmp.greeting.version.qemu.major)
})

t.test('qmp - a refused command rejects with QMP\'s class and description', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket)
  t.teardown(() => qmp.close())
  const missing = await qmp.execute('no-such-command').catch((e: unknown) => e)
  t.ok(missing instanceof QmpError)
  t.match(missing, { command: 'no-such-command', qmpClass: 'CommandNotFound', desc: /no-such-command/ })
  const noDevice = await qmp.execute('device_del', { id: 'nothing-here' }).catch((e: unknown) => e)
  t.match(noDevice, { qmpClass: 'DeviceNotFound', desc: /nothing-here/ })
  const badArgs = await qmp.execute('query-status', { bogus: 1 }).catch((e: unknown) => e)
  t.match(badArgs, { qmpClass: 'GenericError', desc: /bogus/ })
  t.same(await qmp.execute('query-status'), { status: 'prelaunch', singlestep: false, running: false }, 'still usable after errors')
})

t.test('qmp - events reach subscribers, and waitForEvent picks the one asked for', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket)
  t.teardown(() => qmp.close())
  const seen: QmpEvent[] = []
  const off = qmp.onEvent(e => seen.push(e))
  const resumed = qmp.waitForEvent('RESUME')
  await qmp.execute('cont')
  t.equal((await resumed).event, 'RESUME')
  const stopped = qmp.waitForEvent('STOP')
  await qmp.execute('stop')
  const stop = await stopped
  t.type(stop.timestamp.seconds, 'number')
  t.same(seen.map(e => e.event), ['RESUME', 'STOP'])
  off()
  const again = qmp.waitForEvent('RESUME')
  await qmp.execute('cont')
  await again
  t.equal(seen.length, 2, 'an unsubscribed listener hears nothing more')
})

t.test('qmp - waitForEvent rejects when no such event comes in time', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket)
  t.teardown(() => qmp.close())
  await t.rejects(qmp.waitForEvent('DEVICE_DELETED', () => true, 50), /no DEVICE_DELETED event/)
})

t.test('qmp - many commands in flight each get their own answer', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket)
  t.teardown(() => qmp.close())
  const calls = Array.from({ length: 60 }, async (_, i) => {
    switch (i % 3) {
      case 0: return await qmp.execute<{ running: boolean }>('query-status').then(s => `status ${String(s.running)}`)
      case 1: return await qmp.execute('qom-get', { path: '/machine', property: 'type' }).then(v => `type ${String(v)}`)
      default: return await qmp.execute('device_del', { id: `dev${i}` }).catch((e: QmpError) => `error ${e.desc}`)
    }
  })
  const answers = await Promise.all(calls)
  answers.forEach((a, i) => {
    if (i % 3 === 0) t.equal(a, 'status false')
    else if (i % 3 === 1) t.match(a, /^type pc-i440fx/)
    else t.match(a, new RegExp(`^error .*'dev${i}'`))
  })
})

t.test('qmp - QEMU exiting rejects the commands in flight and refuses new ones', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket)
  let closedWith: Error | undefined
  qmp.onClose(err => { closedWith = err })
  // A stopped process answers nothing, so the command is still in flight when it dies.
  q.proc.kill('SIGSTOP')
  const inFlight = qmp.execute('query-status').catch((e: unknown) => e)
  q.proc.kill('SIGKILL')
  await q.exited
  t.ok(await inFlight instanceof QmpClosedError)
  t.ok(qmp.closed)
  t.match(closedWith?.message, /closed by QEMU/)
  await t.rejects(qmp.execute('query-status'), QmpClosedError)
})

t.test('qmp - quit: QEMU exits and the connection ends', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket)
  const closed = new Promise<Error>(resolve => qmp.onClose(resolve))
  await qmp.execute('quit').catch((e: unknown) => { if (!(e instanceof QmpClosedError)) throw e })
  await closed
  await q.exited
  t.equal(q.proc.exitCode, 0)
})

t.test('qmp - close() rejects what is in flight; QEMU runs on and takes the next client', async t => {
  const q = await startQemu(t)
  const first = await QmpClient.connect(q.socket)
  q.proc.kill('SIGSTOP')
  const inFlight = first.execute('query-status')
  first.close()
  await t.rejects(inFlight, /closed by Hive/)
  q.proc.kill('SIGCONT')
  const second = await QmpClient.connect(q.socket)
  t.teardown(() => second.close())
  t.same(await second.execute('query-status'), { status: 'prelaunch', singlestep: false, running: false })
})

t.test('qmp - a second client gets no greeting while the first is connected', async t => {
  const q = await startQemu(t)
  const first = await QmpClient.connect(q.socket)
  t.teardown(() => first.close())
  await t.rejects(QmpClient.connect(q.socket, { timeoutMs: 300 }), /no greeting/)
})

t.test('qmp - an unanswered command times out, and later answers do not confuse the next one', async t => {
  const q = await startQemu(t)
  const qmp = await QmpClient.connect(q.socket, { commandTimeoutMs: 200 })
  t.teardown(() => qmp.close())
  q.proc.kill('SIGSTOP')
  await t.rejects(qmp.execute('query-version'), /no answer within 200 ms/)
  q.proc.kill('SIGCONT')
  t.same(await qmp.execute('query-status'), { status: 'prelaunch', singlestep: false, running: false })
})

t.test('qmp - connecting to a socket nobody listens on fails', async t => {
  await t.rejects(QmpClient.connect(join(dir, 'nobody.sock')), /ENOENT/)
})
