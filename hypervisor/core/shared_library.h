// A shared library loaded when it is first needed (dlopen) rather than linked:
// every library a process links is mapped and relocated at each start, and on a
// PVM host each page that touches costs ~30 µs (PERFORMANCE.md, "Process start").
// The handle is never closed: the functions stay valid for the process's life.
#pragma once

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "core/error.h"

namespace hyperlet {

class SharedLibrary {
 public:
  // `soname`, e.g. "libarchive.so.13"; the error says what it was needed for
  // (`purpose`) and what to do (`remedy`).
  static Result<SharedLibrary> open(const char* soname, const std::string& purpose, const std::string& remedy) {
    void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
      return fail(ExitStatus::kUsage, "cannot load {} {}: {} ({})", soname, purpose, ::dlerror(), remedy);
    return SharedLibrary(soname, handle);
  }

  // Sets `function` to the library's `name`; a missing one is remembered for finish().
  template <typename Function>
  void resolve(Function& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<Function>>(::dlsym(handle_, name));
    if (function == nullptr && missing_.empty()) missing_ = name;
  }

  // An error naming the first function the library lacks (`too_old` says why that matters).
  Result<void> finish(const std::string& too_old) const {
    if (!missing_.empty()) return fail(ExitStatus::kUsage, "{} has no {}: {}", soname_, missing_, too_old);
    return {};
  }

 private:
  SharedLibrary(const char* soname, void* handle) : soname_(soname), handle_(handle) {}
  const char* soname_;
  void* handle_;
  std::string missing_;
};

}  // namespace hyperlet
