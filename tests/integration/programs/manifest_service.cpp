// A service described entirely by its image's manifest (tests/integration/
// CMakeLists.txt builds it with VOLUME, PUBLISH, FILES, WORKDIR, HOSTNAME): it
// reads its shipped config, writes into its volume (through the working
// directory the manifest sets), and answers one HTTP request on its port with
// the config's greeting. One line per step, errno names as text.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string error_name(int error) {
  switch (error) {
    case EROFS:
      return "EROFS";
    case ENOENT:
      return "ENOENT";
    case EBUSY:
      return "EBUSY";
    case EACCES:
      return "EACCES";
    default:
      return std::to_string(error);
  }
}

}  // namespace

int main() {
  std::ifstream config("/etc/service.conf");
  std::ostringstream text;
  text << config.rdbuf();
  std::string greeting = text.str();
  if (!greeting.empty() && greeting.back() == '\n') greeting.pop_back();
  std::printf("config: %s\n", greeting.c_str());
  std::FILE* write_config = std::fopen("/etc/service.conf", "w");
  std::printf("config write: %s\n", write_config == nullptr ? error_name(errno).c_str() : "ok");
  std::printf("config unlink: %s\n", ::unlink("/etc/service.conf") == 0 ? "ok" : error_name(errno).c_str());
  char cwd[256] = {};
  std::printf("cwd: %s\n", ::getcwd(cwd, sizeof cwd) != nullptr ? cwd : "?");
  char host[128] = {};
  ::gethostname(host, sizeof host);
  std::printf("hostname: %s\n", host);
  struct stat info {};
  std::printf("cache: %s\n", ::stat("/cache", &info) == 0 ? "present" : error_name(errno).c_str());
  {
    std::ofstream log("visits.log", std::ios::app);  // relative: in the working directory, the volume
    log << "served: " << greeting << "\n";
    std::printf("log: %s\n", log ? "written" : "failed");
  }
  std::fflush(stdout);

  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(8080);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 1) != 0) {
    std::printf("listen: %s\n", error_name(errno).c_str());
    return 1;
  }
  const int client = ::accept(listener, nullptr, nullptr);
  if (client < 0) return 1;
  char request[1024];
  if (::read(client, request, sizeof request) < 0) return 1;
  const std::string response =
      "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(greeting.size() + 1) + "\r\n\r\n" + greeting + "\n";
  if (::write(client, response.data(), response.size()) < 0) return 1;
  ::close(client);
  std::printf("answered\n");
  return 0;
}
