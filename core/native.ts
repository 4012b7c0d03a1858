import { createRequire } from 'node:module'

/** The addon's JS surface; each engine's typed wrapper joins here as the native issues land. */
interface NativeAddon {
  abiVersion: number
}

const EXPECTED_ABI = 1

let addon: NativeAddon | undefined

/** Loads build/Release/hive_native.node (built by `npm ci` / `npm run build`) once. */
export function native (): NativeAddon {
  if (addon === undefined) {
    const loaded = createRequire(import.meta.url)('../build/Release/hive_native.node') as NativeAddon
    if (loaded.abiVersion !== EXPECTED_ABI) {
      throw new Error(`native addon ABI ${loaded.abiVersion}, expected ${EXPECTED_ABI}: run npm run build`)
    }
    addon = loaded
  }
  return addon
}
