import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { crc32c, crc32cKernel } from '../../core/native.js'

t.test('crc32c - RFC 3720 (iSCSI) B.4 known answers and the check value', async t => {
  t.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa)
  t.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43)
  t.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e)
  t.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c)
  const pdu = Buffer.from('01c00000000000000000000000000000' + '14000000' + '00000400' + '00000014' + '00000018' + '28000000' + '00000000' + '02000000' + '00000000', 'hex')
  t.equal(crc32c(pdu), 0xd9963a56)
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
})

t.test('crc32c - streaming over any split equals one shot', async t => {
  const data = randomBytes(5000)
  const whole = crc32c(data)
  for (const cut of [0, 1, 7, 64, 255, 4096, 4999, 5000]) {
    t.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole, `split at ${cut}`)
  }
  t.equal(crc32c(Buffer.alloc(0), 0x1234), 0x1234)
})

t.test('crc32c - every kernel this CPU runs agrees (forced with HIVE_CRC32C_KERNEL)', async t => {
  const probe = "import { crc32c, crc32cKernel } from './core/native.ts'; const b = Buffer.alloc(1 << 20); for (let i = 0; i < b.length; i++) b[i] = (i * 131) & 255; " +
    "const sums = [0, 1, 15, 64, 255, 4096, 65537, b.length].map(n => crc32c(b.subarray(3, 3 + Math.min(n, b.length - 3)))); console.log(JSON.stringify({ kernel: crc32cKernel(), sums }))"
  const run = (kernel?: string): { kernel: string, sums: number[] } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { encoding: 'utf8', env: { ...process.env, ...(kernel === undefined ? {} : { HIVE_CRC32C_KERNEL: kernel }) } })
    return JSON.parse(r.stdout) as { kernel: string, sums: number[] }
  }
  const best = run()
  t.equal(best.kernel, crc32cKernel())
  for (const kernel of ['scalar', 'sse42', 'vpclmul']) {
    const forced = run(kernel)
    t.same(forced.sums, best.sums, `${forced.kernel} (asked for ${kernel})`)
  }
})
