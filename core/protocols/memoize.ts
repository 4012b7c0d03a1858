/**
 * `make`, run once per key object and remembered for as long as the key lives: each model's
 * readers, writers, validators and routes, and each shape's plans, are worked out on first use.
 */
export function memoize<K extends object, V> (make: (key: K) => V): (key: K) => V {
  const cache = new WeakMap<K, V>()
  return key => {
    if (cache.has(key)) return cache.get(key) as V
    const value = make(key)
    cache.set(key, value)
    return value
  }
}
