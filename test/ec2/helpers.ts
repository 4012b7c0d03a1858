import type { Test } from 'tap'
import { aws, awsAsync, type CliResult, type TestNode } from '../helpers/node.js'
import { testImage } from '../helpers/guest.js'

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Polls `probe` until it returns a value, failing with `what` after `timeoutMs`. */
export async function until<T> (what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const got = await probe()
    if (got !== undefined) return got
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(250)
  }
}

export function instance (node: TestNode, id: string): any {
  const r = aws(node, ['ec2', 'describe-instances', '--instance-ids', id])
  if (r.status !== 0) throw new Error(r.stderr)
  return r.json.Reservations[0].Instances[0]
}

export async function waitForState (node: TestNode, id: string, state: string, timeoutMs = 180_000): Promise<any> {
  return await until(`${id} ${state}`, async () => {
    const r = await awsAsync(node, ['ec2', 'describe-instances', '--instance-ids', id])
    const i = r.json?.Reservations?.[0]?.Instances?.[0]
    return i?.State?.Name === state ? i : undefined
  }, timeoutMs)
}

/** The instance's console as GetConsoleOutput returns it (the CLI decodes the base64). */
export async function consoleOf (node: TestNode, id: string): Promise<string> {
  const r = await awsAsync(node, ['ec2', 'get-console-output', '--instance-id', id])
  return (r.json?.Output as string | undefined) ?? ''
}

/** Waits until the console has `count` lines matching `pattern`; returns the last such line. */
export async function waitForConsoleLine (node: TestNode, id: string, pattern: RegExp, count = 1, timeoutMs = 180_000): Promise<string> {
  return await until(`${String(pattern)} on ${id}'s console`, async () => {
    const hits = (await consoleOf(node, id)).split(/\r?\n/).filter(l => pattern.test(l))
    return hits.length >= count ? hits[hits.length - 1] : undefined
  }, timeoutMs)
}

/**
 * The tiny test guest as an AMI, the way a user brings one: the disk image put in a bucket with
 * `aws s3 cp`, then ImportImage.
 */
export async function importTestImage (node: TestNode, bucket = `images-${Date.now()}`): Promise<string> {
  const img = testImage()
  expectOk(aws(node, ['s3', 'mb', `s3://${bucket}`]))
  expectOk(aws(node, ['s3', 'cp', img.raw, `s3://${bucket}/tiny.raw`]))
  const task = expectOk(aws(node, ['ec2', 'import-image', '--description', 'tiny test guest',
    '--disk-containers', `Format=raw,UserBucket={S3Bucket=${bucket},S3Key=tiny.raw}`])).json.ImportTaskId as string
  return await until('the import task', async () => {
    const t = (await awsAsync(node, ['ec2', 'describe-import-image-tasks', '--import-task-ids', task])).json?.ImportImageTasks?.[0]
    if (t?.Status === 'deleted') throw new Error(`import failed: ${String(t.StatusMessage)}`)
    return t?.Status === 'completed' ? t.ImageId as string : undefined
  })
}

export function expectOk (r: CliResult): CliResult {
  if (r.status !== 0) throw new Error(`aws failed (${r.status}): ${r.stderr}`)
  return r
}

/** The AWS error code of a failed CLI call ("An error occurred (Code) when calling …"). */
export function errorCode (r: CliResult): string | undefined {
  return /An error occurred \(([^)]+)\)/.exec(r.stderr)?.[1]
}

/** `aws ec2 …` against `node` (blocking; test/ebs/helpers.ts ec2Cli is the non-blocking one), with assertions that a call succeeds (its JSON) or fails with `code`. */
export function ec2Calls (node: TestNode): {
  ec2: (args: string[]) => CliResult
  ok: (t: Test, args: string[]) => any
  fails: (t: Test, args: string[], code: string, message?: RegExp) => void
} {
  const ec2 = (args: string[]): CliResult => aws(node, ['ec2', ...args])
  return {
    ec2,
    ok: (t, args) => {
      const r = ec2(args)
      t.equal(r.status, 0, `${args[0]}: ${r.stderr}`)
      return r.json
    },
    fails: (t, args, code, message) => {
      const r = ec2(args)
      t.not(r.status, 0, `${args[0]} fails`)
      t.match(r.stderr, `(${code})`, `${args[0]} → ${code}`)
      if (message !== undefined) t.match(r.stderr, message)
    }
  }
}
