import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { skipVmTests } from '../helpers/guest.js'
import { aws, startNode } from '../helpers/node.js'
import { expectOk, importTestImage, until, waitForConsoleLine, waitForState } from './helpers.js'

// Guests boot under TCG, slower still on a loaded CI machine: more than the suite's 300 s per file.
t.setTimeout(900_000)

/** Whether the process runs: a daemonized QEMU that exited may linger as a zombie where init does not reap. */
const alive = (pid: number): boolean => {
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

t.test('a Hive restart keeps instances running and managed; a QEMU that died meanwhile is reported stopped', { skip: skipVmTests }, async t => {
  const first = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ec2-restart' })
  const imageId = await importTestImage(first)
  const launch = (): string => expectOk(aws(first, ['ec2', 'run-instances', '--image-id', imageId, '--instance-type', 't3.micro'])).json.Instances[0].InstanceId
  const kept = launch()
  const lost = launch()
  for (const id of [kept, lost]) {
    await waitForState(first, id, 'running')
    await waitForConsoleLine(first, id, /^HIVE-GUEST-READY/)
  }
  const pidOf = (id: string): number => Number(readFileSync(join(first.dataDir, 'ec2', 'instances', id, 'qemu.pid'), 'utf8'))
  const keptPid = pidOf(kept)
  const lostPid = pidOf(lost)

  t.equal(await first.stop('SIGTERM', { keep: true }), 0, 'Hive stopped cleanly')
  t.ok(alive(keptPid), 'the guests outlive Hive')
  process.kill(lostPid, 'SIGKILL')
  await until('the killed QEMU to go', () => alive(lostPid) ? undefined : true)

  const again = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ec2-restart', home: first.home })
  t.teardown(async () => { await again.stop() })
  const reported = await waitForState(again, lost, 'stopped', 60_000)
  t.equal(reported.StateReason.Code, 'Server.InternalError', 'the QEMU that died is stopped with a state reason')
  const describe = expectOk(aws(again, ['ec2', 'describe-instances', '--instance-ids', kept])).json.Reservations[0].Instances[0]
  t.equal(describe.State.Name, 'running', 'the surviving instance is still running')
  t.equal(pidOf(kept), keptPid, 'the same QEMU process')

  expectOk(aws(again, ['ec2', 'stop-instances', '--instance-ids', kept]))
  await waitForState(again, kept, 'stopped')
  await waitForConsoleLine(again, kept, /^HIVE-POWER-BUTTON/)
  t.notOk(alive(keptPid), 'stop reached the re-attached QEMU')
  expectOk(aws(again, ['ec2', 'start-instances', '--instance-ids', lost]))
  await waitForState(again, lost, 'running')
  await waitForConsoleLine(again, lost, /^HIVE-GUEST-READY/, 2)
  expectOk(aws(again, ['ec2', 'terminate-instances', '--instance-ids', kept, lost]))
  await waitForState(again, kept, 'terminated')
  await waitForState(again, lost, 'terminated')
})
