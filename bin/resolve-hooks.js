// Module resolution hook: every import of 'hive-cloud' — from a plugin anywhere on disk, with or
// without its own copy installed — resolves to this host's core/index.ts, so plugins share the
// host's one instance of the API (AwsError identity, the same bus types) whatever their location.
const CORE = new URL('../core/index.ts', import.meta.url).href

export async function resolve (specifier, context, next) {
  if (specifier === 'hive-cloud') return { url: CORE, shortCircuit: true }
  return next(specifier, context)
}
