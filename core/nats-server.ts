import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'

/**
 * The embedded message bus: a `nats-server` child with JetStream, its store in the data dir, on a
 * free loopback port. It runs under a tiny sh watchdog holding a pipe from us: when this process
 * dies for any reason — even SIGKILL, which leaves no chance to clean up — the pipe closes and the
 * watchdog stops nats-server, so no orphan outlives Hive.
 */
const WATCHDOG = 'trap "" INT; "$@" & child=$!; read _ignored; kill -TERM "$child" 2>/dev/null; wait "$child"'

export interface EmbeddedNats {
  url: string
  pid: number
  stop: () => Promise<void>
}

export async function startEmbeddedNats (dataDir: string, log: Logger, bin = process.env.HIVE_NATS_SERVER ?? 'nats-server'): Promise<EmbeddedNats> {
  const storeDir = join(dataDir, 'nats')
  mkdirSync(storeDir, { recursive: true })
  const args = ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', storeDir, '-n', 'hive-embedded']
  // detached: a Ctrl-C in the terminal reaches only us; we stop the child in order, after draining.
  const child = spawn('sh', ['-c', WATCHDOG, 'hive-nats-watchdog', bin, ...args], { stdio: ['pipe', 'ignore', 'pipe'], detached: true })
  const url = await readyUrl(child, bin)
  log.info({ url, pid: child.pid }, 'embedded nats-server started')
  return {
    url,
    pid: child.pid ?? -1,
    stop: async () => await stopChild(child)
  }
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
