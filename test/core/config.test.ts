import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initNode, readConfig, upsertIniSection } from '../../core/config.js'

function sandbox (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'hive-config-'))
  const saved = { AWS_CONFIG_FILE: process.env.AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE: process.env.AWS_SHARED_CREDENTIALS_FILE }
  process.env.AWS_CONFIG_FILE = join(dir, 'aws', 'config')
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'aws', 'credentials')
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

t.test('admin init - writes config, root keys and the hive aws profile', async t => {
  const dir = sandbox(t)
  const { config, created } = initNode({ dataDir: join(dir, 'data'), listen: '127.0.0.1:9999', region: 'eu-west-1' })
  t.ok(created)
  t.match(config.rootAccessKeyId, /^AKIA[A-Z2-7]{16}$/)
  t.equal(config.rootSecretAccessKey.length, 40)
  t.match(config.accountId, /^\d{12}$/)
  t.equal(config.az, 'eu-west-1a')
  t.same(readConfig(join(dir, 'data')), config)
  const creds = readFileSync(join(dir, 'aws', 'credentials'), 'utf8')
  t.match(creds, `[hive]\naws_access_key_id = ${config.rootAccessKeyId}\naws_secret_access_key = ${config.rootSecretAccessKey}`)
  const cfg = readFileSync(join(dir, 'aws', 'config'), 'utf8')
  t.match(cfg, '[profile hive]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:9999')
})

t.test('admin init - is idempotent: keys and account survive, flags apply', async t => {
  const dir = sandbox(t)
  const first = initNode({ dataDir: join(dir, 'data') }).config
  const again = initNode({ dataDir: join(dir, 'data') })
  t.notOk(again.created)
  t.same(again.config, first)
  const moved = initNode({ dataDir: join(dir, 'data'), listen: '127.0.0.1:8080' }).config
  t.equal(moved.rootSecretAccessKey, first.rootSecretAccessKey)
  t.equal(moved.listen, '127.0.0.1:8080')
  t.match(readFileSync(join(dir, 'aws', 'config'), 'utf8'), 'endpoint_url = http://127.0.0.1:8080')
})

t.test('aws profile - other profiles in the files are kept', async t => {
  const dir = sandbox(t)
  const file = join(dir, 'credentials')
  writeFileSync(file, '[default]\naws_access_key_id = X\n\n[hive]\naws_access_key_id = OLD\n\n[other]\nk = v\n')
  upsertIniSection(file, 'hive', { aws_access_key_id: 'NEW' })
  const text = readFileSync(file, 'utf8')
  t.match(text, '[default]\naws_access_key_id = X')
  t.match(text, '[other]\nk = v')
  t.match(text, '[hive]\naws_access_key_id = NEW')
  t.notMatch(text, 'OLD')
})
