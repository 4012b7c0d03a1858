/** What the WAL tests share: a temp dir removed after the test, and payloads that name their record. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function tempDir (t: { teardown: (fn: () => void) => void }, prefix = 'hive-wal-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** `size` bytes that differ for every record `i` and every offset. */
export function payload (i: number, size: number): Buffer {
  const b = Buffer.alloc(size)
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7) & 255
  return b
}
