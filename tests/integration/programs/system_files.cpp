// What a static program finds under /etc without a volume: users, groups,
// localhost, the time zone (TZ and the host's zoneinfo), and which resolver
// files exist. The microVM's answers are fixed (the synthesized /etc), so the
// tests compare with expected text, not with this host's own /etc.
#include <arpa/inet.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

int main() {
  const passwd* root = getpwnam("root");
  std::printf("getpwnam(root): %s uid %d home %s\n", root ? root->pw_name : "none",
              root ? static_cast<int>(root->pw_uid) : -1, root ? root->pw_dir : "-");
  const passwd* nobody = getpwuid(65534);
  std::printf("getpwuid(65534): %s\n", nobody ? nobody->pw_name : "none");
  const group* wheel = getgrgid(0);
  std::printf("getgrgid(0): %s\n", wheel ? wheel->gr_name : "none");
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  const int status = getaddrinfo("localhost", nullptr, &hints, &found);
  char text[64] = "?";
  if (status == 0) inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof text);
  std::printf("getaddrinfo(localhost): %s %s\n", status == 0 ? "ok" : gai_strerror(status), text);
  const time_t moment = 1700000000;
  tm local{};
  localtime_r(&moment, &local);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", &local);
  std::printf("TZ=%s: %s\n", std::getenv("TZ") ? std::getenv("TZ") : "(unset)", when);
  std::printf("resolv.conf: %s\n", access("/etc/resolv.conf", R_OK) == 0 ? "present" : "absent");
  std::printf("/etc writable: %s\n", access("/etc/passwd", W_OK) == 0 ? "yes" : "no");
  return 0;
}
