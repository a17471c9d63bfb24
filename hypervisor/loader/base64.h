// Base64 (RFC 4648, with padding) for the bytes of files shipped in an image's
// manifest: the manifest is JSON text, and a file may hold any bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hyperlet {

std::string base64_encode(std::string_view bytes);
// nullopt for anything but canonical padded base64 (no whitespace).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace hyperlet
