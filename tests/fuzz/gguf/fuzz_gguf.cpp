// Fuzzes the GGUF parser and, for inputs it accepts, the model description built on top.
// Every accepted tensor view is read end to end so ASan catches a span past the input.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "aprender/gguf.h"
#include "aprender/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = aprender::ParseGguf(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!model.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const aprender::Tensor& t : model->tensors) {
    uint8_t acc = 0;
    for (uint8_t b : t.data) acc ^= b;
    sink = sink ^ acc;
  }
  for (const auto& [key, value] : model->metadata.entries()) {
    sink = sink ^ static_cast<uint8_t>(value.ToString(4).size() + key.size());
  }
  auto config = aprender::ModelConfigFromFile(*model);
  if (config.ok()) {
    aprender::Metadata md;
    aprender::ModelConfigToMetadata(*config, md);
  }
  return 0;
}
