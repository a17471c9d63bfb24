// Files the way C++ programs use them: <fstream>, std::filesystem, mmap of a
// file (private, and shared with msync), dup2, pipes, fcntl. Run in a directory
// given as argv[1]; prints only names relative to it, so the output of a native
// run equals that of a run in a microVM with the directory as a volume.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> listing(const fs::path& root) {
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    std::string name = fs::relative(entry.path(), root).string();
    if (entry.is_directory()) name += "/";
    if (entry.is_regular_file()) name += " " + std::to_string(entry.file_size());
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void show(const fs::path& root, const char* when) {
  std::cout << when << ":";
  for (const auto& name : listing(root)) std::cout << " [" << name << "]";
  std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const fs::path root = argv[1];
  fs::current_path(root);
  std::cout << "cwd is root: " << (fs::current_path() == fs::canonical(root)) << "\n";

  fs::create_directories("tour/a/b");
  {
    std::ofstream out("tour/a/b/text.txt");
    for (int i = 0; i < 1000; ++i) out << "line " << i << "\n";
  }
  {
    std::ifstream in("tour/a/b/text.txt");
    std::string line;
    long count = 0, sum = 0;
    while (std::getline(in, line)) {
      ++count;
      sum += std::stol(line.substr(5));
    }
    std::cout << "read back: " << count << " lines, sum " << sum << "\n";
  }
  { std::ofstream("tour/a/b/text.txt", std::ios::app) << "appended\n"; }
  std::cout << "size after append: " << fs::file_size("tour/a/b/text.txt") << "\n";
  fs::rename("tour/a/b/text.txt", "tour/moved.txt");
  fs::copy_file("tour/moved.txt", "tour/a/copy.txt");
  std::cout << "exists after rename: " << fs::exists("tour/a/b/text.txt") << " " << fs::exists("tour/moved.txt")
            << "\n";
  show(root / "tour", "tree");

  // mmap, private: changes stay in memory.
  {
    const int fd = ::open("tour/moved.txt", O_RDONLY | O_CLOEXEC);
    struct stat info {};
    ::fstat(fd, &info);
    auto* bytes = static_cast<char*>(::mmap(nullptr, static_cast<size_t>(info.st_size), PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE, fd, 0));
    ::close(fd);
    std::cout << "private map: " << (bytes != MAP_FAILED) << " starts '" << std::string(bytes, 6) << "'\n";
    bytes[0] = 'X';
    ::munmap(bytes, static_cast<size_t>(info.st_size));
    std::ifstream in("tour/moved.txt");
    std::cout << "file after private write: '" << static_cast<char>(in.get()) << "'\n";
  }
  // mmap, shared: msync and munmap write back; an offset mapping sees the right part.
  {
    const int fd = ::open("tour/shared.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    ::ftruncate(fd, 3 * 4096);
    auto* bytes = static_cast<char*>(::mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    std::memcpy(bytes, "first", 5);
    std::memcpy(bytes + 4096 + 100, "second", 6);
    ::msync(bytes, 3 * 4096, MS_SYNC);
    char check[7] = {};
    ::pread(fd, check, 6, 4096 + 100);
    std::cout << "after msync: '" << check << "'\n";
    std::memcpy(bytes + 2 * 4096, "third", 5);
    ::munmap(bytes, 3 * 4096);
    ::pread(fd, check, 5, 2 * 4096);
    check[5] = 0;
    std::cout << "after munmap: '" << check << "' size " << fs::file_size("tour/shared.bin") << "\n";
    auto* second = static_cast<char*>(::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 4096));
    std::cout << "offset map: '" << std::string(second + 100, 6) << "'\n";
    ::munmap(second, 4096);
    auto* last = static_cast<char*>(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * 4096));
    ::close(fd);
    std::memcpy(last, "THIRD", 5);  // written back at exit (after close), as the page cache would
  }

  // dup2 onto stdout, a pipe, fcntl.
  {
    const int fd = ::open("tour/redirected.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::fflush(stdout);
    std::cout.flush();
    const int saved = ::dup(1);
    ::dup2(fd, 1);
    std::printf("through dup2\n");
    std::fflush(stdout);
    ::dup2(saved, 1);
    ::close(saved);
    ::close(fd);
    std::ifstream in("tour/redirected.txt");
    std::string line;
    std::getline(in, line);
    std::cout << "redirected: '" << line << "'\n";
    int ends[2];
    std::cout << "pipe2: " << ::pipe2(ends, O_CLOEXEC) << " cloexec " << (::fcntl(ends[0], F_GETFD) & FD_CLOEXEC)
              << "\n";
    ::write(ends[1], "piped", 5);
    char piped[6] = {};
    ::read(ends[0], piped, 5);
    std::cout << "through the pipe: '" << piped << "' dupfd>=10: " << (::fcntl(ends[0], F_DUPFD, 10) >= 10) << "\n";
  }

  fs::remove("tour/a/copy.txt");
  std::cout << "removed: " << fs::remove_all("tour/a") << " entries\n";
  show(root / "tour", "end");
  return 0;
}
