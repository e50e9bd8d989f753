// Unicode Normalization Form C (UAX #15): canonical decomposition, canonical ordering of
// combining marks, canonical composition (Hangul algorithmically). Tables are generated from
// Python's unicodedata by scripts/gen_unicode_nfc.py (Unicode version: NfcUnicodeVersion()).
#pragma once

#include <string>
#include <string_view>

namespace realizar::internal {

// True when `text` is certainly already in NFC (NFC_Quick_Check = Yes for every code point and
// no combining marks), i.e. NfcNormalize would return it unchanged. Cheap: ASCII and most
// letters are decided without a table lookup.
bool IsNfcQuickYes(std::string_view text);

// The NFC form of `text`. Bytes that are not valid UTF-8 are copied through unchanged and act
// as boundaries (nothing composes across them).
std::string NfcNormalize(std::string_view text);

// The Unicode version of the generated tables, e.g. "14.0.0".
const char* NfcUnicodeVersion();

}  // namespace realizar::internal
