#pragma once
// Exceptions. Every error names what the user can fix: the file, the JSON path
// of the field, the subgraph, or the backend that was asked for.

#include <stdexcept>
#include <string>

namespace hwcal {

/// Base of all hwcal errors.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A profile or workload document that cannot be used: names the file and the
/// JSON pointer (RFC 6901) of the offending field.
class DocumentError : public Error {
 public:
  DocumentError(std::string file, std::string pointer, std::string problem)
      : Error(format(file, pointer, problem)),
        file_(std::move(file)),
        pointer_(std::move(pointer)),
        problem_(std::move(problem)) {}
  const std::string& file() const noexcept { return file_; }
  const std::string& pointer() const noexcept { return pointer_; }
  /// What is wrong, without the file and field prefix.
  const std::string& problem() const noexcept { return problem_; }

 private:
  static std::string format(const std::string& file, const std::string& pointer, const std::string& what) {
    std::string out = file.empty() ? std::string("<memory>") : file;
    if (!pointer.empty()) out += ": field '" + pointer + "'";
    return out + ": " + what;
  }
  std::string file_;
  std::string pointer_;
  std::string problem_;
};

/// A backend, device or precision that was asked for and is not there. Never
/// answered by substituting another one.
class UnavailableError : public Error {
 public:
  using Error::Error;
};

}  // namespace hwcal
