// apr run / pass / chat / tokenize / bench, end to end on a synthesized model (apr synth) and on
// frankentiny. References are library calls made here (Tokenizer::Encode, a greedy loop over
// Model::Forward + Argmax), never the command under test.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "apr_runner.h"
#include "aprender/gguf.h"
#include "aprender/model_file.h"
#include "realizar/model.h"
#include "realizar/sampler.h"
#include "realizar/tokenizer.h"

using apr_run_test::Apr;
using apr_run_test::ParseJson;
using apr_run_test::RunResult;
using apr_run_test::WriteFile;

namespace {

// A failure must be exit code 1 with exactly one line "apr: error: ..." on stderr.
void CheckOneLineError(const RunResult& r) {
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.rfind("apr: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

std::string SynthModel(const apr_test::ScratchDir& dir) {
  const std::string path = dir.file("tiny.gguf");
  auto r = Apr(dir, "synth --preset tiny-llama --type f32 --seed 11 -o '" + path + "'");
  INFO(r.err);
  REQUIRE(r.code == 0);
  return path;
}

std::vector<int32_t> Ids(const boost::json::value& v) {
  std::vector<int32_t> out;
  for (const auto& x : v.as_array()) out.push_back(static_cast<int32_t>(x.as_int64()));
  return out;
}

// Greedy decoding with the library: prompt ids (vocabulary BOS rule, no special parsing), then
// argmax until an end-of-generation token or max_tokens.
std::vector<int32_t> LibraryGreedy(const std::string& path, const std::string& prompt,
                                   int max_tokens) {
  auto file = aprender::LoadModelFile(path);
  REQUIRE(file.ok());
  auto tok = realizar::Tokenizer::FromMetadata(file->metadata);
  REQUIRE(tok.ok());
  auto model = realizar::Model::FromFile(std::move(*file));
  REQUIRE(model.ok());
  std::vector<int32_t> ids = tok->Encode(prompt, true, false);
  std::vector<float> logits((*model)->n_vocab());
  REQUIRE((*model)->Forward(ids, 0, 0, logits.data()).ok());
  std::vector<int32_t> out;
  int pos = static_cast<int>(ids.size());
  while (static_cast<int>(out.size()) < max_tokens) {
    const int32_t t = realizar::Argmax(logits);
    if (tok->IsEog(t)) break;
    out.push_back(t);
    const int32_t one[1] = {t};
    REQUIRE((*model)->Forward(one, 0, pos++, logits.data()).ok());
  }
  return out;
}

const char* kGreedy = "--raw --temperature 0 --json";

}  // namespace

TEST_CASE("run --json reports text, prompt ids, ids, finish reason and timings") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  auto r = Apr(dir, "run '" + model + "' 'Hello world' --max-tokens 6 --seed 3 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = ParseJson(r.out).as_object();
  CHECK(j.at("text").is_string());
  CHECK(!j.at("prompt_ids").as_array().empty());
  CHECK(j.at("ids").as_array().size() <= 6);
  const std::string reason(j.at("finish_reason").as_string());
  CHECK((reason == "length" || reason == "stop"));
  const auto& t = j.at("timings").as_object();
  for (const char* key : {"load_ms", "prompt_tokens", "prefill_ms", "prefill_tok_s", "ttft_ms",
                          "decode_ms", "decode_tok_s", "generated_tokens"}) {
    INFO(key);
    CHECK(t.contains(key));
  }
  CHECK(t.at("prompt_tokens").as_int64() ==
        static_cast<int64_t>(j.at("prompt_ids").as_array().size()));
  // The synthesized model carries a chat template, so the prompt went through it by default.
  CHECK(j.at("chat").as_bool());
}

TEST_CASE("run at temperature 0 equals the library's greedy decoding, whatever the seed") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  const auto a = Apr(dir, "run '" + model + "' 'Once upon' --max-tokens 12 --seed 1 " + kGreedy);
  REQUIRE(a.code == 0);
  const auto b = Apr(dir, "run '" + model + "' 'Once upon' --max-tokens 12 --seed 99 " + kGreedy);
  REQUIRE(b.code == 0);
  const auto ids_a = Ids(ParseJson(a.out).at("ids"));
  CHECK(ids_a == Ids(ParseJson(b.out).at("ids")));
  CHECK(ids_a == LibraryGreedy(model, "Once upon", 12));
  // --top-k 1 at any temperature is greedy too.
  const auto c = Apr(dir, "run '" + model +
                              "' 'Once upon' --max-tokens 12 --raw --temperature 1.5 --top-k 1 "
                              "--seed 5 --json");
  REQUIRE(c.code == 0);
  CHECK(Ids(ParseJson(c.out).at("ids")) == ids_a);
}

TEST_CASE("run with the same seed samples the same ids; another seed differs") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  const std::string args = "run '" + model +
                           "' 'abc' --raw --temperature 1.0 --top-k 0 --top-p 1 --min-p 0 "
                           "--max-tokens 24 --json --seed ";
  const auto a = Apr(dir, args + "7");
  const auto b = Apr(dir, args + "7");
  const auto c = Apr(dir, args + "8");
  REQUIRE(a.code == 0);
  REQUIRE(b.code == 0);
  REQUIRE(c.code == 0);
  const auto ids_a = Ids(ParseJson(a.out).at("ids"));
  CHECK(ids_a == Ids(ParseJson(b.out).at("ids")));
  // Near-uniform random weights over 300 tokens: 24 equal draws by chance are impossible.
  CHECK(ids_a != Ids(ParseJson(c.out).at("ids")));
}

