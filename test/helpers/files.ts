/** File surgery for tests that prove damage on disk is caught. */
import { closeSync, openSync, readSync, writeSync } from 'node:fs'

/** XORs the byte at `position` of `path` with `mask`: one flipped byte, in place. */
export function flipByte (path: string, position: number, mask = 0x10): void {
  const fd = openSync(path, 'r+')
  try {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, position)
    b[0] ^= mask
    writeSync(fd, b, 0, 1, position)
  } finally {
    closeSync(fd)
  }
}
