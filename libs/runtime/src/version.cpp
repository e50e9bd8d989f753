#include "realizar/version.h"

namespace realizar {

std::string_view Version() { return "0.1.0"; }

}  // namespace realizar
