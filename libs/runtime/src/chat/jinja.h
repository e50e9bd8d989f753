// Internal Jinja2-subset engine: values, AST, parser and evaluator. Errors inside the engine
// are thrown as JinjaError and turned into absl::Status at the public boundary
// (chat_template.cpp); nothing escapes the library.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace realizar::jinja {

struct JinjaError {
  std::string message;
  int line = 0;
  int col = 0;
};

struct Value;
struct Dict;
struct Node;
using List = std::vector<Value>;

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<std::shared_ptr<struct Expr>> defaults;  // parallel to params (nullptr: none)
  const std::vector<Node>* body = nullptr;
};

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kMacro };
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;
  std::shared_ptr<const MacroDef> macro;

  static Value None() { Value v; v.kind = Kind::kNone; return v; }
  static Value Bool(bool x) { Value v; v.kind = Kind::kBool; v.b = x; return v; }
  static Value Int(int64_t x) { Value v; v.kind = Kind::kInt; v.i = x; return v; }
  static Value Float(double x) { Value v; v.kind = Kind::kFloat; v.f = x; return v; }
  static Value Str(std::string x) { Value v; v.kind = Kind::kString; v.s = std::move(x); return v; }
  static Value MakeList(List l = {}) {
    Value v; v.kind = Kind::kList; v.list = std::make_shared<List>(std::move(l)); return v;
  }
  static Value MakeDict();

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  bool Truthy() const;
  double AsDouble() const { return kind == Kind::kInt ? static_cast<double>(i) : kind == Kind::kBool ? b : f; }
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;
  const Value* Find(std::string_view key) const {
    for (const auto& kv : items) {
      if (kv.first == key) return &kv.second;
    }
    return nullptr;
  }
  void Set(const std::string& key, Value v) {
    for (auto& kv : items) {
      if (kv.first == key) {
        kv.second = std::move(v);
        return;
      }
    }
    items.emplace_back(key, std::move(v));
  }
};

inline Value Value::MakeDict() {
  Value v;
  v.kind = Kind::kDict;
  v.dict = std::make_shared<Dict>();
  return v;
}

// Python-like str() as Jinja prints values.
std::string ToDisplay(const Value& v);
// json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: single line).
std::string ToJson(const Value& v, int indent);
bool Equal(const Value& a, const Value& b);

// ---- AST ----
struct Expr {
  enum class Kind {
    kLiteral, kName, kList, kDict, kAttr, kIndex, kSlice, kCall, kFilter, kTest, kUnary,
    kBinary, kCond,
  };
  Kind kind = Kind::kLiteral;
  int line = 0, col = 0;
  std::string name;  // identifier / attribute / operator / filter / test name
  Value literal;
  std::vector<std::shared_ptr<Expr>> args;   // operands / elements / call args
  std::vector<std::string> kw_names;         // keyword argument names (parallel to kw_args)
  std::vector<std::shared_ptr<Expr>> kw_args;
  bool negated = false;                      // `is not`
};
using ExprPtr = std::shared_ptr<Expr>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kBreak, kContinue };
  Kind kind = Kind::kText;
  int line = 0, col = 0;
  std::string text;                 // kText
  ExprPtr expr;                     // output / set value / for iterable / for filter
  std::vector<std::string> targets; // set / for targets; set "ns.attr" stored as {"ns", "attr"}
  bool attr_target = false;
  std::vector<std::pair<ExprPtr, std::vector<Node>>> branches;  // if / elif / else (nullptr)
  std::vector<Node> body;           // for / set block / macro
  std::vector<Node> else_body;      // for-else
  ExprPtr filter;                   // for ... if cond
  std::shared_ptr<MacroDef> macro;  // kMacro
};

struct Template {
  std::vector<Node> nodes;
};

// Parses `src` with trim_blocks and lstrip_blocks. Throws JinjaError.
std::shared_ptr<Template> Parse(std::string_view src);

// Renders with the given global variables. Throws JinjaError.
std::string Render(const Template& t, const std::vector<std::pair<std::string, Value>>& globals);

}  // namespace realizar::jinja
