// String concatenation for messages. Debian's Abseil is built with
// ABSL_OPTION_USE_STD_STRING_VIEW=0, so absl::StrCat rejects std::string_view arguments;
// this accepts anything streamable (strings, string_views, numbers).
#pragma once

#include <sstream>
#include <string>

namespace trueno {

template <typename... Args>
std::string Concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace trueno
