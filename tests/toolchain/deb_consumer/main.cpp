// greeter: answers every HTTP request on port 8080 with the file DIR/greeting
// (DIR: its first argument, default /data).
#include <hyperlet/guest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/data";
  const int server = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(8080);
  if (bind(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(server, 16) != 0) {
    std::perror("greeter: port 8080");
    return 1;
  }
  hyperlet::ready();  // tells `hyperlet run --stats` start-up is over; natively it does nothing
  for (;;) {
    const int client = accept(server, nullptr, nullptr);
    if (client < 0) continue;
    char request[4096];
    if (read(client, request, sizeof request) > 0) {  // one read: enough for curl's GET
      std::ifstream file(dir + "/greeting");
      const std::string body{std::istreambuf_iterator<char>(file), {}};
      const std::string response =
          "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      write(client, response.data(), response.size());
    }
    close(client);
  }
}