TEST_CASE("run stops at max tokens with finish_reason length, at EOS with stop") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  const auto greedy = LibraryGreedy(model, "Hello", 8);
  REQUIRE(greedy.size() == 8);
  auto r = Apr(dir, "run '" + model + "' 'Hello' --max-tokens 5 " + kGreedy);
  REQUIRE(r.code == 0);
  auto j = ParseJson(r.out).as_object();
  CHECK(Ids(j.at("ids")) == std::vector<int32_t>(greedy.begin(), greedy.begin() + 5));
  CHECK(j.at("finish_reason").as_string() == "length");

  // The same weights with EOS redefined as the 4th greedy token: generation must stop before it.
  int k = 3;
  while (k < 8 && std::find(greedy.begin(), greedy.begin() + k, greedy[k]) != greedy.begin() + k)
    ++k;
  REQUIRE(k < 8);
  auto file = aprender::LoadModelFile(model);
  REQUIRE(file.ok());
  file->metadata.Set("tokenizer.ggml.eos_token_id",
                     aprender::MetaValue::U32(static_cast<uint32_t>(greedy[k])));
  const std::string eos_model = dir.file("eos.gguf");
  REQUIRE(aprender::WriteGguf(*file, eos_model).ok());
  r = Apr(dir, "run '" + eos_model + "' 'Hello' --max-tokens 8 " + kGreedy);
  INFO(r.err);
  REQUIRE(r.code == 0);
  j = ParseJson(r.out).as_object();
  CHECK(Ids(j.at("ids")) == std::vector<int32_t>(greedy.begin(), greedy.begin() + k));
  CHECK(j.at("finish_reason").as_string() == "stop");
}

TEST_CASE("run reads the prompt from stdin when it is -") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  WriteFile(dir.file("prompt.txt"), "Tell me a story");
  const auto a =
      Apr(dir, "run '" + model + "' - --max-tokens 4 " + kGreedy, dir.file("prompt.txt"));
  const auto b = Apr(dir, "run '" + model + "' 'Tell me a story' --max-tokens 4 " + kGreedy);
  REQUIRE(a.code == 0);
  REQUIRE(b.code == 0);
  const auto ja = ParseJson(a.out), jb = ParseJson(b.out);
  CHECK(Ids(ja.at("prompt_ids")) == Ids(jb.at("prompt_ids")));
  CHECK(Ids(ja.at("ids")) == Ids(jb.at("ids")));
}

