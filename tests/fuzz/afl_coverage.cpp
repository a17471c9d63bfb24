// Coverage for afl-fuzz from g++'s -fsanitize-coverage=trace-pc: g++ calls
// __sanitizer_cov_trace_pc at every basic block, and this records the edge
// (previous block, this block) in AFL++'s shared map the way AFL's own
// instrumentation does. AFL++'s runtime (afl-compiler-rt, linked beside it)
// owns the map, the fork server and persistent mode; its GCC plugin, which
// would do this, does not load into Debian 12's g++, and clang 14 cannot build
// this C++23 code against libstdc++ 12. Built without coverage itself.
#include <cstdint>

extern "C" {

extern unsigned char* __afl_area_ptr;
extern unsigned int __afl_map_size;

namespace {
thread_local std::uintptr_t previous_block;
}

void __sanitizer_cov_trace_pc() {
  std::uintptr_t block = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
  block = (block >> 4) ^ (block << 8);  // spread nearby addresses over the map
  __afl_area_ptr[(block ^ previous_block) % __afl_map_size]++;
  previous_block = block >> 1;  // so that A->B and B->A are different edges
}
}
