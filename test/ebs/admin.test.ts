import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { aws, startNode } from '../helpers/node.js'
import { createVolume, hiveAdmin, nbdUri, qemuIo, run, waitFor } from './helpers.js'

const node = await startNode({ caps: ['ec2', 'ebs', 's3'], nodeId: 'ebs-admin' })
const scratch = mkdtempSync(join(tmpdir(), 'hive-ebs-admin-'))
t.teardown(async () => {
  await node.stop()
  rmSync(scratch, { recursive: true, force: true })
})

const admin = hiveAdmin

let vol = ''

t.test('volumes list shows every volume with its size, type, state and home node', async t => {
  vol = await createVolume(node, 1, ['--volume-type', 'gp2'])
  const other = await createVolume(node, 2, ['--volume-type', 'gp3'])
  const r = await admin(node, ['volumes', 'list'])
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.match(lines[0], /^VOLUME\s+SIZE\s+TYPE\s+STATE\s+NODE\s+ATTACHED TO$/)
  t.match(r.stdout, new RegExp(`^${vol}\\s+1G\\s+gp2\\s+available\\s+ebs-admin\\s*$`, 'm'))
  t.match(r.stdout, new RegExp(`^${other}\\s+2G\\s+gp3\\s+available\\s+ebs-admin\\s*$`, 'm'))
  const bare = await admin(node, ['volumes'])
  t.equal(bare.status, 0, bare.stderr)
  t.match(bare.stdout, vol, 'volumes alone lists')
})

t.test('volumes export writes raw and qcow2 copies that qemu-img finds identical to the volume', async t => {
  const w = await qemuIo(node, vol, ['write -P 0x61 0 3M', 'write -P 0x62 100M 64k', 'write -P 0x63 1073676288 65536', 'flush'])
  t.equal(w.status, 0, w.stderr)
  for (const format of ['raw', 'qcow2']) {
    const file = join(scratch, `export.${format}`)
    const r = await admin(node, ['volumes', 'export', vol, file, '--format', format])
    t.equal(r.status, 0, `export ${format}: ${r.stdout}${r.stderr}`)
    t.match(r.stdout, /exporting vol-[0-9a-f]+ \[#+\] 100%/)
    const info = await run('qemu-img', ['info', '--output', 'json', file])
    t.equal(JSON.parse(info.stdout).format, format)
    t.equal(JSON.parse(info.stdout)['virtual-size'], 1024 ** 3)
    const cmp = await run('qemu-img', ['compare', '-f', format, '-F', 'raw', file, nbdUri(node, vol)])
    t.equal(cmp.status, 0, `${format} export matches: ${cmp.stdout}${cmp.stderr}`)
    rmSync(file)
  }
  const dflt = join(scratch, 'default')
  const r = await admin(node, ['volumes', 'export', vol, dflt])
  t.equal(r.status, 0, r.stderr)
  t.equal(JSON.parse((await run('qemu-img', ['info', '--output', 'json', dflt])).stdout).format, 'raw', 'raw by default')
  rmSync(dflt)
})

t.test('volumes import makes a new volume of a qcow2 image, byte for byte', async t => {
  const image = join(scratch, 'disk.qcow2')
  // 1.5 GiB: the volume is rounded up to 2 GiB, and the tail past the image reads zeros.
  const made = await run('qemu-img', ['create', '-f', 'qcow2', image, '1536M'])
  t.equal(made.status, 0, made.stderr)
  const w = await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x71 0 1M', '-c', 'write -P 0x72 700M 2M', '-c', 'write -P 0x73 1610481664 131072', image])
  t.equal(w.status, 0, w.stderr)
  const r = await admin(node, ['volumes', 'import', image, '--type', 'gp2'])
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  const id = /^(vol-[0-9a-f]{17})$/m.exec(r.stdout)?.[1]
  t.ok(id, `the new volume's id is printed: ${r.stdout}`)
  if (id === undefined) return
  const d = aws(node, ['ec2', 'describe-volumes', '--volume-ids', id])
  t.equal(d.json.Volumes[0].Size, 2)
  t.equal(d.json.Volumes[0].VolumeType, 'gp2')
  t.equal(d.json.Volumes[0].State, 'available')
  // Not strict (-s): the volume is larger than the image, and compare wants the extra to be zeros.
  const cmp = await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', image, nbdUri(node, id)])
  t.equal(cmp.status, 0, `import matches: ${cmp.stdout}${cmp.stderr}`)
  const read = await qemuIo(node, id, ['read -P 0x71 0 1M', 'read -P 0x72 700M 2M', 'read -P 0x73 1610481664 131072', 'read -P 0 1536M 512M'])
  t.equal(read.status, 0, read.stderr)
  t.notMatch(read.stdout, /Pattern verification failed/)
  const listed = await admin(node, ['volumes', 'list'])
  t.match(listed.stdout, new RegExp(`^${id}\\s+2G\\s+gp2\\s+available`, 'm'))
})

t.test('an exported qcow2 imports back to the same bytes', async t => {
  const file = join(scratch, 'round.qcow2')
  t.equal((await admin(node, ['volumes', 'export', vol, file, '--format', 'qcow2'])).status, 0)
  const r = await admin(node, ['volumes', 'import', file])
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  const id = /^(vol-[0-9a-f]{17})$/m.exec(r.stdout)?.[1] as string
  await waitFor(() => aws(node, ['ec2', 'describe-volumes', '--volume-ids', id]).json?.Volumes?.[0]?.Size === 1, `${id} is 1 GiB`)
  const cmp = await run('qemu-img', ['compare', '-s', '-F', 'raw', '-f', 'raw', nbdUri(node, vol), nbdUri(node, id)])
  t.equal(cmp.status, 0, `${cmp.stdout}${cmp.stderr}`)
  rmSync(file)
})

t.test('bad usage exits 2, an unknown volume or file fails', async t => {
  const cases: Array<[string[], number, RegExp]> = [
    [['volumes', 'export'], 2, /usage: hive admin ebs volumes/],
    [['volumes', 'export', vol], 2, /usage: hive admin ebs volumes/],
    [['volumes', 'export', vol, join(scratch, 'x'), '--format', 'vmdk'], 2, /--format is raw or qcow2/],
    [['volumes', 'import'], 2, /usage: hive admin ebs volumes/],
    [['volumes', 'import', join(scratch, 'no-such-file')], 2, /no file/],
    [['volumes', 'frobnicate'], 2, /usage: hive admin ebs volumes/],
    [['volumes', 'export', 'vol-0123456789abcdef0', join(scratch, 'x')], 1, /no volume vol-0123456789abcdef0/]
  ]
  for (const [args, code, out] of cases) {
    const r = await admin(node, args)
    t.equal(r.status, code, `${args.join(' ')} exits ${code}`)
    t.match(r.stdout + r.stderr, out)
  }
  const unknown = await admin(node, ['nosuch'])
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /unknown command 'nosuch'/)
  t.match(unknown.stderr, /hive admin ebs volumes/)
  t.match(unknown.stderr, /hive admin ebs reclaim/)
})
