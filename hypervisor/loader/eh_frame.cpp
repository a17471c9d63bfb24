#include "loader/eh_frame.h"

#include <cstring>
#include <map>
#include <optional>
#include <string_view>

#include "core/checked_range.h"

namespace hyperlet {
namespace {

// DW_EH_PE_* pointer encodings (the LSB's .eh_frame format): the low nibble is
// the value's format, the high bits how it is applied.
constexpr std::uint8_t kEncodingOmit = 0xff;
constexpr std::uint8_t kFormatMask = 0x0f;
constexpr std::uint8_t kAbsolutePointer = 0x00;
constexpr std::uint8_t kUleb128 = 0x01;
constexpr std::uint8_t kUdata2 = 0x02;
constexpr std::uint8_t kUdata4 = 0x03;
constexpr std::uint8_t kUdata8 = 0x04;
constexpr std::uint8_t kSleb128 = 0x09;
constexpr std::uint8_t kSdata2 = 0x0a;
constexpr std::uint8_t kSdata4 = 0x0b;
constexpr std::uint8_t kSdata8 = 0x0c;
constexpr std::uint8_t kApplicationMask = 0x70;
constexpr std::uint8_t kApplyAbsolute = 0x00;
constexpr std::uint8_t kApplyPcRelative = 0x10;

// A cursor over [position, end) of the section; every read fails rather than
// passing `end`.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, std::uint64_t position, std::uint64_t end)
      : bytes_(bytes), position_(position), end_(end) {}

  std::uint64_t position() const { return position_; }

  template <typename T>
  std::optional<T> fixed() {
    if (!range_between(position_, sizeof(T), 0, end_)) return std::nullopt;
    T value;
    std::memcpy(&value, bytes_.data() + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }

  std::optional<std::uint64_t> uleb128() {
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      auto byte = fixed<std::uint8_t>();
      if (!byte) return std::nullopt;
      value |= std::uint64_t{*byte & 0x7fu} << shift;
      if ((*byte & 0x80) == 0) return value;
    }
    return std::nullopt;  // longer than any 64-bit value
  }

  std::optional<std::int64_t> sleb128() {
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      auto byte = fixed<std::uint8_t>();
      if (!byte) return std::nullopt;
      value |= std::uint64_t{*byte & 0x7fu} << shift;
      if ((*byte & 0x80) == 0) {
        if ((*byte & 0x40) != 0 && shift + 7 < 64) value |= ~std::uint64_t{0} << (shift + 7);
        return static_cast<std::int64_t>(value);
      }
    }
    return std::nullopt;
  }

  std::optional<std::string_view> c_string() {
    if (position_ >= end_) return std::nullopt;
    const auto* start = reinterpret_cast<const char*>(bytes_.data() + position_);
    const std::size_t length = strnlen(start, end_ - position_);
    if (length == end_ - position_) return std::nullopt;  // unterminated
    position_ += length + 1;
    return std::string_view(start, length);
  }

  bool skip(std::uint64_t count) {
    if (!range_between(position_, count, 0, end_)) return false;
    position_ += count;
    return true;
  }

  // A pointer in `encoding`, as an address (pc-relative ones relative to where
  // the field lies at `section_address`). Wraps modulo 2^64 like the CPU would.
  std::optional<std::uint64_t> pointer(std::uint8_t encoding, std::uint64_t section_address) {
    const std::uint64_t field_address = section_address + position_;
    std::optional<std::uint64_t> value;
    switch (encoding & kFormatMask) {
      case kAbsolutePointer:
      case kUdata8:
        value = fixed<std::uint64_t>();
        break;
      case kUleb128:
        value = uleb128();
        break;
      case kUdata2:
        value = fixed<std::uint16_t>();
        break;
      case kUdata4:
        value = fixed<std::uint32_t>();
        break;
      case kSleb128:
        value = sleb128();
        break;
      case kSdata2:
        value = widen(fixed<std::int16_t>());
        break;
      case kSdata4:
        value = widen(fixed<std::int32_t>());
        break;
      case kSdata8:
        value = fixed<std::uint64_t>();
        break;
      default:
        return std::nullopt;
    }
    if (!value) return std::nullopt;
    switch (encoding & kApplicationMask) {
      case kApplyAbsolute:
        return *value;
      case kApplyPcRelative:
        return field_address + *value;
      default:
        return std::nullopt;  // text-, data-, function-relative: not used for code addresses here
    }
  }

