#pragma once
// Whole-file writes that never leave a half-written file behind: write a
// temporary file next to the target, fsync it, rename it over the target and
// fsync the directory. A crash or kill at any point leaves either the old file
// or the new one, never a mix.

#include <hwcal/error.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

namespace hwcal {
namespace detail {

inline std::string errno_text() { return std::strerror(errno); }

inline std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// Throws Error unless write_file_atomic(path, ...) could create its temporary
/// file: checked before a long calibration, not after it.
inline void check_writable(const std::string& path) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot write there: " + errno_text());
  ::close(fd);
  ::unlink(tmp.c_str());
}

/// Writes `content` to `path` atomically. `after_chunk(bytes_written)` is
/// called after each chunk; tests use it to stop the process mid-write.
inline void write_file_atomic(const std::string& path, std::string_view content,
                              const std::function<void(std::size_t)>& after_chunk = {}) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot create temporary file " + tmp + ": " + errno_text());
  auto fail = [&](const std::string& what) {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(path + ": " + what + ": " + why);
  };
  constexpr std::size_t chunk = 1 << 16;
  std::size_t done = 0;
  while (done < content.size()) {
    const std::size_t n = std::min(chunk, content.size() - done);
    const ssize_t w = ::write(fd, content.data() + done, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write failed");
    }
    done += static_cast<std::size_t>(w);
    if (after_chunk) after_chunk(done);
  }
  if (::fsync(fd) != 0) fail("fsync failed");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path + ": close failed: " + errno_text());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error(path + ": rename from " + tmp + " failed: " + why);
  }
  // Make the rename itself durable.
  const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace detail
}  // namespace hwcal
