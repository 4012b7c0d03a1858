import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'

/**
 * The embedded message bus: a `nats-server` child with JetStream, its store in the data dir, on a
 * free loopback port. It runs under a tiny sh watchdog holding a pipe from us: when this process
 * dies for any reason — even SIGKILL, which leaves no chance to clean up — the pipe closes and the
 * watchdog stops nats-server, so no orphan outlives Hive.
 */
// sh gives background jobs /dev/null as stdin, so the pipe is kept on fd 3 for the reader.
const WATCHDOG = 'trap "" INT; exec 3<&0; "$@" & child=$!; (read _ignored <&3; kill -TERM "$child" 2>/dev/null) & wait "$child"'

export interface EmbeddedNats {
  /** nats://<token>@host:port — what another node passes as --nats to join. */
  url: string
  pid: number
  stop: () => Promise<void>
}

export async function startEmbeddedNats (dataDir: string, log: Logger, bin = process.env.HIVE_NATS_SERVER ?? 'nats-server'): Promise<EmbeddedNats> {
  const storeDir = join(dataDir, 'nats')
  mkdirSync(storeDir, { recursive: true })
  const token = randomBytes(24).toString('base64url')
  // In a 0600 file, not on the command line, where any local user would read it in `ps`.
  const conf = join(storeDir, 'nats.conf')
  // max_payload: S3 shards (up to 1 MiB plus headers) cross the bus whole; 8 MB is NATS's advised ceiling.
  writeFileSync(conf, `authorization { token: "${token}" }\nmax_payload: 8MB\n`, { mode: 0o600 })
  chmodSync(conf, 0o600)
  const pidFile = join(storeDir, 'nats-server.pid')
  await outlivedPrevious(pidFile, storeDir, log)
  const args = ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', storeDir, '-n', 'hive-embedded', '-c', conf, '-P', pidFile]
  // detached: a Ctrl-C in the terminal reaches only us; we stop the child in order, after draining.
  const child = spawn('sh', ['-c', WATCHDOG, 'hive-nats-watchdog', bin, ...args], { stdio: ['pipe', 'ignore', 'pipe'], detached: true })
  const url = await readyUrl(child, bin)
  log.info({ url, pid: child.pid }, 'embedded nats-server started')
  return {
    url: url.replace('nats://', `nats://${token}@`),
    pid: child.pid ?? -1,
    stop: async () => await stopChild(child)
  }
}

/**
 * After Hive is SIGKILLed its watchdog stops nats-server, but that server may still be flushing its
 * JetStream store when a restarted Hive starts the next one on the same directory — two servers on
 * one store corrupt it. So wait for the previous one (it has seconds to finish), then kill it.
 */
async function outlivedPrevious (pidFile: string, storeDir: string, log: Logger): Promise<void> {
  let pid: number
  try { pid = Number(readFileSync(pidFile, 'utf8').trim()) } catch { return }
  const running = (): boolean => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(storeDir) } catch { return false }
  }
  if (!Number.isInteger(pid) || pid <= 0 || !running()) return
  log.warn({ pid }, 'waiting for the previous embedded nats-server to exit')
  for (let waited = 0; waited < 10_000 && running(); waited += 50) await new Promise(resolve => setTimeout(resolve, 50))
  if (!running()) return
  try { process.kill(pid, 'SIGKILL') } catch {}
  while (running()) await new Promise(resolve => setTimeout(resolve, 20))
}

function readyUrl (child: ChildProcess, bin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = ''
    let url: string | undefined
    const fail = (why: string): void => {
      child.stdin?.end()
      reject(new Error(`embedded nats-server did not start (${why}). Is '${bin}' installed? ` +
        'Run `npm run bootstrap` (as root it installs Debian\'s nats-server) or pass --nats URL.\n' + seen.slice(-2000)))
    }
    const timer = setTimeout(() => fail('timeout'), 20_000)
    child.once('error', e => { clearTimeout(timer); fail(e.message) })
    child.once('exit', code => { clearTimeout(timer); fail(`exit code ${String(code)}`) })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      if (url !== undefined) return
      seen += chunk
      const m = /Listening for client connections on ([\d.]+:\d+)/.exec(seen)
      if (m !== null && /Server is ready/.test(seen)) {
        url = `nats://${m[1]}`
        clearTimeout(timer)
        child.removeAllListeners('exit')
        resolve(url)
      }
    })
  })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.stdin?.end()
  const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL') }, 10_000)
  await exited
  clearTimeout(timer)
}

/** Connection options for a --nats URL: a user without password in it is a token (nats://TOKEN@host:port). */
export function natsServerOptions (url: string): { servers: string, token?: string, user?: string, pass?: string } {
  const u = new URL(url)
  const servers = `${u.protocol}//${u.host}`
  if (u.username === '') return { servers }
  const user = decodeURIComponent(u.username)
  return u.password === '' ? { servers, token: user } : { servers, user, pass: decodeURIComponent(u.password) }
}

/** The URL without its secret, for logs. */
export function redactedNatsUrl (url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//')
}
