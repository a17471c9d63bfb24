// The entry point every fuzz target defines, in libFuzzer's form, so that the
// same target file runs under afl-fuzz (scripts/fuzz), replays a corpus in
// ctest (replay_main.cpp), and would link against libFuzzer unchanged.
//
// A target returns 0 for every input; a bug is a crash, a sanitizer report or
// a broken invariant, which the target reports by calling fuzz_failure().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace hyperlet::fuzz {

// Reports an invariant the input broke and aborts, so that afl-fuzz keeps the
// input as a crash and the replay test fails.
[[noreturn]] void fuzz_failure(std::string_view what);

// A little-endian reader over the input that never reads past its end (what is
// missing reads as zero), for targets that decode a structure from the bytes.
class InputReader {
 public:
  InputReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return offset_ >= size_; }
  std::size_t left() const { return empty() ? 0 : size_ - offset_; }
  template <typename T>
  T take() {
    T value{};
    auto* out = reinterpret_cast<std::uint8_t*>(&value);
    for (std::size_t i = 0; i < sizeof(T) && offset_ < size_; ++i) out[i] = data_[offset_++];
    return value;
  }
  // Up to `count` bytes (fewer at the end of the input).
  std::basic_string_view<std::uint8_t> take_bytes(std::size_t count) {
    const std::size_t n = count < left() ? count : left();
    std::basic_string_view<std::uint8_t> bytes(data_ + offset_, n);
    offset_ += n;
    return bytes;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

}  // namespace hyperlet::fuzz
