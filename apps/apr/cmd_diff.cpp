// apr diff A B: metadata differences and, per tensor, the largest absolute difference of the
// dequantized values. Exit 0 when the models match within --tolerance.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

#include "cli_util.h"
#include "commands.h"

namespace apr_cli {
namespace {

struct DiffOptions {
  std::string a;
  std::string b;
  double tolerance = 0.0;
  bool tensors_only = false;
  bool json = false;
};

int RunDiff(const DiffOptions& opt) {
  auto ma = LoadModel(opt.a);
  if (!ma.ok()) return Fail(ma.status());
  auto mb = LoadModel(opt.b);
  if (!mb.ok()) return Fail(mb.status());

  boost::json::array meta_diffs;
  for (const auto& [k, va] : ma->metadata.entries()) {
    const aprender::MetaValue* vb = mb->metadata.Find(k);
    if (!vb) {
      meta_diffs.push_back(boost::json::object{{"key", k}, {"a", va.ToString()}, {"b", nullptr}});
    } else if (!(va == *vb)) {
      meta_diffs.push_back(
          boost::json::object{{"key", k}, {"a", va.ToString()}, {"b", vb->ToString()}});
    }
  }
  for (const auto& [k, vb] : mb->metadata.entries()) {
    if (!ma->metadata.Find(k)) {
      meta_diffs.push_back(boost::json::object{{"key", k}, {"a", nullptr}, {"b", vb.ToString()}});
    }
  }

  boost::json::array tensors;
  boost::json::array only_a, only_b;
  size_t beyond = 0;
  double overall = 0.0;
  std::vector<float> fa, fb;
  for (const auto& ta : ma->tensors) {
    const aprender::Tensor* tb = mb->FindTensor(ta.name);
    if (!tb) {
      only_a.push_back(boost::json::string(ta.name));
      continue;
    }
    boost::json::object row{{"name", ta.name},
                            {"type_a", std::string(trueno::DTypeName(ta.type))},
                            {"type_b", std::string(trueno::DTypeName(tb->type))}};
    if (ta.dims != tb->dims) {
      row["shape_a"] = ShapeString(ta.dims);
      row["shape_b"] = ShapeString(tb->dims);
      row["max_abs_diff"] = nullptr;
      ++beyond;
      tensors.push_back(row);
      continue;
    }
    if (auto st = DequantizeTensor(ta, fa); !st.ok()) return Fail(st);
    if (auto st = DequantizeTensor(*tb, fb); !st.ok()) return Fail(st);
    double max_diff = 0.0;
    for (size_t i = 0; i < fa.size(); ++i) {
      const double d = std::fabs(static_cast<double>(fa[i]) - static_cast<double>(fb[i]));
      if (d > max_diff || std::isnan(d)) max_diff = std::isnan(d) ? INFINITY : d;
    }
    row["max_abs_diff"] = max_diff;
    row["identical_bytes"] = ta.type == tb->type && ta.data.size() == tb->data.size() &&
                             std::equal(ta.data.begin(), ta.data.end(), tb->data.begin());
    overall = std::max(overall, max_diff);
    if (max_diff > opt.tolerance) ++beyond;
    tensors.push_back(row);
  }
  for (const auto& tb : mb->tensors) {
    if (!ma->FindTensor(tb.name)) only_b.push_back(boost::json::string(tb.name));
  }
  const bool same =
      beyond == 0 && only_a.empty() && only_b.empty() && (opt.tensors_only || meta_diffs.empty());

  if (opt.json) {
    PrintJson(boost::json::object{{"a", opt.a},
                                  {"b", opt.b},
                                  {"tolerance", opt.tolerance},
                                  {"metadata_differences", meta_diffs},
                                  {"only_in_a", only_a},
                                  {"only_in_b", only_b},
                                  {"tensors", tensors},
                                  {"max_abs_diff", overall},
                                  {"tensors_beyond_tolerance", beyond},
                                  {"identical", same}});
    return same ? 0 : 1;
  }
  for (const auto& d : meta_diffs) {
    const auto& o = d.as_object();
    auto show = [](const boost::json::value& v) {
      return v.is_null() ? std::string("(absent)") : std::string(v.as_string().c_str());
    };
    std::cout << "metadata " << o.at("key").as_string().c_str() << ": " << show(o.at("a")) << " -> "
              << show(o.at("b")) << "\n";
  }
  for (const auto& n : only_a) std::cout << "only in A: " << n.as_string().c_str() << "\n";
  for (const auto& n : only_b) std::cout << "only in B: " << n.as_string().c_str() << "\n";
  for (const auto& t : tensors) {
    const auto& o = t.as_object();
    if (o.at("max_abs_diff").is_null()) {
      std::cout << "tensor " << o.at("name").as_string().c_str() << ": shape "
                << o.at("shape_a").as_string().c_str() << " vs "
                << o.at("shape_b").as_string().c_str() << "\n";
    } else if (o.at("max_abs_diff").as_double() > 0.0) {
      std::printf("tensor %s: max abs diff %.6g (%s vs %s)%s\n", o.at("name").as_string().c_str(),
                  o.at("max_abs_diff").as_double(), o.at("type_a").as_string().c_str(),
                  o.at("type_b").as_string().c_str(),
                  o.at("max_abs_diff").as_double() > opt.tolerance ? "" : " (within tolerance)");
    }
  }
  std::printf(
      "%zu tensors compared, %zu beyond tolerance %g, max abs diff %.6g, %zu metadata differences: "
      "%s\n",
      tensors.size(), beyond, opt.tolerance, overall, meta_diffs.size(),
      same ? "same" : "different");
  return same ? 0 : 1;
}

}  // namespace

void RegisterDiff(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<DiffOptions>();
  CLI::App* cmd =
      app.add_subcommand("diff", "Compare two models (metadata and dequantized tensor values)");
  cmd->add_option("A", opt->a, "first model")->required();
  cmd->add_option("B", opt->b, "second model")->required();
  cmd->add_option("--tolerance", opt->tolerance,
                  "largest acceptable absolute difference (default 0)");
  cmd->add_flag("--tensors-only", opt->tensors_only,
                "ignore metadata differences for the exit status");
  cmd->add_flag("--json", opt->json, "print JSON");
  cmd->callback([opt, &exit_code] { exit_code = RunDiff(*opt); });
}

}  // namespace apr_cli
