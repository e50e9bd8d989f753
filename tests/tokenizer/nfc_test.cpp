// NFC normalization (libs/runtime/src/tokenizer/unicode_nfc.*): hand-checked cases, all Hangul
// syllables, a corpus whose NFC / NFD / reordered forms were made by Python's unicodedata
// (tests/fixtures/tokenizer/nfc_pairs.jsonl, gen_nfc_fixture.py), and the Qwen2 tokenizer
// (tokenizer.json declares "normalizer": {"type": "NFC"}) giving the NFC form's ids for every
// canonically equivalent input.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "aprender/hf_dir.h"
#include "realizar/tokenizer.h"
#include "test_assets.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

namespace {

using realizar::internal::NfcNormalize;

std::string U8(std::initializer_list<uint32_t> cps) {
  std::string s;
  for (uint32_t cp : cps) realizar::internal::AppendUtf8(cp, s);
  return s;
}

struct Row {
  std::string source, nfc, nfd, variant;
};

std::vector<Row> LoadRows() {
  std::ifstream in(std::string(APR_TOKENIZER_FIXTURES) + "/nfc_pairs.jsonl");
  REQUIRE(in);
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    const auto v = boost::json::parse(line).as_object();
    rows.push_back({std::string(v.at("source").as_string()), std::string(v.at("nfc").as_string()),
                    std::string(v.at("nfd").as_string()),
                    std::string(v.at("variant").as_string())});
  }
  REQUIRE(rows.size() >= 10);
  return rows;
}

}  // namespace

TEST_CASE("NFC composes, orders, maps singletons and keeps exclusions (hand-checked)",
          "[tokenizer][nfc]") {
  CHECK(NfcNormalize(U8({'e', 0x301})) == U8({0xE9}));                // e + acute -> é
  CHECK(NfcNormalize(U8({0x1100, 0x1161, 0x11A8})) == U8({0xAC01}));  // jamo L V T -> 각
  CHECK(NfcNormalize(U8({0x1100, 0x1161})) == U8({0xAC00}));          // L V -> 가
  CHECK(NfcNormalize(U8({0xAC00, 0x11A8})) == U8({0xAC01}));          // LV + T -> LVT
  CHECK(NfcNormalize(U8({0x2126})) == U8({0x3A9}));                   // OHM SIGN -> Omega
  CHECK(NfcNormalize(U8({0x212B})) == U8({0xC5}));                    // ANGSTROM SIGN -> Å
  // Marks reorder by class (dot below 220 before acute 230); the dot composes, the acute is
  // then blocked from nothing but has no composite with U+1EA1.
  CHECK(NfcNormalize(U8({'a', 0x301, 0x323})) == U8({0x1EA1, 0x301}));
  CHECK(NfcNormalize(U8({'a', 0x323, 0x301})) == U8({0x1EA1, 0x301}));
  CHECK(NfcNormalize(U8({'o', 0x302, 0x323})) == U8({0x1ED9}));  // ộ: both marks compose
  CHECK(NfcNormalize(U8({'e', 0x302, 0x301})) == U8({0x1EBF}));  // ế
  // Composition exclusion: DEVANAGARI QA decomposes and never recomposes.
  CHECK(NfcNormalize(U8({0x958})) == U8({0x915, 0x93C}));
  CHECK(NfcNormalize(U8({0x915, 0x93C})) == U8({0x915, 0x93C}));
  // A second mark of the same class is blocked by the first.
  CHECK(NfcNormalize(U8({'a', 0x308, 0x308})) == U8({0xE4, 0x308}));
  CHECK(NfcNormalize(U8({0x301, 'a'})) == U8({0x301, 'a'}));  // leading mark has no starter
  CHECK(NfcNormalize(U8({0x304B, 0x3099})) == U8({0x304C}));  // か + dakuten -> が
  CHECK(NfcNormalize(U8({'A', 0x300, 0x316})) == U8({0xC0, 0x316}));
  // Invalid UTF-8 passes through and separates runs.
  CHECK(NfcNormalize(std::string("e\xFF") + U8({0x301})) == std::string("e\xFF") + U8({0x301}));
  CHECK(NfcNormalize("plain ASCII stays") == "plain ASCII stays");
  CHECK(realizar::internal::IsNfcQuickYes("plain ASCII, Кириллица, 中文, é"));
  CHECK_FALSE(realizar::internal::IsNfcQuickYes(U8({'e', 0x301})));
  CHECK(std::string(realizar::internal::NfcUnicodeVersion()).size() >= 5);
}

