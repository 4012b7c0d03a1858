// The part of autocannon's API the benchmarks use (it ships no types).
declare module 'autocannon' {
  namespace autocannon {
    interface Options { url: string, method?: string, body?: string, headers?: Record<string, string>, connections?: number, duration?: number }
    interface Histogram { average: number, p50: number, p99: number }
    interface Result { requests: Histogram, latency: Histogram, non2xx: number, errors: number }
  }
  function autocannon (opts: autocannon.Options): Promise<autocannon.Result>
  export default autocannon
}
