/*
 * The reference for `npm run bench:native`: Intel ISA-L's ec_encode_data (Debian libisal-dev),
 * measured the way bench/native.ts measures Hive — one thread, shards in cache, data bytes per
 * second. Encoding uses gf_gen_cauchy1_matrix; reconstruction rebuilds the first `missing` data
 * shards from the next k survivors with a decode matrix inverted once, as a cache would hold it.
 *
 *   harness <k> <m> <shard_bytes> <missing> <seconds>
 *   → {"encode_gbps": x, "reconstruct_gbps": y}
 */
#include <isa-l/erasure_code.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs fn until `seconds` pass; returns data bytes per second in GB/s. */
static double measure(double seconds, size_t bytes_per_call,
                      void (*fn)(int, int, unsigned char *, unsigned char **, unsigned char **),
                      int len, int rows, unsigned char *tables, unsigned char **in, unsigned char **out) {
  fn(len, rows, tables, in, out);
  long calls = 0;
  double start = now(), elapsed;
  do {
    for (int i = 0; i < 16; i++) fn(len, rows, tables, in, out);
    calls += 16;
    elapsed = now() - start;
  } while (elapsed < seconds);
  return (double)bytes_per_call * calls / elapsed / 1e9;
}

static int g_k;
static void encode(int len, int rows, unsigned char *tables, unsigned char **in, unsigned char **out) {
  ec_encode_data(len, g_k, rows, tables, in, out);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: harness k m shard_bytes missing seconds\n");
    return 2;
  }
  int k = atoi(argv[1]), m = atoi(argv[2]), len = atoi(argv[3]), missing = atoi(argv[4]);
  double seconds = atof(argv[5]);
  g_k = k;
  int n = k + m;
  unsigned char *matrix = malloc(n * k), *tables = malloc(32 * k * m);
  unsigned char *shards[255];
  for (int i = 0; i < n; i++) {
    if (posix_memalign((void **)&shards[i], 64, len) != 0) return 1;
    for (int j = 0; j < len; j++) shards[i][j] = (unsigned char)rand();
  }
  gf_gen_cauchy1_matrix(matrix, n, k);
  ec_init_tables(k, m, &matrix[k * k], tables);
  double enc = measure(seconds, (size_t)k * len, encode, len, m, tables, shards, &shards[k]);

  /* Survivors: shards missing..missing+k-1; invert their rows, keep the rows of the lost ones. */
  unsigned char *sub = malloc(k * k), *inv = malloc(k * k), *dec = malloc(k * missing), *dtables = malloc(32 * k * missing);
  unsigned char *survivors[255], *recovered[255];
  for (int r = 0; r < k; r++) {
    memcpy(&sub[r * k], &matrix[(missing + r) * k], k);
    survivors[r] = shards[missing + r];
  }
  if (gf_invert_matrix(sub, inv, k) != 0) return 1;
  for (int e = 0; e < missing; e++) {
    memcpy(&dec[e * k], &inv[e * k], k);
    if (posix_memalign((void **)&recovered[e], 64, len) != 0) return 1;
  }
  ec_init_tables(k, missing, dec, dtables);
  double rec = measure(seconds, (size_t)k * len, encode, len, missing, dtables, survivors, recovered);
  for (int e = 0; e < missing; e++) {
    if (memcmp(recovered[e], shards[e], len) != 0) {
      fprintf(stderr, "isa-l reconstruction mismatch\n");
      return 1;
    }
  }
  printf("{\"encode_gbps\": %.3f, \"reconstruct_gbps\": %.3f}\n", enc, rec);
  return 0;
}
