// Dies of the CPU exception named by argv[1]. Each fault is in its own
// non-inlined extern "C" function so that hyperlet's report can name it.
#include <cstdio>
#include <cstring>

extern "C" {

__attribute__((noinline)) int crash_null_dereference(volatile int* pointer) { return *pointer; }

__attribute__((noinline)) int crash_divide_by_zero(int numerator, int denominator) {
  return numerator / denominator;
}

__attribute__((noinline)) void crash_illegal_instruction() { __builtin_trap(); }

#pragma GCC diagnostic ignored "-Winfinite-recursion"
// The volatile buffer and the use of the result after the call defeat
// tail-call and stack-frame optimisations: each level really takes stack.
__attribute__((noinline)) int crash_stack_overflow(int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  return crash_stack_overflow(depth + 1) + frame[0];
}
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::fflush(stdout);
  volatile int* null_pointer = nullptr;
  if (std::strcmp(argv[1], "null") == 0) return crash_null_dereference(null_pointer);
  if (std::strcmp(argv[1], "divide") == 0) return crash_divide_by_zero(argc, argc - 2);
  if (std::strcmp(argv[1], "illegal") == 0) crash_illegal_instruction();
  if (std::strcmp(argv[1], "recursion") == 0) return crash_stack_overflow(0);
  return 3;
}
