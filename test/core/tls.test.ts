import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { aws, startNode } from '../helpers/node.js'

t.test('serve --tls-cert/--tls-key - the edge speaks HTTPS to the aws CLI', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'hive-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8' })
  t.equal(made.status, 0, made.stderr)
  const node = await startNode({ args: ['--tls-cert', cert, '--tls-key', key] })
  t.teardown(async () => { await node.stop() })
  t.match(node.endpoint, /^https:\/\//)
  const r = aws(node, ['--no-verify-ssl', 'ec2', 'describe-availability-zones'])
  t.equal(r.status, 0, r.stderr)
  t.equal(r.json.AvailabilityZones[0].ZoneName, `${node.region}a`)
})
