#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "aprender/signing.h"

namespace {

std::vector<uint8_t> Unhex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Base64(const std::vector<uint8_t>& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = uint32_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint32_t(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= in[i + 2];
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? k[v & 63] : '=';
  }
  return out;
}

// PKCS#8 / SubjectPublicKeyInfo wrappers for raw Ed25519 keys (RFC 8410), built by hand so the
// test does not depend on the code under test to produce its inputs.
std::string PrivatePemFromSeed(const std::string& seed_hex) {
  auto der = Unhex("302e020100300506032b657004220420" + seed_hex);
  return "-----BEGIN PRIVATE KEY-----\n" + Base64(der) + "\n-----END PRIVATE KEY-----\n";
}
std::string PublicPemFromRaw(const std::string& pub_hex) {
  auto der = Unhex("302a300506032b6570032100" + pub_hex);
  return "-----BEGIN PUBLIC KEY-----\n" + Base64(der) + "\n-----END PUBLIC KEY-----\n";
}

// RFC 8032 section 7.1, TEST 1 (empty message).
const std::string kRfcSecret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const std::string kRfcPublic = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const std::string kRfcSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
    "6bd25bf5f0595bbe24655141438e7a100b";

}  // namespace

TEST_CASE("SHA-256 of \"abc\" and of the empty string equal the FIPS 180-2 vectors", "[signing]") {
  CHECK(aprender::HexEncode(aprender::Sha256(Bytes("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(aprender::HexEncode(aprender::Sha256({})) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(aprender::HexEncode(
            aprender::Sha256(Bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("HexEncode writes lower-case pairs", "[signing]") {
  const std::vector<uint8_t> b = {0x00, 0x0f, 0xa0, 0xff};
  CHECK(aprender::HexEncode(b) == "000fa0ff");
}

TEST_CASE("Ed25519 signing reproduces RFC 8032 test vector 1", "[signing]") {
  const std::string priv = PrivatePemFromSeed(kRfcSecret);
  auto sig = aprender::SignEd25519(priv, {});
  REQUIRE(sig.ok());
  CHECK(aprender::HexEncode(*sig) == kRfcSignature);

  auto pub = aprender::PublicKeyFromPrivate(priv);
  REQUIRE(pub.ok());
  CHECK(*pub == PublicPemFromRaw(kRfcPublic));
  CHECK(aprender::VerifyEd25519(PublicPemFromRaw(kRfcPublic), {}, Unhex(kRfcSignature)).ok());
}

TEST_CASE("Ed25519 verify accepts the right key and rejects a wrong key or altered message",
          "[signing]") {
  auto a = aprender::GenerateEd25519KeyPair();
  auto b = aprender::GenerateEd25519KeyPair();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->private_pem.find("BEGIN PRIVATE KEY") != std::string::npos);
  CHECK(a->public_pem.find("BEGIN PUBLIC KEY") != std::string::npos);
  const std::string msg = "model manifest";
  auto sig = aprender::SignEd25519(a->private_pem, Bytes(msg));
  REQUIRE(sig.ok());
  CHECK(sig->size() == 64);
  CHECK(aprender::VerifyEd25519(a->public_pem, Bytes(msg), *sig).ok());
  // The private PEM also carries the public key.
  CHECK(aprender::VerifyEd25519(a->private_pem, Bytes(msg), *sig).ok());

  auto wrong_key = aprender::VerifyEd25519(b->public_pem, Bytes(msg), *sig);
  CHECK(wrong_key.code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(wrong_key.message()) == "signature does not match");
  CHECK(aprender::VerifyEd25519(a->public_pem, Bytes("model manifesT"), *sig).code() ==
        absl::StatusCode::kDataLoss);
  auto flipped = *sig;
  flipped[10] ^= 0x01;
  CHECK(aprender::VerifyEd25519(a->public_pem, Bytes(msg), flipped).code() ==
        absl::StatusCode::kDataLoss);
  flipped.resize(10);
  CHECK(aprender::VerifyEd25519(a->public_pem, Bytes(msg), flipped).code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("Ed25519 rejects malformed and non-Ed25519 keys with InvalidArgument", "[signing]") {
  CHECK(aprender::SignEd25519("not a key", Bytes("x")).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(aprender::VerifyEd25519("", Bytes("x"), std::vector<uint8_t>(64)).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(aprender::PublicKeyFromPrivate(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  // A P-256 public key (SubjectPublicKeyInfo) is well-formed PEM but not Ed25519.
  const std::string p256 =
      "-----BEGIN PUBLIC KEY-----\n"
      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEMKBCTNIcKUSDii11ySs3526iDZ8A\n"
      "iTo7Tu6KPAqv7D7gS2XpJFbZiItSs3m9+9Ue6GnvHw/GW2ZZaVtszggXIw==\n"
      "-----END PUBLIC KEY-----\n";
  auto s = aprender::VerifyEd25519(p256, Bytes("x"), std::vector<uint8_t>(64));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
}
