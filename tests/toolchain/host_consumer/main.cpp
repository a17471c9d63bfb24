// snapshot_check FILE: opens FILE as a hyperlet snapshot with the embedding API
// and says what it holds, or why it is not one. Opening checks the whole file
// and needs no KVM; restoring a VM from it would.
#include <hyperlet/host.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: snapshot_check FILE\n");
    return 2;
  }
  auto snapshot = hyperlet::Snapshot::open(argv[1]);
  if (!snapshot) {
    std::printf("not a snapshot: %s\n", snapshot.error().message.c_str());
    return 1;
  }
  std::printf("snapshot: %llu guest pages of %llu MiB\n", static_cast<unsigned long long>(snapshot->page_count()),
              static_cast<unsigned long long>(snapshot->memory_size() >> 20));
  return 0;
}
