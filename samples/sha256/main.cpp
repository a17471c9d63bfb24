// sha256: a compute-bound stand-in for a service. It tells hyperlet it is
// ready, reports how long the microVM took to reach main(), then hashes N MiB
// of generated data and prints the digest and its own hash rate, so the same
// binary compares microVM and native speed directly.
//
//   sha256 [MIB]        (default 64; in a microVM the manifest's default is 64 too)
#include <hyperlet/guest.h>

#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// FIPS 180-4 SHA-256, written out so that the sample needs nothing but libstdc++.
class Sha256 {
 public:
  void update(std::span<const std::uint8_t> data) {
    total_bytes_ += data.size();
    if (buffered_ != 0) {
      const std::size_t take = std::min(data.size(), block_.size() - buffered_);
      std::memcpy(block_.data() + buffered_, data.data(), take);
      buffered_ += take;
      data = data.subspan(take);
      if (buffered_ < block_.size()) return;
      compress(block_.data());
      buffered_ = 0;
    }
    while (data.size() >= block_.size()) {
      compress(data.data());
      data = data.subspan(block_.size());
    }
    std::memcpy(block_.data(), data.data(), data.size());
    buffered_ = data.size();
  }

  std::array<std::uint8_t, 32> finish() {
    const std::uint64_t bit_length = total_bytes_ * 8;
    std::array<std::uint8_t, 72> padding{};
    padding[0] = 0x80;
    // Pad to 56 bytes mod 64, then the length as a big-endian 64-bit number.
    const std::size_t pad_length = (buffered_ < 56 ? 56 : 120) - buffered_;
    for (int i = 0; i < 8; ++i) {
      padding[pad_length + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(bit_length >> (56 - 8 * i));
    }
    update(std::span(padding).first(pad_length + 8));
    std::array<std::uint8_t, 32> digest{};
    for (std::size_t i = 0; i < state_.size(); ++i) {
      for (std::size_t j = 0; j < 4; ++j) {
        digest[i * 4 + j] = static_cast<std::uint8_t>(state_[i] >> (24 - 8 * j));
      }
    }
    return digest;
  }

 private:
  static constexpr std::array<std::uint32_t, 64> kRoundConstants = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

  void compress(const std::uint8_t* block) {
    std::array<std::uint32_t, 64> w{};
    for (std::size_t i = 0; i < 16; ++i) {
      w[i] = std::uint32_t{block[i * 4]} << 24 | std::uint32_t{block[i * 4 + 1]} << 16 |
             std::uint32_t{block[i * 4 + 2]} << 8 | std::uint32_t{block[i * 4 + 3]};
    }
    for (std::size_t i = 16; i < 64; ++i) {
      const std::uint32_t s0 = std::rotr(w[i - 15], 7) ^ std::rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = std::rotr(w[i - 2], 17) ^ std::rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, h] = state_;
    for (std::size_t i = 0; i < 64; ++i) {
      const std::uint32_t t1 = h + (std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                               kRoundConstants[i] + w[i];
      const std::uint32_t t2 = (std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    const std::array<std::uint32_t, 8> add = {a, b, c, d, e, f, g, h};
    for (std::size_t i = 0; i < state_.size(); ++i) state_[i] += add[i];
  }

  std::array<std::uint32_t, 8> state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<std::uint8_t, 64> block_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// The data: xorshift64* output, little-endian, from a fixed seed, so every run
// (and any other implementation) hashes the same bytes.
class Generator {
 public:
  void fill(std::span<std::uint8_t> out) {
    for (std::size_t i = 0; i + 8 <= out.size(); i += 8) {
      state_ ^= state_ >> 12;
      state_ ^= state_ << 25;
      state_ ^= state_ >> 27;
      const std::uint64_t value = state_ * 0x2545f4914f6cdd1dULL;
      for (std::size_t j = 0; j < 8; ++j) out[i + j] = static_cast<std::uint8_t>(value >> (8 * j));
    }
  }

 private:
  std::uint64_t state_ = 0x9e3779b97f4a7c15ULL;
};

double milliseconds(Clock::duration duration) { return std::chrono::duration<double, std::milli>(duration).count(); }

}  // namespace

int main(int argc, char** argv) {
  // First thing: a real service would start serving here, so hyperlet can
  // measure boot to ready.
  const Clock::time_point entered = Clock::now();
  const bool told_ready = hyperlet::ready();

  long mebibytes = 64;
  if (argc > 1) {
    char* end = nullptr;
    mebibytes = std::strtol(argv[1], &end, 10);
    if (*end != '\0' || mebibytes <= 0 || mebibytes > 65536) {
      std::fprintf(stderr, "usage: sha256 [MIB]  (1..65536, default 64)\n");
      return 2;
    }
  }

  std::printf("in_microvm: %s\n", hyperlet::in_microvm() ? "yes" : "no");
  std::printf("ready: %s\n", told_ready ? "yes" : "no");
  if (const auto info = hyperlet::guest_info()) {
    std::printf("memory: %llu MiB\n", static_cast<unsigned long long>(info->memory_size >> 20));
    std::printf("time to main: %.2f ms since launch (VM created at %.2f ms, image loaded at %.2f ms)\n",
                milliseconds(entered - info->launched), milliseconds(info->vm_created - info->launched),
                milliseconds(info->image_loaded - info->launched));
  }

  // 1 MiB at a time: the hash rate, not memory, is what this sample measures.
  std::vector<std::uint8_t> chunk(std::size_t{1} << 20);
  Generator generator;
  Sha256 hash;
  const Clock::time_point start = Clock::now();
  for (long i = 0; i < mebibytes; ++i) {
    generator.fill(chunk);
    hash.update(chunk);
  }
  const auto digest = hash.finish();
  const double elapsed = milliseconds(Clock::now() - start);

  std::string hex;
  for (const std::uint8_t byte : digest) {
    constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  std::printf("hashed %ld MiB in %.1f ms (%.1f MiB/s)\n", mebibytes, elapsed,
              static_cast<double>(mebibytes) * 1000.0 / elapsed);
  std::printf("sha256: %s\n", hex.c_str());
  return 0;
}
