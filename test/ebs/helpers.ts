import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import type { Test } from 'tap'
import { aws, awsAsync, ROOT, type CliResult, type TestNode } from '../helpers/node.js'

/** The NBD address qemu tools take for a volume of `node`. */
export function nbdUri (node: TestNode, volumeId: string): string {
  return `nbd+unix:///${volumeId}?socket=${join(node.dataDir, 'ebs', 'nbd.sock')}`
}

/** qemu-io's --image-opts spec for a volume. */
export function nbdOpts (node: TestNode, volumeId: string): string {
  return `driver=nbd,path=${join(node.dataDir, 'ebs', 'nbd.sock')},export=${volumeId}`
}

export interface ToolResult { status: number | null, stdout: string, stderr: string }

/** Runs qemu-io with `commands` against a volume; resolves with its output (never throws). */
export async function qemuIo (node: TestNode, volumeId: string, commands: string[], args: string[] = []): Promise<ToolResult> {
  return await run('qemu-io', ['--image-opts', ...args, ...commands.flatMap(c => ['-c', c]), nbdOpts(node, volumeId)])
}

export async function run (cmd: string, args: string[], timeoutMs = 300_000): Promise<ToolResult> {
  return await new Promise(resolve => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.on('close', status => { clearTimeout(timer); resolve({ status, stdout, stderr }) })
  })
}

/** `hive admin ebs …` as an operator runs it: a child process that finds the cluster through the data dir. */
/** `hive admin <capability> …` (ebs unless said) against a node, as an operator runs it. */
export async function hiveAdmin (node: TestNode, args: string[], capability = 'ebs'): Promise<ToolResult> {
  return await new Promise(resolve => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/hive.js'), 'admin', capability, ...args, '--data-dir', node.dataDir], {
      cwd: ROOT, env: { ...process.env, HOME: node.home }, stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    p.on('close', status => resolve({ status, stdout, stderr }))
  })
}

export function zoneOf (node: TestNode): string {
  return aws(node, ['ec2', 'describe-availability-zones']).json.AvailabilityZones[0].ZoneName as string
}

/** Creates a volume through the aws CLI and returns its id once it is available. */
export async function createVolume (node: TestNode, sizeGiB: number, extra: string[] = []): Promise<string> {
  const r = aws(node, ['ec2', 'create-volume', '--size', String(sizeGiB), '--availability-zone', zoneOf(node), ...extra])
  if (r.status !== 0) throw new Error(`create-volume failed: ${r.stderr}`)
  const id = r.json.VolumeId as string
  await waitFor(() => aws(node, ['ec2', 'describe-volumes', '--volume-ids', id]).json?.Volumes?.[0]?.State === 'available', `${id} available`)
  return id
}

export async function snapshot (node: TestNode, volumeId: string): Promise<string> {
  const r = aws(node, ['ec2', 'create-snapshot', '--volume-id', volumeId])
  if (r.status !== 0) throw new Error(`create-snapshot failed: ${r.stderr}`)
  const id = r.json.SnapshotId as string
  await waitFor(() => aws(node, ['ec2', 'describe-snapshots', '--snapshot-ids', id]).json?.Snapshots?.[0]?.State === 'completed', `${id} completed`)
  return id
}

export async function waitFor (cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** Bytes of a whole volume, read with qemu-img convert into `file`. */
export function convertOut (node: TestNode, volumeId: string, file: string): ToolResult {
  const r = spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', nbdUri(node, volumeId), file], { encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/**
 * `aws ec2 …` without blocking, with pass/fail assertions: for tests whose ec2 stand-in answers bus
 * calls from this process's event loop, which the synchronous aws() would stall.
 */
export function ec2Cli (node: TestNode): {
  cli: (args: string[]) => Promise<CliResult>
  ok: (t: Test, args: string[]) => Promise<any>
  fails: (t: Test, args: string[], code: string, message?: RegExp) => Promise<CliResult>
} {
  const cli = async (args: string[]): Promise<CliResult> => await awsAsync(node, ['ec2', ...args])
  return {
    cli,
    async ok (t, args) {
      const r = await cli(args)
      t.equal(r.status, 0, r.stderr)
      return r.json
    },
    async fails (t, args, code, message) {
      const r = await cli(args)
      t.not(r.status, 0, `${args[0]} fails`)
      t.match(r.stderr, `(${code})`, `${args[0]} → ${code}`)
      if (message !== undefined) t.match(r.stderr, message)
      return r
    }
  }
}
