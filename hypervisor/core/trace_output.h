// Where --trace lines go: hyperlet's stderr, or the file of --trace-file.
// Each line is one write(2), so the app's own output and other threads' lines
// never land inside it; and on a stderr the app's stdout or stderr shares, a
// line the app left unfinished is ended first, so a trace line always starts
// at the start of a line.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace hyperlet {

// --trace-file PATH: created 0600 (or truncated); an error names the path.
// Set before the run starts; stderr otherwise.
Result<void> open_trace_file(const std::string& path);

// One trace line (without its newline), written whole.
void write_trace_line(std::string_view line);

// The app wrote `last` as the last byte of output to hyperlet's own stdout
// (host_fd 1) or stderr (2): whether the terminal is now mid-line.
void note_app_console_output(int host_fd, char last);

// Back to stderr, with nothing noted (tests).
void reset_trace_output();

}  // namespace hyperlet
