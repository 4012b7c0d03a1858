// The block store's on-disk and exchanged formats (block_store.h): the block map, the checkpoint file
// that holds it, and the payloads of the store's WAL records (framed by wal_format.h). BlockStore
// writes and reads all three; the EBS plugin (plugins/ebs/block-map.ts) parses the map of a snapshot.
//
// A volume is a sequence of 4096-byte blocks numbered from 0. The bytes of a block that is not being
// written live in a chunk: an immutable object of `slots` × 4096 bytes, slot i at byte i × 4096,
// named by a u64 chunk id. The block map says which chunk slot holds each block, as extents; a block
// no extent covers reads as zeros. Every integer is little-endian.
//
//   map     := "HVBM" version:u32 extentCount:u64 extent{extentCount} crc:u32
//   extent  := firstBlock:u64 count:u32 firstSlot:u32 chunk:u64             (24 bytes)
//
//   version   = 1
//   extents   sorted by firstBlock, not overlapping (firstBlock + count ≤ the next one's firstBlock),
//             count ≥ 1, firstSlot + count ≤ 2^32, firstBlock + count ≤ 2^64
//   block b in [firstBlock, firstBlock + count) lives at (chunk, firstSlot + b − firstBlock)
//   crc       = Crc32c (crc32c.h, unmasked) of every byte before it, header included
//   A writer merges extents that continue each other (same chunk, the next block in the next slot),
//   so one map has one encoding; readers accept unmerged ones too.
//
// Worked example: blocks 0–2 in slots 0–2 of chunk 5, block 10 in slot 7 of chunk 6 (64 bytes):
//
//   offset 0    48 56 42 4d  01 00 00 00  02 00 00 00 00 00 00 00                    "HVBM", 1, 2 extents
//   offset 16   00 00 00 00 00 00 00 00  03 00 00 00  00 00 00 00  05 00 00 00 00 00 00 00
//   offset 40   0a 00 00 00 00 00 00 00  01 00 00 00  07 00 00 00  06 00 00 00 00 00 00 00
//   offset 64   7d 57 4e f1                                                          crc of bytes 0–63 (0xf14e577d)
//
// Checkpoint: the file <store>/checkpoint, replaced atomically (checkpoint.tmp, fsync, rename, fsync
// of the directory), so it is always a whole checkpoint:
//
//   checkpoint := "HVCP" version:u32 lastSequence:u64 map
//
//   version      = 1
//   lastSequence = the last WAL sequence issued when the map was taken; informational (recovery
//                  replays whatever the WAL still holds), so the map's crc does not cover it
//
// WAL records (<store>/wal, one per write or zero request; the WAL's record type byte says which):
//
//   type 1, write := firstBlock:u64 count:u32 data:u8[count × 4096]     count ≥ 1
//   type 2, zero  := firstBlock:u64 count:u64                           count ≥ 1: the blocks read as zeros
#pragma once

#include <cstddef>
#include <cstdint>

namespace hive {
namespace block_map {

constexpr size_t kBlockBytes = 4096;

constexpr char kMapMagic[4] = {'H', 'V', 'B', 'M'};
constexpr uint32_t kMapVersion = 1;
constexpr size_t kMapHeaderBytes = 16;
constexpr size_t kExtentBytes = 24;
constexpr size_t kCrcBytes = 4;

constexpr char kCheckpointMagic[4] = {'H', 'V', 'C', 'P'};
constexpr uint32_t kCheckpointVersion = 1;
constexpr size_t kCheckpointHeaderBytes = 16;

constexpr uint8_t kWriteRecord = 1;
constexpr uint8_t kZeroRecord = 2;
constexpr size_t kWriteHeaderBytes = 12;
constexpr size_t kZeroRecordBytes = 16;

}  // namespace block_map
}  // namespace hive
