// Library version and build provenance.
#pragma once

#include <string_view>

namespace realizar {

std::string_view Version();  // "0.1.0"

}  // namespace realizar
