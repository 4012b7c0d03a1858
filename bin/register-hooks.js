// `node --import ./bin/register-hooks.js …`: what bin/hive.js sets up, for tests and scripts that
// load plugins in-process.
import { register } from 'node:module'

register('./resolve-hooks.js', import.meta.url)
