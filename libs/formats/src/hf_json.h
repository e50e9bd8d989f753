// Private JSON helpers shared by the SafeTensors and Hugging Face directory code. Boost.JSON is
// used only through these functions and the error_code overloads: no exception leaves them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aprender::hf_internal {

// Parses `text` as one JSON document (depth limit 64). `what` names the source in errors.
// Malformed text is DataLoss; allocation failure is ResourceExhausted.
absl::StatusOr<boost::json::value> ParseJson(std::string_view text, const std::string& what);

// The first key that appears twice in the top-level object of `text` (already known to be valid
// JSON), or nullopt. Boost.JSON's DOM keeps only the last duplicate, so this scans the text.
absl::StatusOr<std::optional<std::string>> FindDuplicateTopLevelKey(std::string_view text);

// Reads a whole (small) file: NotFound when missing, ResourceExhausted above `max_bytes`.
absl::StatusOr<std::string> ReadTextFile(const std::string& path, uint64_t max_bytes);
absl::StatusOr<boost::json::value> ReadJsonFile(const std::string& path, uint64_t max_bytes);

// Serialises and writes `value` (pretty enough for humans: one top-level key per line).
[[nodiscard]] absl::Status WriteJsonFile(const boost::json::value& value, const std::string& path);
absl::StatusOr<std::string> SerializeJson(const boost::json::value& value);

// Typed lookups that never throw; nullopt when absent or of another type.
std::optional<int64_t> GetInt(const boost::json::object& obj, std::string_view key);
std::optional<double> GetNumber(const boost::json::object& obj, std::string_view key);
std::optional<bool> GetBool(const boost::json::object& obj, std::string_view key);
std::optional<std::string> GetString(const boost::json::object& obj, std::string_view key);
const boost::json::object* GetObject(const boost::json::object& obj, std::string_view key);
const boost::json::array* GetArray(const boost::json::object& obj, std::string_view key);

// Integer value of a JSON number that is exactly an integer (int64, uint64 or integral double).
std::optional<int64_t> AsInt(const boost::json::value& v);

}  // namespace aprender::hf_internal
