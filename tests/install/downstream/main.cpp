// Uses one symbol from each package so that a broken export of any of them fails to link.
#include <cstdio>

#include "aprender/metadata.h"
#include "realizar/version.h"
#include "trueno/dtype.h"
#include "trueno/half.h"

int main() {
  aprender::Metadata md;
  md.Set("general.architecture", aprender::MetaValue::String("llama"));
  auto arch = md.GetString("general.architecture");
  auto bytes = trueno::ByteSize(trueno::DType::kQ4_K, 512);
  if (!arch.ok() || *arch != "llama" || !bytes.ok() || *bytes != 288) return 1;
  if (trueno::Fp16ToFp32(0x3C00) != 1.0f) return 1;
  std::printf("realizar %s\n", std::string(realizar::Version()).c_str());
  return 0;
}
