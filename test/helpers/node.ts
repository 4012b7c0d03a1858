import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HIVE = join(ROOT, 'bin/hive.js')

export interface TestNode {
  endpoint: string
  natsUrl: string
  dataDir: string
  home: string
  proc: ChildProcess
  region: string
  credentials: { accessKeyId: string, secretAccessKey: string }
  accountId: string
  /** Output of the node so far (stdout logs + stderr). */
  output: () => string
  /** Ends the node and removes its HOME, unless `keep` (to start it again with `home`). */
  stop: (signal?: NodeJS.Signals, opts?: { keep?: boolean }) => Promise<number | null>
}

export interface TestNodeOptions {
  caps?: string[]
  plugins?: string[]
  args?: string[]
  env?: Record<string, string>
  /** Reuse this HOME (and its data dir): restarts a node that was stopped with `keep`. */
  home?: string
  nodeId?: string
}

/** Starts a real `hive serve` process on a free port with its own data dir, HOME and embedded nats-server. */
export async function startNode (opts: TestNodeOptions = {}): Promise<TestNode> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'hive-test-'))
  const dataDir = join(home, 'data')
  const args = [HIVE, 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0',
    '--node-id', opts.nodeId ?? `test-${randomUUID().slice(0, 8)}`, '--cap', (opts.caps ?? ['ec2']).join(','), ...(opts.plugins ?? []).flatMap(p => ['--plugin', p]), ...(opts.args ?? [])]
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, HOME: home, HIVE_LOG_LEVEL: process.env.HIVE_LOG_LEVEL ?? 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => resolve(code)))
  const [endpoint, natsUrl] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hive serve did not start:\n${out}`)), 60_000)
    const early = (code: number | null): void => { clearTimeout(timer); reject(new Error(`hive serve exited ${String(code)}:\n${out}`)) }
    proc.once('exit', early)
    // Removed once seen: the node logs to stderr for the rest of its life.
    const check = (): void => {
      const m = /serving (https?:\/\/[\d.]+:\d+) on nats (\S+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      proc.off('exit', early)
      proc.stderr?.off('data', check)
      const joinUrl = join(dataDir, 'nats-url')
      resolve([m[1], existsSync(joinUrl) ? readFileSync(joinUrl, 'utf8').trim() : m[2]])
    }
    proc.stderr?.on('data', check)
  })
  const config = JSON.parse(readFileSync(join(dataDir, 'hive.json'), 'utf8')) as Record<string, string>
  return {
    endpoint,
    natsUrl,
    dataDir,
    home,
    proc,
    region: config.region,
    accountId: config.accountId,
    credentials: { accessKeyId: config.rootAccessKeyId, secretAccessKey: config.rootSecretAccessKey },
    output: () => out,
    stop: async (signal = 'SIGTERM', o = {}) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      const code = await exited
      if (o.keep !== true) {
        // A scratch directory that will not go away is reported, not a failure of the test that used it.
        try {
          // Instances' QEMUs outlive Hive by design; a test's end is theirs too.
          killProcessesUnder(home)
          // Retried: a child of the node (nats-server, qemu) may still be closing files in it.
          rmSync(home, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 })
        } catch (e) {
          process.stderr.write(`test node cleanup: ${home}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
        }
      }
      return code
    }
  }
}

/** SIGKILLs every process whose command line names a path under `dir` (daemonized QEMUs of a test node). */
export function killProcessesUnder (dir: string): void {
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    let cmdline: string
    try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8') } catch { continue }
    if (Number(pid) !== process.pid && cmdline.includes(`${dir}/`)) {
      try { process.kill(Number(pid), 'SIGKILL') } catch {}
    }
  }
}

/** The aws CLI: Debian's (installed by the bootstrap) when present, else the first on PATH. */
export const AWS_CLI = existsSync('/usr/bin/aws') ? '/usr/bin/aws' : 'aws'

export interface CliResult {
  status: number
  stdout: string
  stderr: string
  json: any
}

function cliEnv (node: TestNode, env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: node.home,
    AWS_ACCESS_KEY_ID: node.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: node.credentials.secretAccessKey,
    AWS_DEFAULT_REGION: node.region,
    AWS_CONFIG_FILE: join(node.home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(node.home, 'no-aws-credentials'),
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_MAX_ATTEMPTS: '1',
    ...env
  }
}

function parsed (stdout: string): unknown {
  try { return stdout.trim() === '' ? undefined : JSON.parse(stdout) } catch { return undefined }
}

/** Runs the real aws CLI against a node with its root keys; parses JSON output when there is some. */
export function aws (node: TestNode, args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(AWS_CLI, ['--endpoint-url', node.endpoint, '--output', 'json', ...args], {
    encoding: 'utf8',
    env: cliEnv(node, env),
    timeout: 120_000
  })
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: parsed(r.stdout) }
}

/** aws() without blocking this process: for tests that answer bus calls from their own event loop. */
export async function awsAsync (node: TestNode, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return await new Promise(resolve => {
    execFile(AWS_CLI, ['--endpoint-url', node.endpoint, '--output', 'json', ...args], { env: cliEnv(node, env), timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr, json: parsed(stdout) })
    })
  })
}

/** SDK client options for a node. */
export function sdkConfig (node: TestNode): { endpoint: string, region: string, credentials: TestNode['credentials'], maxAttempts: number } {
  return { endpoint: node.endpoint, region: node.region, credentials: node.credentials, maxAttempts: 1 }
}
