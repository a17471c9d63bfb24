// Data with `0f 05` bytes (a `syscall` encoding) placed in .text, as OpenSSL
// places its P-256 table: the syscall-site rewrite must leave it alone.
//   tables            checksums the tables at run time against the bytes they
//                     were built from; "tables intact" and 0, else 1
//   generated-syscall runs a `syscall` written at run time (never rewritten):
//                     prints its address first, then "getpid ok" if it worked
//   generated-syscall-with-handler
//                     the same with a SIGSEGV handler installed (as every Go
//                     program has): the handler prints "handler ran" and exits 3
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#define PLANTED_BYTES                                                                                               \
  0x0f, 0x05, 0x0f, 0x05, 0x11, 0x0f, 0x05, 0x22, 0x33, 0x0f, 0x05, 0x0f, 0x05, 0x44, 0x0f, 0x05, 0x0f, 0x05, 0x0f, \
      0x05, 0x55, 0x66, 0x0f, 0x05, 0x77, 0x0f, 0x05, 0x0f, 0x05, 0x88, 0x99, 0x0f, 0x05, 0x0f, 0x05
#define STRINGIFY_LIST(...) #__VA_ARGS__
#define STRINGIFY(...) STRINGIFY_LIST(__VA_ARGS__)

constexpr unsigned char kPlanted[] = {PLANTED_BYTES};

extern "C" const unsigned char object_table[];      // an STT_OBJECT in .text, like OpenSSL's
extern "C" const unsigned char unnamed_table[];     // no type, no size: just bytes after a ret
extern "C" const unsigned char* jumps_over_data();  // a function whose body holds data after a jmp

// Each table follows a `ret`, so a linear sweep is in step when it reaches it.
asm(R"(
  .pushsection .text
  .balign 16
  .globl object_table
  .type object_table, @object
object_table:
  .byte )" STRINGIFY(PLANTED_BYTES) R"(
  .size object_table, . - object_table
  ret
  .globl unnamed_table
unnamed_table:
  .byte )" STRINGIFY(PLANTED_BYTES) R"(
  .balign 16
  .globl jumps_over_data
  .type jumps_over_data, @function
jumps_over_data:
  .cfi_startproc
  jmp 1f
.Linline_table:
  .byte )" STRINGIFY(PLANTED_BYTES) R"(
1:
  leaq .Linline_table(%rip), %rax
  ret
  .cfi_endproc
  .size jumps_over_data, . - jumps_over_data
  .popsection
)");

namespace {

// FNV-1a: which bytes changed does not matter, only that none did.
constexpr std::uint64_t checksum(const unsigned char* bytes, std::size_t size) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  return hash;
}

constexpr std::uint64_t kExpected = checksum(kPlanted, sizeof(kPlanted));

int check_tables() {
  const struct {
    const char* name;
    const unsigned char* bytes;
  } tables[] = {{"object_table", object_table}, {"unnamed_table", unnamed_table}, {"inline_table", jumps_over_data()}};
  int status = 0;
  for (const auto& table : tables) {
    const std::uint64_t actual = checksum(table.bytes, sizeof(kPlanted));
    if (actual != kExpected) {
      std::printf("%s changed: checksum %016llx, built as %016llx\n", table.name,
                  static_cast<unsigned long long>(actual), static_cast<unsigned long long>(kExpected));
      status = 1;
    }
  }
  if (status == 0) std::printf("tables intact\n");
  return status;
}

void on_segv(int) {
  static const char kMessage[] = "handler ran\n";
  (void)!write(1, kMessage, sizeof kMessage - 1);
  _exit(3);
}

int generated_syscall() {
  // mov eax, 39 (getpid); syscall; ret
  const unsigned char code[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3};
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 2;
  std::memcpy(page, code, sizeof(code));
  if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0) return 2;
  std::printf("syscall at %#lx\n", reinterpret_cast<unsigned long>(page) + 5);
  std::fflush(stdout);
  const auto function = reinterpret_cast<long (*)()>(page);
  const long pid = function();
  std::printf(pid == getpid() ? "getpid ok\n" : "getpid wrong\n");
  return pid == getpid() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "tables") == 0) return check_tables();
  if (argc == 2 && std::strcmp(argv[1], "generated-syscall") == 0) return generated_syscall();
  if (argc == 2 && std::strcmp(argv[1], "generated-syscall-with-handler") == 0) {
    struct sigaction action {};
    action.sa_handler = on_segv;
    sigaction(SIGSEGV, &action, nullptr);
    return generated_syscall();
  }
  std::fprintf(stderr, "usage: planted_data tables|generated-syscall|generated-syscall-with-handler\n");
  return 2;
}
