import t from 'tap'
import { readFileSync } from 'node:fs'
import { compatibilityMarkdown } from '../../scripts/compatibility.js'

t.test('docs/COMPATIBILITY.md - matches what the capabilities declare (run npm run compat)', async t => {
  const onDisk = readFileSync(new URL('../../docs/COMPATIBILITY.md', import.meta.url), 'utf8')
  t.equal(onDisk, await compatibilityMarkdown())
})
