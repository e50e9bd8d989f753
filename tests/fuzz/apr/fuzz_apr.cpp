// libFuzzer entry point for the .apr parser: any input must give a ModelFile or an error, never a
// crash, hang or out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <span>

#include "aprender/apr_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = aprender::ParseApr(std::span<const uint8_t>(data, size), "fuzz.apr");
  if (model.ok()) {
    // Touch every tensor byte so ASan sees any view that points outside the input.
    volatile uint8_t sink = 0;
    for (const auto& t : model->tensors) {
      for (uint8_t b : t.data) sink = sink ^ b;
    }
    (void)sink;
  }
  return 0;
}
