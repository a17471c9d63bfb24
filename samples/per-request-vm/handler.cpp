// per-request-vm's handler: the small C++ program each request runs in, in a
// microVM reset to the same snapshot every time. Its start-up (iostream, a
// table it builds) happens once, before hyperlet::ready(), where the snapshot
// is taken; every request then begins at ready() with the connection as its
// stdin and stdout. `requests_seen` shows that no request sees another's
// memory: it is always 1.
#include <hyperlet/guest.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

int requests_seen = 0;

// Reads the request head (up to the blank line, at most 8 KiB) from stdin.
std::string read_request_head() {
  std::string head;
  char buffer[2048];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    const ssize_t got = read(0, buffer, sizeof buffer);
    if (got <= 0) break;
    head.append(buffer, static_cast<std::size_t>(got));
  }
  return head;
}

void write_all(const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t wrote = write(1, text.data() + done, text.size() - done);
    if (wrote <= 0) return;
    done += static_cast<std::size_t>(wrote);
  }
}

}  // namespace

int main() {
  // Start-up worth keeping in the snapshot: a table built once.
  std::vector<std::string> greetings = {"hello", "bonjour", "hallo", "hola", "ciao", "hej"};
  hyperlet::ready();  // the snapshot point: each request starts here

  const std::string head = read_request_head();
  const std::size_t path_start = head.find(' ');
  const std::size_t path_end = path_start == std::string::npos ? std::string::npos : head.find(' ', path_start + 1);
  if (path_end == std::string::npos) {
    write_all("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return 0;
  }
  const std::string path = head.substr(path_start + 1, path_end - path_start - 1);
  ++requests_seen;
  std::random_device entropy;  // getrandom: fresh in every request
  const std::string body = greetings[entropy() % greetings.size()] + " from a fresh microVM: path " + path +
                           ", requests seen by this memory " + std::to_string(requests_seen) + ", token " +
                           std::to_string(entropy()) + "\n";
  write_all("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\nConnection: close\r\n\r\n" + body);
  return 0;
}
