// The write-ahead log's on-disk format, after leveldb's log (doc/log_format.md), with the logical
// record's sequence number and user type in every fragment header. WalWriter writes it, WalReader
// reads it; nothing else knows these bytes.
//
// A log is a directory of segment files named by the sequence of their first record, printed as 20
// decimal digits so names sort in log order: 00000000000000000001.wal, 00000000000000004097.wal, …
// (and recycled segments, *.free, below).
// Sequences start at 1 and are consecutive across the whole log. A logical record never spans segments.
// A segment is cut into kBlockSize-byte blocks, counted from its first byte (its last block may be short):
//
//   segment   := block* [ zeros ]           zeros from where a header would start: preallocated, never
//                                           written; the end of the segment's data
//   block     := fragment* [ trailer ]      exactly kBlockSize bytes, except the segment's last block
//   trailer   := 0x00 × (1 … kHeaderSize-1)   a block tail too short for a header
//   fragment  := checksum:u32 length:u16 kind:u8 type:u8 sequence:u64 payload:u8[length]
//   record    := FULL | FIRST MIDDLE* LAST   (the logical record: its payload is the fragments' payloads)
//
//   every integer is little-endian; a fragment header is kHeaderSize = 16 bytes
//   checksum  = MaskCrc(Crc32c(header bytes 4..15 ++ payload)): it covers length, kind, type and
//               sequence as well as the payload, so no header field can change undetected
//   kind      = kFull 1 | kFirst 2 | kMiddle 3 | kLast 4; 0 is never written, so a zero header is
//               preallocated space, not a record
//   type      = the caller's type byte for the logical record, repeated in each of its fragments
//   sequence  = the logical record's sequence, repeated in each of its fragments
//
// A writer makes each fragment as long as the block allows, so the encoding of a record at a given
// offset is unique: a FIRST or MIDDLE fragment always ends exactly at its block's end (it may carry
// 0 payload bytes when exactly kHeaderSize bytes were left), and a trailer is always zeros. Readers
// insist on this, so anything that reads as a record is byte for byte what a writer would have put there.
// It also means a record can be found and checked alone: its location — the segment's first sequence
// and the offset of its first fragment header — with its sequence and length fixes every byte of it.
//
// Worked example (record 1: type 7, payload "hi"; record 2: type 0, 40000 bytes of payload):
//
//   offset 0       97 80 dc 23  02 00  01  07  01 00 00 00 00 00 00 00  68 69      FULL, 18 bytes
//   offset 18      checksum     de 7f  02  00  02 00 00 00 00 00 00 00  32734 B    FIRST, to 32768
//   offset 32768   checksum     62 1c  04  00  02 00 00 00 00 00 00 00  7266 B     LAST, to 40050
//   offset 40050   next record, or zeros to the end of the preallocated segment
//
// Had record 2's LAST fragment ended at 65526, the 10 bytes up to 65536 would be a zero trailer and the
// next fragment would start at 65536.
//
// Recycling: a checkpointed segment's file is renamed to <its first sequence, 20 digits>.free and later
// renamed to a new segment's name and written over from byte 0. On ext4 (and XFS), filling preallocated
// blocks makes every fdatasync commit the journal to mark them written, while overwriting written blocks
// does not: measured here, a 870 KB write + fdatasync took 2.1 ms into a fallocated file and 1.2 ms over
// an old one. So the last segment may hold, after its last record, an older segment's bytes: fragments
// with sequences below the segment's name, or the middle of one. No reader accepts them (the sequence
// check), and they read like a torn tail, which is what they are to this log. Every other segment is cut
// to its last record, durably, before the next one is started.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "crc32c.h"

namespace hive {
namespace wal {

constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 16;

enum Kind : uint8_t { kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4 };

// A CRC computed over bytes that contain CRCs (a log stored inside a log) is weak; masking, as leveldb
// does, makes the stored value differ from the raw CRC of the same bytes.
inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

inline void PutLe(uint8_t* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline uint64_t GetLe(const uint8_t* in, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

// The checksum field of a fragment whose header (checksum bytes ignored) and payload are given.
inline uint32_t FragmentChecksum(const uint8_t* header, const uint8_t* payload, size_t length) {
  return MaskCrc(Crc32c(payload, length, Crc32c(header + 4, kHeaderSize - 4)));
}

// Where the next fragment's header goes when the bytes before `offset` are taken: past a trailer.
inline uint64_t FragmentStart(uint64_t offset) {
  const size_t room = kBlockSize - offset % kBlockSize;
  return room < kHeaderSize ? offset + room : offset;
}

// Calls emit(offset, kind, payload_begin, payload_length) for each fragment of a record of `length`
// bytes written at segment offset `offset`, with offset advanced past any trailer; returns the offset
// just past the record. The one place the fragmentation rule lives, for writer, reader checks and tests.
template <typename Emit>
uint64_t ForEachFragment(uint64_t offset, size_t length, Emit&& emit) {
  size_t done = 0;
  bool first = true;
  for (;;) {
    offset = FragmentStart(offset);
    const size_t room = kBlockSize - offset % kBlockSize;
    const size_t n = std::min(length - done, room - kHeaderSize);
    const bool last = done + n == length;
    emit(offset, first ? (last ? kFull : kFirst) : (last ? kLast : kMiddle), done, n);
    offset += kHeaderSize + n;
    done += n;
    if (last) return offset;
    first = false;
  }
}

// Where a record of `length` bytes starting at `offset` ends.
inline uint64_t RecordEnd(uint64_t offset, size_t length) {
  return ForEachFragment(offset, length, [](uint64_t, Kind, size_t, size_t) {});
}

// Appends the encoding of one record to *out, which holds a segment's bytes from offset `out_offset` on
// (so the record starts at segment offset out_offset + out->size()).
inline void AppendRecord(std::vector<uint8_t>* out, uint64_t out_offset, uint64_t sequence, uint8_t type,
                         const uint8_t* data, size_t length) {
  ForEachFragment(out_offset + out->size(), length, [&](uint64_t at, Kind kind, size_t begin, size_t n) {
    out->resize(at - out_offset + kHeaderSize + n, 0);  // zero-fills a trailer before `at`
    uint8_t* h = out->data() + (at - out_offset);
    PutLe(h + 4, n, 2);
    h[6] = kind;
    h[7] = type;
    PutLe(h + 8, sequence, 8);
    if (n > 0) std::copy(data + begin, data + begin + n, h + kHeaderSize);
    PutLe(h, FragmentChecksum(h, h + kHeaderSize, n), 4);
  });
}

constexpr char kSegmentSuffix[] = ".wal";
constexpr char kFreeSuffix[] = ".free";  // a recycled segment waiting for reuse: not part of the log

inline std::string SegmentName(uint64_t first_sequence, const char* suffix = kSegmentSuffix) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu%s", static_cast<unsigned long long>(first_sequence), suffix);
  return name;
}

// True for a name SegmentName could have produced (sequences start at 1); other files are not the log's.
inline bool ParseSegmentName(const std::string& name, uint64_t* first_sequence, const char* suffix = kSegmentSuffix) {
  if (name.size() < 20 || name.compare(20, std::string::npos, suffix) != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    const uint64_t digit = name[i] - '0';
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *first_sequence = v;
  return v > 0;
}

}  // namespace wal
}  // namespace hive