TEST_CASE("run streams only the answer on stdout; text equals the decoded ids") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  const auto streamed = Apr(dir, "run '" + model + "' 'Hi' --raw --temperature 0 --max-tokens 6");
  REQUIRE(streamed.code == 0);
  CHECK(streamed.err.empty());  // no spinner: stderr is not a terminal
  const auto j = Apr(dir, "run '" + model + "' 'Hi' --max-tokens 6 " + std::string(kGreedy));
  REQUIRE(j.code == 0);
  CHECK(streamed.out == std::string(ParseJson(j.out).at("text").as_string()) + "\n");
}

TEST_CASE("pass completes stdin raw, like run --raw") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  WriteFile(dir.file("in.txt"), "The quick brown");
  const auto p =
      Apr(dir, "pass '" + model + "' --temperature 0 --max-tokens 5 --json", dir.file("in.txt"));
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto r = Apr(dir, "run '" + model + "' 'The quick brown' --max-tokens 5 " + kGreedy);
  REQUIRE(r.code == 0);
  CHECK(Ids(ParseJson(p.out).at("ids")) == Ids(ParseJson(r.out).at("ids")));
  CHECK_FALSE(ParseJson(p.out).at("chat").as_bool());
}

TEST_CASE("tokenize --json gives the ids of Tokenizer::Encode and their pieces") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  const std::string text = "Hello, world! 123 <|im_start|>user";
  auto r = Apr(dir, "tokenize '" + model + "' '" + text + "' --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto file = aprender::LoadModelFile(model);
  REQUIRE(file.ok());
  auto tok = realizar::Tokenizer::FromMetadata(file->metadata);
  REQUIRE(tok.ok());
  const auto expected = tok->Encode(text, true, true);
  const auto j = ParseJson(r.out).as_object();
  CHECK(Ids(j.at("ids")) == expected);
  const auto& pieces = j.at("pieces").as_array();
  REQUIRE(pieces.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(std::string(pieces[i].as_string()) == std::string(tok->TokenPiece(expected[i])));
  }
}

TEST_CASE("run fails with one line for a missing model and for a prompt longer than the context") {
  apr_test::ScratchDir dir;
  auto r = Apr(dir, "run '" + dir.file("nope.gguf") + "' 'hi'");
  CheckOneLineError(r);
  CHECK(r.err.find("nope.gguf") != std::string::npos);

  const std::string model = SynthModel(dir);  // context 256
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "word ";
  r = Apr(dir, "run '" + model + "' '" + long_prompt + "' --raw");
  CheckOneLineError(r);
  CHECK(r.err.find("prompt too long") != std::string::npos);
  CHECK(r.err.find("256") != std::string::npos);
  // A larger --ctx-size makes room for it.
  r = Apr(dir, "run '" + model + "' '" + long_prompt + "' --raw --ctx-size 2048 --max-tokens 2");
  CHECK(r.code == 0);

  r = Apr(dir, "run '" + model + "' 'x' --top-p 0");
  CheckOneLineError(r);
}

