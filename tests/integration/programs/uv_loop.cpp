// libuv's event loop with its thread pool (Debian's static libuv): a file write
// done by a pool thread, a work item, and a wake-up sent from another thread.
// The loop waits in epoll_wait for the pool's eventfd; before blocking calls
// were parked, that wait stopped the pool threads too and the loop hung.
// Each step starts from the callback of the one before, so the output's order
// does not depend on how the pool threads happen to be scheduled.
// argv[1]: a directory to write in (a volume in the microVM).
#include <fcntl.h>
#include <uv.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

namespace {

uv_loop_t* loop;
uv_fs_t open_request, write_request, close_request, read_request;
char text[] = "written by a libuv pool thread\n";
char read_back[64];
uv_buf_t buffer;
std::string path;
int work_result = 0;
uv_async_t async;
uv_work_t work_request;
std::mutex chain_mutex;
std::condition_variable chain_done_changed;
bool chain_done = false;

void on_read(uv_fs_t* request) {
  std::printf("read back %zd bytes: %s", request->result, read_back);
  uv_fs_req_cleanup(request);
  const std::lock_guard lock(chain_mutex);
  chain_done = true;
  chain_done_changed.notify_one();
}

void on_close(uv_fs_t* request) {
  uv_fs_req_cleanup(request);
  const int fd = static_cast<int>(uv_fs_open(loop, &open_request, path.c_str(), O_RDONLY, 0, nullptr));
  uv_fs_req_cleanup(&open_request);
  buffer = uv_buf_init(read_back, sizeof read_back - 1);
  uv_fs_read(loop, &read_request, fd, &buffer, 1, 0, on_read);
}

void work(uv_work_t*) {
  long sum = 0;
  for (long i = 1; i <= 1000; ++i) sum += i;
  work_result = static_cast<int>(sum);
}

void after_work(uv_work_t*, int status) {
  std::printf("work done (status %d): %d\n", status, work_result);
  uv_fs_close(loop, &close_request, static_cast<uv_file>(open_request.result), on_close);
}

void on_write(uv_fs_t* request) {
  std::printf("pool wrote %zd bytes\n", request->result);
  uv_fs_req_cleanup(request);
  uv_queue_work(loop, &work_request, work, after_work);
}

void on_open(uv_fs_t* request) {
  if (request->result < 0) {
    std::printf("open failed: %s\n", uv_strerror(static_cast<int>(request->result)));
    return;
  }
  buffer = uv_buf_init(text, static_cast<unsigned>(std::strlen(text)));
  uv_fs_write(loop, &write_request, static_cast<uv_file>(request->result), &buffer, 1, 0, on_write);
}

void on_async(uv_async_t* handle) {
  std::printf("woken by another thread\n");
  uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: uv_loop DIRECTORY\n");
    return 2;
  }
  path = std::string(argv[1]) + "/uv-output.txt";
  loop = uv_default_loop();
  uv_fs_open(loop, &open_request, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644, on_open);
  uv_async_init(loop, &async, on_async);
  // The wake-up comes from another thread while the loop waits in epoll_wait
  // with nothing else pending: it alone can end the loop.
  std::thread sender([] {
    std::unique_lock lock(chain_mutex);
    chain_done_changed.wait(lock, [] { return chain_done; });
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uv_async_send(&async);
  });
  uv_run(loop, UV_RUN_DEFAULT);
  sender.join();
  uv_loop_close(loop);
  std::printf("loop ended\n");
  return 0;
}
