// `hyperlet inspect IMAGE [--json]`: what an image is and whether it can run.
#pragma once

#include <string>

namespace hyperlet {

// Prints the report to stdout; returns 0 when the image can run, else the
// exit status `hyperlet run` would end with (126 or 127).
int inspect_image(const std::string& path, bool json);

}  // namespace hyperlet
