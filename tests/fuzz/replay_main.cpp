// The driver of a fuzz target in an ordinary build: each argument is an input file
// or a directory of them (every regular file in it, recursively, but dot files), each run once
// through LLVMFuzzerTestOneInput; with no argument, one input from stdin (how
// afl-fuzz would hand it over). ctest replays the seeds and the saved crash
// inputs with it (tests/fuzz/CMakeLists.txt). The fuzzing build links AFL++'s
// driver instead, which runs inputs in afl-fuzz's persistent mode.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_target.h"

namespace {

void run_one(const std::vector<char>& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

std::vector<char> read_all(std::istream& in) { return {std::istreambuf_iterator<char>(in), {}}; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    run_one(read_all(std::cin));
    return 0;
  }
  // An app's reads of its stdin (guest fd 0 is this process's) must never wait
  // on a terminal: they read end of file, as under afl-fuzz.
  if (const int null = ::open("/dev/null", O_RDONLY); null >= 0) {
    ::dup2(null, 0);
    ::close(null);
  }
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path argument = argv[i];
    std::vector<std::filesystem::path> inputs;
    if (std::filesystem::is_directory(argument)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(argument)) {
        // Dot files (.gitkeep) are the directory's, not inputs.
        if (entry.is_regular_file() && !entry.path().filename().string().starts_with('.')) {
          inputs.push_back(entry.path());
        }
      }
    } else if (std::filesystem::exists(argument)) {
      inputs.push_back(argument);
    } else {
      std::fprintf(stderr, "%s: no such input file or directory\n", argument.c_str());
      return 2;
    }
    for (const auto& input : inputs) {
      std::ifstream in(input, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "%s: cannot read\n", input.c_str());
        return 2;
      }
      // Named first: a crash's last line says which input it was.
      std::fprintf(stderr, "replaying %s\n", input.c_str());
      run_one(read_all(in));
      ++replayed;
    }
  }
  std::printf("%zu inputs replayed without a failure\n", replayed);
  return replayed == 0 ? 1 : 0;
}
