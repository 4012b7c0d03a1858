#!/usr/bin/env node
// Hive runs its TypeScript directly (tsx), so a --plugin path may be TypeScript too.
import { register } from 'tsx/esm/api'
import './register-hooks.js'

register()
const { main } = await import('../core/cli.ts')
try {
  process.exit(await main(process.argv.slice(2)))
} catch (e) {
  process.stderr.write(`hive: ${process.env.HIVE_DEBUG ? e.stack : e.message}\n`)
  process.exit(1)
}