TEST_CASE("chat on piped stdin: /clear, two turns, /save, /exit") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  const std::string saved = dir.file("history.json");
  WriteFile(dir.file("session.txt"),
            "/system Be brief.\nfirst question\n/clear\nhello there\n"
            "and again\n/save " +
                saved + "\n/exit\nnever read\n");
  const auto r = Apr(dir, "chat '" + model + "' --temperature 0 --max-tokens 6 --verbose",
                     dir.file("session.txt"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  // One stats line per reply: the first question, then two turns after /clear.
  size_t turns = 0;
  for (size_t p = r.err.find("[turn "); p != std::string::npos; p = r.err.find("[turn ", p + 1)) {
    ++turns;
  }
  CHECK(turns == 3);
  const auto history = ParseJson(apr_run_test::Slurp(saved)).as_array();
  REQUIRE(history.size() == 5);  // system kept by /clear, then user/assistant twice
  CHECK(history[0].at("role").as_string() == "system");
  CHECK(history[0].at("content").as_string() == "Be brief.");
  CHECK(history[1].at("content").as_string() == "hello there");
  CHECK(history[2].at("role").as_string() == "assistant");
  CHECK(history[3].at("content").as_string() == "and again");
  CHECK(history[4].at("role").as_string() == "assistant");

  // --history resumes it; EOF ends the session cleanly.
  WriteFile(dir.file("more.txt"), "one more\n");
  const auto resumed =
      Apr(dir, "chat '" + model + "' --temperature 0 --max-tokens 4 --history '" + saved + "'",
          dir.file("more.txt"));
  INFO(resumed.err);
  CHECK(resumed.code == 0);
}

TEST_CASE("bench --json reports throughput, latency, memory, roofline and provenance") {
  apr_test::ScratchDir dir;
  const std::string model = SynthModel(dir);
  const auto r = Apr(dir, "bench '" + model +
                              "' --prompt-tokens 16 --gen-tokens 8 --runs 2 --threads 1 "
                              "--bandwidth-mib 64 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = ParseJson(r.out).as_object();
  CHECK(j.at("prefill_tok_s").as_double() > 0);
  CHECK(j.at("decode_tok_s").as_double() > 0);
  CHECK(j.at("token_latency_ms").at("p99").as_double() >=
        j.at("token_latency_ms").at("p50").as_double());
  CHECK(j.at("peak_rss_bytes").to_number<uint64_t>() > 0);
  CHECK(j.at("memory_bandwidth_gb_s").as_double() > 0);
  // Weight bytes per token of tiny-llama f32: every tensor, but one row of the untied embedding.
  auto file = aprender::LoadModelFile(model);
  REQUIRE(file.ok());
  uint64_t expected = 0;
  for (const auto& t : file->tensors) {
    expected += t.name == "token_embd.weight" ? t.dims[0] * 4 : t.data.size();
  }
  CHECK(j.at("weight_bytes_per_token").to_number<uint64_t>() == expected);
  const auto& prov = j.at("provenance").as_object();
  for (const char* key : {"git_sha", "cpu", "simd", "threads", "version"}) {
    INFO(key);
    CHECK(prov.contains(key));
  }
  CHECK(prov.at("threads").as_int64() == 1);

  const auto decode_only = Apr(dir, "bench '" + model +
                                        "' --prompt-tokens 0 --gen-tokens 4 --runs 1 "
                                        "--bandwidth-mib 0 --json");
  REQUIRE(decode_only.code == 0);
  CHECK(ParseJson(decode_only.out).at("decode_tok_s").as_double() > 0);
}

TEST_CASE("run on frankentiny writes English-looking text greedily") {
  APR_REQUIRE_ASSET("models/frankentiny/frankentiny-f32.gguf");
  apr_test::ScratchDir dir;
  const std::string model =
      (apr_test::SharedAssets() / "models/frankentiny/frankentiny-f32.gguf").string();
  const auto r =
      Apr(dir, "run '" + model + "' 'I beheld the wretch' --temperature 0 --max-tokens 80 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = ParseJson(r.out).as_object();
  CHECK_FALSE(j.at("chat").as_bool());  // no chat template in the file: raw by default
  const std::string text(j.at("text").as_string());
  INFO(text);
  REQUIRE(text.size() > 100);
  size_t letters = 0;
  for (unsigned char c : text) {
    letters += std::isalpha(c) || std::isspace(c) || std::strchr(".,;:!?'\"-", c) != nullptr;
  }
  CHECK(letters >= text.size() * 95 / 100);
  std::string padded = " " + text + " ";
  std::transform(padded.begin(), padded.end(), padded.begin(), ::tolower);
  int common = 0;
  for (const char* w : {" the ", " and ", " of ", " i ", " to ", " my ", " a "}) {
    common += padded.find(w) != std::string::npos;
  }
  CHECK(common >= 2);
  CHECK(Ids(j.at("ids")) == LibraryGreedy(model, "I beheld the wretch", 80));
}
