// libFuzzer entry point for the SafeTensors parser: any input must either fail with a status or
// yield tensors whose views lie inside the input and match their dtype/shape.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "aprender/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto model = aprender::ParseSafetensors(bytes, "fuzz-input");
  if (!model.ok()) return 0;
  unsigned sum = 0;
  for (const aprender::Tensor& t : model->tensors) {
    if (t.data.size() != 0 &&
        (t.data.data() < data || t.data.data() + t.data.size() > data + size)) {
      std::abort();  // a view outside the input would be an out-of-bounds read later
    }
    auto bytes_needed = trueno::ByteSize(t.type, t.elements());
    if (!bytes_needed.ok() || *bytes_needed != t.data.size()) std::abort();
    for (uint8_t b : t.data) sum += b;  // touch every byte so ASan checks the views
  }
  return static_cast<int>(sum & 0);
}