TEST_CASE("Every Hangul syllable is recomposed from its jamo", "[tokenizer][nfc]") {
  // S = 0xAC00 + (L * 21 + V) * 28 + T (The Unicode Standard, 3.12).
  for (uint32_t s = 0; s < 11172; ++s) {
    const uint32_t l = 0x1100 + s / (21 * 28), v = 0x1161 + (s % (21 * 28)) / 28, t = s % 28;
    const std::string jamo = t ? U8({l, v, 0x11A7 + t}) : U8({l, v});
    INFO("syllable " << std::hex << 0xAC00 + s);
    REQUIRE(NfcNormalize(jamo) == U8({0xAC00 + s}));
  }
}

TEST_CASE("Code points below U+0300 are NFC-stable on their own", "[tokenizer][nfc]") {
  // The normalizer skips table lookups below U+0300; check that assumption exhaustively.
  for (uint32_t cp = 1; cp < 0x300; ++cp) {
    INFO("U+" << std::hex << cp);
    REQUIRE(NfcNormalize(U8({cp})) == U8({cp}));
  }
}

TEST_CASE("NFC of the unicodedata corpus: NFD and reordered forms give the NFC form",
          "[tokenizer][nfc]") {
  for (const Row& r : LoadRows()) {
    INFO(r.nfc);
    CHECK(NfcNormalize(r.source) == r.nfc);
    CHECK(NfcNormalize(r.nfd) == r.nfc);
    CHECK(NfcNormalize(r.variant) == r.nfc);
    CHECK(NfcNormalize(r.nfc) == r.nfc);
  }
}

TEST_CASE("Qwen2 tokenizer gives the NFC form's ids for canonically equivalent inputs",
          "[tokenizer][nfc]") {
  APR_REQUIRE_ASSET("tokenizers/qwen2/tokenizer.json");
  aprender::Metadata md;
  REQUIRE(aprender::ImportHfTokenizer(
              (apr_test::SharedAssets() / "tokenizers/qwen2/tokenizer.json").string(), md)
              .ok());
  // The importer records tokenizer.json's normalizer.
  REQUIRE(md.GetStringOr("tokenizer.apr.normalizer") == std::optional<std::string>("NFC"));
  auto tok = realizar::Tokenizer::FromMetadata(md);
  REQUIRE(tok.ok());
  // A GGUF converted elsewhere carries no normalizer key: qwen2's pre-tokenizer implies NFC.
  aprender::Metadata gguf_like = md;
  gguf_like.Erase("tokenizer.apr.normalizer");
  auto tok_gguf = realizar::Tokenizer::FromMetadata(gguf_like);
  REQUIRE(tok_gguf.ok());
  // Explicitly off: the raw code points are tokenized (the pre-fix behaviour).
  aprender::Metadata off = md;
  off.Set("tokenizer.apr.normalizer", aprender::MetaValue::String("none"));
  auto tok_off = realizar::Tokenizer::FromMetadata(off);
  REQUIRE(tok_off.ok());

  int differs_without_nfc = 0;
  for (const Row& r : LoadRows()) {
    INFO(r.nfc);
    const std::vector<int32_t> want = tok->Encode(r.nfc, false, true);
    CHECK(tok_off->Encode(r.nfc, false, true) == want);  // NFC input is unchanged by NFC
    CHECK(tok->Encode(r.nfd, false, true) == want);
    CHECK(tok->Encode(r.variant, false, true) == want);
    CHECK(tok->Encode(r.source, false, true) == want);
    CHECK(tok_gguf->Encode(r.nfd, false, true) == want);
    // With a special token in the middle, normalization applies on both sides of it.
    const std::vector<int32_t> special = tok->Encode(r.nfd + "<|im_end|>" + r.nfd, false, true);
    std::vector<int32_t> want_special = want;
    want_special.push_back(tok->Encode("<|im_end|>", false, true).at(0));
    want_special.insert(want_special.end(), want.begin(), want.end());
    CHECK(special == want_special);
    if (tok_off->Encode(r.nfd, false, true) != want) ++differs_without_nfc;
  }
  CHECK(differs_without_nfc >= 8);  // the fixture really exercises normalization
}
