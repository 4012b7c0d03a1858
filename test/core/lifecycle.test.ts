import t from 'tap'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { aws, ROOT, startNode } from '../helpers/node.js'

/** Processes whose command line mentions the node's data dir: nats-server and its watchdog. */
function childrenOf (dataDir: string): string[] {
  const r = spawnSync('pgrep', ['-af', dataDir], { encoding: 'utf8' })
  return r.stdout.split('\n').filter(l => l.trim() !== '' && !l.includes('pgrep'))
}

async function gone (dataDir: string, ms = 10_000): Promise<string[]> {
  const until = Date.now() + ms
  let left = childrenOf(dataDir)
  while (left.length > 0 && Date.now() < until) {
    await new Promise(resolve => setTimeout(resolve, 100))
    left = childrenOf(dataDir)
  }
  return left
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`serve - ${signal} stops cleanly and leaves no nats-server running`, async t => {
    const node = await startNode()
    const dataDir = node.dataDir
    t.ok(childrenOf(dataDir).some(l => l.includes('nats-server')), 'embedded nats-server runs in the data dir')
    t.equal(await node.stop(signal), 0)
    t.same(await gone(dataDir), [])
  })
}

t.test('serve - points the hive aws profile at the endpoint it really listens on', async t => {
  const node = await startNode()
  t.teardown(async () => { await node.stop() })
  const config = readFileSync(join(node.home, '.aws', 'config'), 'utf8')
  t.match(config, `[profile hive]\nregion = ${node.region}\nendpoint_url = ${node.endpoint}`)
  const r = aws(node, ['ec2', 'describe-regions'], { AWS_CONFIG_FILE: join(node.home, '.aws', 'config'), AWS_SHARED_CREDENTIALS_FILE: join(node.home, '.aws', 'credentials'), AWS_PROFILE: 'hive' })
  t.equal(r.status, 0, r.stderr)
})

t.test('serve - even SIGKILL leaves no nats-server behind (the watchdog stops it)', async t => {
  const node = await startNode()
  const dataDir = node.dataDir
  await node.stop('SIGKILL')
  t.same(await gone(dataDir), [])
})

function hive (...args: string[]): { status: number | null, out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/hive.js'), ...args], { encoding: 'utf8', env: { ...process.env, HIVE_DATA_DIR: join(tmpdir(), 'hive-lifecycle-never-created') } })
  return { status: r.status, out: r.stdout + r.stderr }
}

t.test('hive --help - documents every flag', async t => {
  const { status, out } = hive('--help')
  t.equal(status, 0)
  for (const flag of ['--cap', '--plugin', '--listen', '--data-dir', '--nats', '--region', '--az', '--node-id', '--tls-cert', '--tls-key', 'admin init']) {
    t.match(out, flag)
  }
})

t.test('serve - an unknown capability is refused with the list of valid ones', async t => {
  const { status, out } = hive('serve', '--cap', 'ec2,warp-drive')
  t.equal(status, 1)
  t.match(out, "unknown capability 'warp-drive'; valid capabilities: ec2")
})

t.test('serve - an unknown flag is refused', async t => {
  const { status, out } = hive('serve', '--warp')
  t.equal(status, 1)
  t.match(out, /Unknown option '--warp'/)
})