 private:
  template <typename T>
  static std::optional<std::uint64_t> widen(std::optional<T> value) {
    if (!value) return std::nullopt;
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(*value));
  }

  std::span<const std::byte> bytes_;
  std::uint64_t position_;
  std::uint64_t end_;
};

// What an FDE needs from its CIE: how its initial location is encoded, and
// whether an augmentation-data length follows its address range.
struct CieFacts {
  std::uint8_t pointer_encoding = kAbsolutePointer;
  bool has_augmentation_data = false;
};

std::optional<CieFacts> read_cie(Reader reader, std::uint64_t section_address) {
  auto version = reader.fixed<std::uint8_t>();
  if (!version || (*version != 1 && *version != 3)) return std::nullopt;
  auto augmentation = reader.c_string();
  if (!augmentation || !reader.uleb128() || !reader.sleb128()) return std::nullopt;            // code, data alignment
  if (*version == 1 ? !reader.fixed<std::uint8_t>() : !reader.uleb128()) return std::nullopt;  // return register
  CieFacts facts;
  if (augmentation->empty()) return facts;
  if ((*augmentation)[0] != 'z') return std::nullopt;  // e.g. "eh": an old GCC's layout, not parsed
  facts.has_augmentation_data = true;
  if (!reader.uleb128()) return std::nullopt;
  for (char letter : augmentation->substr(1)) {
    switch (letter) {
      case 'R': {
        auto encoding = reader.fixed<std::uint8_t>();
        if (!encoding) return std::nullopt;
        facts.pointer_encoding = *encoding;
        return facts;  // nothing later in the augmentation matters
      }
      case 'L':
        if (!reader.fixed<std::uint8_t>()) return std::nullopt;
        break;
      case 'P': {
        auto encoding = reader.fixed<std::uint8_t>();
        if (!encoding || !reader.pointer(*encoding & 0x7f, section_address)) return std::nullopt;
        break;
      }
      case 'S':
      case 'B':
      case 'G':
        break;
      default:
        return std::nullopt;  // unknown letters have data of unknown size
    }
  }
  return facts;
}

}  // namespace

std::vector<AddressRange> eh_frame_function_ranges(std::span<const std::byte> section, std::uint64_t section_address) {
  std::vector<AddressRange> ranges;
  std::map<std::uint64_t, std::optional<CieFacts>> cies;  // by offset in the section
  std::uint64_t offset = 0;
  while (offset < section.size()) {
    Reader header(section, offset, section.size());
    auto length32 = header.fixed<std::uint32_t>();
    if (!length32 || *length32 == 0) break;  // the terminator (or a truncated entry)
    std::uint64_t length = *length32;
    if (*length32 == 0xffffffff) {
      auto length64 = header.fixed<std::uint64_t>();
      if (!length64) break;
      length = *length64;
    }
    const std::uint64_t body = header.position();
    const auto end = checked_add(body, length);
    if (!end || *end > section.size()) break;
    offset = *end;
    Reader entry(section, body, *end);
    auto cie_pointer = entry.fixed<std::uint32_t>();
    if (!cie_pointer || *cie_pointer == 0) continue;  // a CIE: read when an FDE names it
    // The CIE pointer counts back from its own field to the CIE's length field.
    if (*cie_pointer > body) continue;
    const std::uint64_t cie_offset = body - *cie_pointer;
    auto known = cies.find(cie_offset);
    if (known == cies.end()) {
      std::optional<CieFacts> facts;
      Reader cie_header(section, cie_offset, section.size());
      if (auto cie_length = cie_header.fixed<std::uint32_t>(); cie_length && *cie_length != 0xffffffff) {
        const auto cie_end = checked_add(cie_header.position(), *cie_length);
        Reader cie(section, cie_header.position(), cie_end && *cie_end <= section.size() ? *cie_end : 0);
        if (auto id = cie.fixed<std::uint32_t>(); id && *id == 0) facts = read_cie(cie, section_address);
      }
      known = cies.emplace(cie_offset, facts).first;
    }
    if (!known->second || known->second->pointer_encoding == kEncodingOmit) continue;
    const std::uint8_t encoding = known->second->pointer_encoding;
    auto start = entry.pointer(encoding, section_address);
    // The range is a plain number in the same format (its application ignored).
    auto size = entry.pointer(encoding & kFormatMask, section_address);
    if (!start || !size || *size == 0 || !checked_add(*start, *size)) continue;
    ranges.push_back({*start, *size});
  }
  return ranges;
}

}  // namespace hyperlet
