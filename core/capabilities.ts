import { existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isCapability, type Capability } from './capability.js'

/**
 * The built-in capabilities, by the name `--cap` takes. An explicit map, not a directory scan: a
 * capability exists when it is listed here.
 */
const BUILTIN: Record<string, URL> = {
  ec2: new URL('../plugins/ec2/index.ts', import.meta.url),
  ebs: new URL('../plugins/ebs/index.ts', import.meta.url),
  s3: new URL('../plugins/s3/index.ts', import.meta.url)
}

export const BUILTIN_CAPABILITIES = Object.keys(BUILTIN)

/** A configuration the core refuses to start with; its message is shown to the operator as is. */
export class CapabilityError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CapabilityError'
  }
}

export async function loadBuiltin (name: string): Promise<Capability> {
  const url = BUILTIN[name]
  if (url === undefined) {
    throw new CapabilityError(`unknown capability '${name}'; valid capabilities: ${BUILTIN_CAPABILITIES.join(', ')} ` +
      '(others come from --plugin <npm-name|path>)')
  }
  return await importCapability(url.href, `capability '${name}'`)
}

/** Loads `--plugin` values: a path (file or folder with package.json) or an installed npm package name. */
export async function loadPlugin (spec: string, cwd = process.cwd()): Promise<Capability> {
  const looksLikePath = spec.startsWith('.') || isAbsolute(spec) || spec.startsWith('file:')
  let href: string
  if (looksLikePath) {
    href = pathToFileURL(entryOf(resolve(cwd, spec.replace(/^file:(\/\/)?/, '')))).href
  } else {
    try {
      href = pathToFileURL(createRequire(join(cwd, 'noop.js')).resolve(spec)).href
    } catch {
      href = spec
    }
  }
  return await importCapability(href, `plugin '${spec}'`)
}

function entryOf (path: string): string {
  if (!existsSync(path)) throw new CapabilityError(`plugin path ${path} does not exist`)
  if (!statSync(path).isDirectory()) return path
  const pkgFile = join(path, 'package.json')
  if (existsSync(pkgFile)) {
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { main?: string, exports?: unknown }
    const main = typeof pkg.exports === 'string' ? pkg.exports : pkg.main
    if (main !== undefined) return join(path, main)
  }
  for (const f of ['index.ts', 'index.js']) if (existsSync(join(path, f))) return join(path, f)
  throw new CapabilityError(`plugin folder ${path} has no package.json main and no index.ts/index.js`)
}

async function importCapability (href: string, what: string): Promise<Capability> {
  let mod: { default?: unknown }
  try {
    mod = await import(href) as { default?: unknown }
  } catch (e) {
    throw new CapabilityError(`${what} failed to load: ${(e as Error).message}`)
  }
  if (!isCapability(mod.default)) {
    throw new CapabilityError(`${what} does not default-export a capability made with defineCapability() from hive-cloud`)
  }
  return mod.default
}

/** Which built-in capability declares an action: names the missing one when no node serves it. */
export async function builtinCapabilityOf (service: string, action: string): Promise<string | undefined> {
  for (const name of BUILTIN_CAPABILITIES) {
    const cap = await loadBuiltin(name).catch(() => undefined)
    if (cap?.services[service]?.actions[action] !== undefined) return cap.capability
  }
  return undefined
}
