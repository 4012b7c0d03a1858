{
  "targets": [
    {
      "target_name": "hive_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/block_store.cc",
        "native/src/crc32c.cc",
        "native/src/gf256.cc",
        "native/src/gf256_kernels_avx2.cc",
        "native/src/gf256_kernels_gfni.cc",
        "native/src/gf256_kernels_ssse3.cc",
        "native/src/reed_solomon.cc",
        "native/src/wal_reader.cc",
        "native/src/wal_writer.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3"
      ],
      "cflags_cc!": [
        "-fno-exceptions"
      ]
    },
    {
      "target_name": "hive_crc32c_fast",
      "sources": [
        "native/src/crc32c_fast.cc",
        "native/src/crc32c.cc"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fvisibility=hidden",
        "-Wno-cast-function-type"
      ]
    }
  ]
}
