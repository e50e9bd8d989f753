// Jinja2-subset evaluator: scopes (for-loop bodies and macros get their own; `set` writes the
// innermost), Python-like values, the filters/tests/methods chat templates use. Bounded:
// output size, loop iterations and call depth are capped so hostile templates cannot hang or
// exhaust memory.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "chat/jinja.h"

namespace realizar::jinja {
namespace {

constexpr size_t kMaxOutput = 16u << 20;
constexpr int64_t kMaxSteps = 10'000'000;
constexpr int kMaxCallDepth = 64;

[[noreturn]] void Fail(const Expr& e, const std::string& msg) { throw JinjaError{msg, e.line, e.col}; }
[[noreturn]] void FailNode(const Node& n, const std::string& msg) {
  throw JinjaError{msg, n.line, n.col};
}

std::string TypeName(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "undefined";
    case Value::Kind::kNone: return "none";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float";
    case Value::Kind::kString: return "string";
    case Value::Kind::kList: return "list";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kMacro: return "macro";
  }
  return "?";
}

std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[32];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, f);
    if (std::strtod(buf, nullptr) == f) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

void JsonString(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void JsonImpl(const Value& v, int indent, int level, std::string& out) {
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: out += "null"; break;
    case Value::Kind::kBool: out += v.b ? "true" : "false"; break;
    case Value::Kind::kInt: out += std::to_string(v.i); break;
    case Value::Kind::kFloat: out += FloatRepr(v.f); break;
    case Value::Kind::kString: JsonString(v.s, out); break;
    case Value::Kind::kMacro: out += "null"; break;
    case Value::Kind::kList: {
      if (v.list->empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i > 0) out += indent < 0 ? ", " : ",";
        newline(level + 1);
        JsonImpl((*v.list)[i], indent, level + 1, out);
      }
      newline(level);
      out += ']';
      break;
    }
    case Value::Kind::kDict: {
      if (v.dict->items.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      for (size_t i = 0; i < v.dict->items.size(); ++i) {
        if (i > 0) out += indent < 0 ? ", " : ",";
        newline(level + 1);
        JsonString(v.dict->items[i].first, out);
        out += ": ";
        JsonImpl(v.dict->items[i].second, indent, level + 1, out);
      }
      newline(level);
      out += '}';
      break;
    }
  }
}

std::string PyRepr(const Value& v) {
  if (v.is_string()) {
    std::string out = "'";
    for (char c : v.s) {
      if (c == '\'') out += "\\'";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    return out + "'";
  }
  return ToDisplay(v);
}

}  // namespace

bool Value::Truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return b;
    case Kind::kInt: return i != 0;
    case Kind::kFloat: return f != 0;
    case Kind::kString: return !s.empty();
    case Kind::kList: return !list->empty();
    case Kind::kDict: return !dict->items.empty();
    case Kind::kMacro: return true;
  }
  return false;
}

std::string ToDisplay(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.b ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.i);
    case Value::Kind::kFloat: return FloatRepr(v.f);
    case Value::Kind::kString: return v.s;
    case Value::Kind::kMacro: return "<macro>";
    case Value::Kind::kList: {
      std::string out = "[";
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i > 0) out += ", ";
        out += PyRepr((*v.list)[i]);
      }
      return out + "]";
    }
    case Value::Kind::kDict: {
      std::string out = "{";
      for (size_t i = 0; i < v.dict->items.size(); ++i) {
        if (i > 0) out += ", ";
        out += "'" + v.dict->items[i].first + "': " + PyRepr(v.dict->items[i].second);
      }
      return out + "}";
    }
  }
  return "";
}

std::string ToJson(const Value& v, int indent) {
  std::string out;
  JsonImpl(v, indent, 0, out);
  return out;
}

bool Equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.AsDouble() == b.AsDouble();
  if ((a.kind == Value::Kind::kBool || b.kind == Value::Kind::kBool) &&
      (a.is_number() || b.is_number() || a.kind == b.kind)) {
    return a.AsDouble() == b.AsDouble();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.s == b.s;
    case Value::Kind::kList:
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i) {
        if (!Equal((*a.list)[i], (*b.list)[i])) return false;
      }
      return true;
    case Value::Kind::kDict:
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        const Value* o = b.dict->Find(k);
        if (o == nullptr || !Equal(v, *o)) return false;
      }
      return true;
    default: return a.macro == b.macro;
  }
}

namespace {

std::string Strip(const std::string& s, const std::string* chars, bool left, bool right) {
  auto is_strip = [&](char c) {
    return chars ? chars->find(c) != std::string::npos
                 : std::isspace(static_cast<unsigned char>(c)) != 0;
  };
  size_t b = 0, e = s.size();
  if (left) while (b < e && is_strip(s[b])) ++b;
  if (right) while (e > b && is_strip(s[e - 1])) --e;
  return s.substr(b, e - b);
}

struct LoopBreak {};
struct LoopContinue {};

class Evaluator {
 public:
  explicit Evaluator(const std::vector<std::pair<std::string, Value>>& globals) {
    scopes_.emplace_back();
    for (const auto& [k, v] : globals) scopes_.back()[k] = v;
  }

  void Exec(const std::vector<Node>& nodes, std::string& out) {
    for (const Node& n : nodes) ExecNode(n, out);
  }

 private:
  using Scope = std::map<std::string, Value, std::less<>>;

  void Step(const Node& n) {
    if (++steps_ > kMaxSteps) FailNode(n, "template exceeded the evaluation step limit");
  }

  void Emit(std::string& out, const std::string& s, const Node& n) {
    if (out.size() + s.size() > kMaxOutput) FailNode(n, "template output exceeds 16 MiB");
    out += s;
  }

  void ExecNode(const Node& n, std::string& out) {
    Step(n);
    switch (n.kind) {
      case Node::Kind::kText: Emit(out, n.text, n); return;
      case Node::Kind::kOutput: Emit(out, ToDisplay(Eval(*n.expr)), n); return;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (!cond || Eval(*cond).Truthy()) {
            Exec(body, out);
            return;
          }
        }
        return;
      case Node::Kind::kFor: ExecFor(n, out); return;
      case Node::Kind::kSet: {
        Value v = Eval(*n.expr);
        if (n.attr_target) {
          Value ns = Lookup(n.targets[0]);
          if (ns.kind != Value::Kind::kDict || !ns.dict->is_namespace) {
            FailNode(n, "'set " + n.targets[0] + "." + n.targets[1] +
                            "' needs a namespace() object");
          }
          ns.dict->Set(n.targets[1], std::move(v));
        } else if (n.targets.size() == 1) {
          scopes_.back()[n.targets[0]] = std::move(v);
        } else {
          if (v.kind != Value::Kind::kList || v.list->size() != n.targets.size()) {
            FailNode(n, "cannot unpack value in multi-target set");
          }
          for (size_t i = 0; i < n.targets.size(); ++i) scopes_.back()[n.targets[i]] = (*v.list)[i];
        }
        return;
      }
      case Node::Kind::kSetBlock: {
        std::string captured;
        Exec(n.body, captured);
        scopes_.back()[n.targets[0]] = Value::Str(std::move(captured));
        return;
      }
      case Node::Kind::kMacro: {
        auto def = std::make_shared<MacroDef>(*n.macro);
        def->body = &n.body;  // the parsed tree outlives rendering
        Value m;
        m.kind = Value::Kind::kMacro;
        m.macro = def;
        scopes_.back()[def->name] = m;
        return;
      }
      case Node::Kind::kBreak: throw LoopBreak{};
      case Node::Kind::kContinue: throw LoopContinue{};
    }
  }

  void ExecFor(const Node& n, std::string& out) {
    Value seq = Eval(*n.expr);
    List items;
    if (seq.kind == Value::Kind::kList) {
      items = *seq.list;
    } else if (seq.kind == Value::Kind::kDict) {
      for (const auto& kv : seq.dict->items) items.push_back(Value::Str(kv.first));
    } else if (seq.is_string()) {
      for (char c : seq.s) items.push_back(Value::Str(std::string(1, c)));
    } else if (seq.is_undefined() || seq.is_none()) {
      // iterating undefined yields nothing (Jinja's default Undefined is iterable)
    } else {
      Fail(*n.expr, "cannot iterate over a " + TypeName(seq));
    }
    if (n.filter) {
      List kept;
      for (const Value& it : items) {
        scopes_.emplace_back();
        Bind(n, it);
        if (Eval(*n.filter).Truthy()) kept.push_back(it);
        scopes_.pop_back();
      }
      items.swap(kept);
    }
    if (items.empty()) {
      Exec(n.else_body, out);
      return;
    }
    const auto len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      Step(n);
      scopes_.emplace_back();
      Bind(n, items[i]);
      Value loop = Value::MakeDict();
      loop.dict->Set("index0", Value::Int(i));
      loop.dict->Set("index", Value::Int(i + 1));
      loop.dict->Set("revindex0", Value::Int(len - i - 1));
      loop.dict->Set("revindex", Value::Int(len - i));
      loop.dict->Set("first", Value::Bool(i == 0));
      loop.dict->Set("last", Value::Bool(i == len - 1));
      loop.dict->Set("length", Value::Int(len));
      loop.dict->Set("previtem", i > 0 ? items[i - 1] : Value());
      loop.dict->Set("nextitem", i + 1 < len ? items[i + 1] : Value());
      scopes_.back()["loop"] = loop;
      bool stop = false;
      try {
        Exec(n.body, out);
      } catch (const LoopBreak&) {
        stop = true;
      } catch (const LoopContinue&) {
      }
      scopes_.pop_back();
      if (stop) break;
    }
  }

  void Bind(const Node& n, const Value& item) {
    if (n.targets.size() == 1) {
      scopes_.back()[n.targets[0]] = item;
      return;
    }
    if (item.kind != Value::Kind::kList || item.list->size() != n.targets.size()) {
      FailNode(n, "cannot unpack loop item into " + std::to_string(n.targets.size()) + " names");
    }
    for (size_t k = 0; k < n.targets.size(); ++k) scopes_.back()[n.targets[k]] = (*item.list)[k];
  }

  Value Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return Value();
  }

  Value Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.literal;
      case Expr::Kind::kName: return Lookup(e.name);
      case Expr::Kind::kList: {
        List l;
        for (const auto& a : e.args) l.push_back(Eval(*a));
        return Value::MakeList(std::move(l));
      }
      case Expr::Kind::kDict: {
        Value d = Value::MakeDict();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          d.dict->Set(ToDisplay(Eval(*e.args[i])), Eval(*e.args[i + 1]));
        }
        return d;
      }
      case Expr::Kind::kAttr: return GetAttr(Eval(*e.args[0]), e.name);
      case Expr::Kind::kIndex: return GetItem(e, Eval(*e.args[0]), Eval(*e.args[1]));
      case Expr::Kind::kSlice: return Slice(e);
      case Expr::Kind::kCall: return Call(e);
      case Expr::Kind::kFilter: return ApplyFilter(e);
      case Expr::Kind::kTest: return Value::Bool(ApplyTest(e) != e.negated);
      case Expr::Kind::kUnary: {
        Value v = Eval(*e.args[0]);
        if (e.name == "not") return Value::Bool(!v.Truthy());
        if (v.kind == Value::Kind::kInt) return Value::Int(e.name == "-" ? -v.i : v.i);
        if (v.kind == Value::Kind::kFloat) return Value::Float(e.name == "-" ? -v.f : v.f);
        Fail(e, "unary '" + e.name + "' needs a number, got " + TypeName(v));
      }
      case Expr::Kind::kCond: {
        if (Eval(*e.args[0]).Truthy()) return Eval(*e.args[1]);
        return e.args[2] ? Eval(*e.args[2]) : Value();
      }
      case Expr::Kind::kBinary: return Binary(e);
    }
    Fail(e, "unsupported expression");
  }

  Value GetAttr(const Value& obj, const std::string& name) {
    if (obj.kind == Value::Kind::kDict) {
      const Value* v = obj.dict->Find(name);
      return v ? *v : Value();
    }
    return Value();  // attributes of other values: undefined (methods are handled in Call)
  }

  Value GetItem(const Expr& e, const Value& obj, const Value& key) {
    if (obj.kind == Value::Kind::kList || obj.is_string()) {
      if (key.kind != Value::Kind::kInt) Fail(e, "list/string index must be an integer");
      const auto n = static_cast<int64_t>(obj.is_string() ? obj.s.size() : obj.list->size());
      int64_t i = key.i < 0 ? key.i + n : key.i;
      if (i < 0 || i >= n) return Value();
      if (obj.is_string()) return Value::Str(std::string(1, obj.s[static_cast<size_t>(i)]));
      return (*obj.list)[static_cast<size_t>(i)];
    }
    if (obj.kind == Value::Kind::kDict) {
      const Value* v = obj.dict->Find(ToDisplay(key));
      return v ? *v : Value();
    }
    return Value();
  }

  Value Slice(const Expr& e) {
    Value obj = Eval(*e.args[0]);
    auto opt = [&](int k, int64_t def) -> int64_t {
      if (!e.args[k]) return def;
      Value v = Eval(*e.args[k]);
      if (v.is_none()) return def;
      if (v.kind != Value::Kind::kInt) Fail(e, "slice bounds must be integers");
      return v.i;
    };
    int64_t n = 0;
    if (obj.is_string()) n = static_cast<int64_t>(obj.s.size());
    else if (obj.kind == Value::Kind::kList) n = static_cast<int64_t>(obj.list->size());
    else Fail(e, "cannot slice a " + TypeName(obj));
    const int64_t step = opt(3, 1);
    if (step == 0) Fail(e, "slice step cannot be zero");
    auto clamp = [&](int64_t v, bool is_start) {
      if (v < 0) v += n;
      if (step > 0) return std::clamp<int64_t>(v, 0, n);
      (void)is_start;
      return std::clamp<int64_t>(v, -1, n - 1);
    };
    int64_t start = e.args[1] ? clamp(opt(1, 0), true) : (step > 0 ? 0 : n - 1);
    int64_t stop = e.args[2] ? clamp(opt(2, 0), false) : (step > 0 ? n : -1);
    List l;
    std::string s;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (obj.is_string()) s += obj.s[static_cast<size_t>(i)];
      else l.push_back((*obj.list)[static_cast<size_t>(i)]);
    }
    return obj.is_string() ? Value::Str(std::move(s)) : Value::MakeList(std::move(l));
  }

  std::vector<Value> Args(const Expr& e, size_t first) {
    std::vector<Value> a;
    for (size_t i = first; i < e.args.size(); ++i) a.push_back(Eval(*e.args[i]));
    return a;
  }
  const Expr* Kwarg(const Expr& e, const char* name) {
    for (size_t i = 0; i < e.kw_names.size(); ++i) {
      if (e.kw_names[i] == name) return e.kw_args[i].get();
    }
    return nullptr;
  }

  Value Call(const Expr& e) {
    const Expr& callee = *e.args[0];
    if (callee.kind == Expr::Kind::kAttr) return CallMethod(e, Eval(*callee.args[0]), callee.name);
    if (callee.kind == Expr::Kind::kName) {
      const std::string& fn = callee.name;
      Value bound = Lookup(fn);
      if (bound.kind == Value::Kind::kMacro) return CallMacro(e, *bound.macro);
      if (fn == "raise_exception") {
        auto a = Args(e, 1);
        Fail(e, "template raised an exception: " + (a.empty() ? std::string() : ToDisplay(a[0])));
      }
      if (fn == "namespace" || fn == "dict") {
        Value d = Value::MakeDict();
        d.dict->is_namespace = fn == "namespace";
        for (size_t i = 0; i < e.kw_names.size(); ++i) d.dict->Set(e.kw_names[i], Eval(*e.kw_args[i]));
        return d;
      }
      if (fn == "range") {
        auto a = Args(e, 1);
        int64_t start = 0, stop = 0, step = 1;
        for (const Value& v : a) {
          if (v.kind != Value::Kind::kInt) Fail(e, "range() takes integers");
        }
        if (a.size() == 1) stop = a[0].i;
        else if (a.size() >= 2) start = a[0].i, stop = a[1].i;
        if (a.size() == 3) step = a[2].i;
        if (a.empty() || a.size() > 3 || step == 0) Fail(e, "range() takes 1 to 3 arguments, step != 0");
        List l;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
          if (l.size() > 1'000'000) Fail(e, "range() is too long");
          l.push_back(Value::Int(i));
        }
        return Value::MakeList(std::move(l));
      }
      if (fn == "strftime_now") {
        return Value::Str("");  // no clock in rendering: templates get a stable prompt
      }
      Fail(e, "unknown function '" + fn + "'");
    }
    Fail(e, "only named functions and methods can be called");
  }

  Value CallMacro(const Expr& e, const MacroDef& m) {
    if (++call_depth_ > kMaxCallDepth) Fail(e, "macro recursion is too deep");
    Scope scope;
    auto a = Args(e, 1);
    for (size_t i = 0; i < m.params.size(); ++i) {
      if (i < a.size()) {
        scope[m.params[i]] = a[i];
      } else if (const Expr* kw = Kwarg(e, m.params[i].c_str())) {
        scope[m.params[i]] = Eval(*kw);
      } else if (m.defaults[i]) {
        scope[m.params[i]] = Eval(*m.defaults[i]);
      } else {
        scope[m.params[i]] = Value();
      }
    }
    scopes_.push_back(std::move(scope));
    std::string out;
    Exec(*m.body, out);
    scopes_.pop_back();
    --call_depth_;
    return Value::Str(std::move(out));
  }

  Value CallMethod(const Expr& e, const Value& obj, const std::string& name) {
    auto a = Args(e, 1);
    auto str_arg = [&](size_t i) -> const std::string* {
      if (i < a.size() && a[i].is_string()) return &a[i].s;
      return nullptr;
    };
    if (obj.is_string()) {
      const std::string& s = obj.s;
      if (name == "startswith" || name == "endswith") {
        const std::string* p = str_arg(0);
        if (!p) Fail(e, name + "() takes a string");
        const bool r = name == "startswith"
                           ? s.compare(0, p->size(), *p) == 0
                           : s.size() >= p->size() && s.compare(s.size() - p->size(), p->size(), *p) == 0;
        return Value::Bool(r);
      }
      if (name == "strip") return Value::Str(Strip(s, str_arg(0), true, true));
      if (name == "lstrip") return Value::Str(Strip(s, str_arg(0), true, false));
      if (name == "rstrip") return Value::Str(Strip(s, str_arg(0), false, true));
      if (name == "upper" || name == "lower") {
        std::string r = s;
        for (char& c : r) c = static_cast<char>(name == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
        return Value::Str(r);
      }
      if (name == "split") {
        List parts;
        const std::string* sep = str_arg(0);
        if (sep && !sep->empty()) {
          size_t pos = 0;
          while (true) {
            size_t hit = s.find(*sep, pos);
            if (hit == std::string::npos) break;
            parts.push_back(Value::Str(s.substr(pos, hit - pos)));
            pos = hit + sep->size();
          }
          parts.push_back(Value::Str(s.substr(pos)));
        } else {
          size_t i = 0;
          while (i < s.size()) {
            while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
            size_t j = i;
            while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
            if (j > i) parts.push_back(Value::Str(s.substr(i, j - i)));
            i = j;
          }
        }
        return Value::MakeList(std::move(parts));
      }
      if (name == "replace") {
        const std::string* from = str_arg(0);
        const std::string* to = str_arg(1);
        if (!from || !to || from->empty()) Fail(e, "replace() takes two strings");
        std::string r;
        size_t pos = 0;
        while (true) {
          size_t hit = s.find(*from, pos);
          if (hit == std::string::npos) break;
          r += s.substr(pos, hit - pos) + *to;
          pos = hit + from->size();
        }
        return Value::Str(r + s.substr(pos));
      }
      if (name == "title" || name == "capitalize") {
        std::string r = s;
        bool start = true;
        for (char& c : r) {
          const auto u = static_cast<unsigned char>(c);
          c = static_cast<char>(start ? std::toupper(u) : (name == "title" ? std::tolower(u) : std::tolower(u)));
          start = name == "title" ? !std::isalpha(u) : false;
        }
        return Value::Str(r);
      }
    }
    if (obj.kind == Value::Kind::kDict) {
      if (name == "items") {
        List l;
        for (const auto& [k, v] : obj.dict->items) l.push_back(Value::MakeList({Value::Str(k), v}));
        return Value::MakeList(std::move(l));
      }
      if (name == "keys" || name == "values") {
        List l;
        for (const auto& [k, v] : obj.dict->items) l.push_back(name == "keys" ? Value::Str(k) : v);
        return Value::MakeList(std::move(l));
      }
      if (name == "get") {
        if (a.empty()) Fail(e, "get() takes a key");
        const Value* v = obj.dict->Find(ToDisplay(a[0]));
        return v ? *v : (a.size() > 1 ? a[1] : Value::None());
      }
    }
    Fail(e, "unsupported method '" + name + "' on a " + TypeName(obj));
  }

  Value ApplyFilter(const Expr& e) {
    Value v = Eval(*e.args[0]);
    auto a = Args(e, 1);
    const std::string& f = e.name;
    if (f == "trim") {
      if (!v.is_string()) v = Value::Str(ToDisplay(v));
      return Value::Str(Strip(v.s, nullptr, true, true));
    }
    if (f == "length" || f == "count") {
      if (v.is_string()) return Value::Int(static_cast<int64_t>(v.s.size()));
      if (v.kind == Value::Kind::kList) return Value::Int(static_cast<int64_t>(v.list->size()));
      if (v.kind == Value::Kind::kDict) return Value::Int(static_cast<int64_t>(v.dict->items.size()));
      if (v.is_undefined()) return Value::Int(0);
      Fail(e, "length of a " + TypeName(v));
    }
    if (f == "tojson") {
      int indent = -1;
      if (const Expr* k = Kwarg(e, "indent")) {
        Value iv = Eval(*k);
        if (iv.kind == Value::Kind::kInt) indent = static_cast<int>(std::clamp<int64_t>(iv.i, 0, 16));
      } else if (!a.empty() && a[0].kind == Value::Kind::kInt) {
        indent = static_cast<int>(std::clamp<int64_t>(a[0].i, 0, 16));
      }
      return Value::Str(ToJson(v, indent));
    }
    if (f == "upper" || f == "lower" || f == "capitalize" || f == "title") {
      Expr call = e;
      return CallMethod(e, v.is_string() ? v : Value::Str(ToDisplay(v)), f);
    }
    if (f == "string") return Value::Str(ToDisplay(v));
    if (f == "safe" || f == "e" || f == "escape") return v;  // no autoescape in chat templates
    if (f == "default" || f == "d") {
      const bool boolean = a.size() > 1 && a[1].Truthy();
      if (v.is_undefined() || (boolean && !v.Truthy())) return a.empty() ? Value::Str("") : a[0];
      return v;
    }
    if (f == "first" || f == "last") {
      if (v.kind == Value::Kind::kList) {
        if (v.list->empty()) return Value();
        return f == "first" ? v.list->front() : v.list->back();
      }
      if (v.is_string() && !v.s.empty()) return Value::Str(std::string(1, f == "first" ? v.s.front() : v.s.back()));
      return Value();
    }
    if (f == "join") {
      if (v.kind != Value::Kind::kList) Fail(e, "join needs a list");
      const std::string sep = a.empty() ? "" : ToDisplay(a[0]);
      std::string r;
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i) r += sep;
        r += ToDisplay((*v.list)[i]);
      }
      return Value::Str(r);
    }
    if (f == "list") {
      if (v.kind == Value::Kind::kList) return v;
      List l;
      if (v.is_string()) for (char c : v.s) l.push_back(Value::Str(std::string(1, c)));
      if (v.kind == Value::Kind::kDict) for (const auto& kv : v.dict->items) l.push_back(Value::Str(kv.first));
      return Value::MakeList(std::move(l));
    }
    if (f == "items") return CallMethod(e, v, "items");
    if (f == "reverse") {
      if (v.is_string()) return Value::Str(std::string(v.s.rbegin(), v.s.rend()));
      if (v.kind == Value::Kind::kList) return Value::MakeList(List(v.list->rbegin(), v.list->rend()));
      Fail(e, "reverse of a " + TypeName(v));
    }
    if (f == "int") {
      if (v.kind == Value::Kind::kInt) return v;
      if (v.kind == Value::Kind::kFloat) return Value::Int(static_cast<int64_t>(v.f));
      if (v.is_string()) return Value::Int(std::strtoll(v.s.c_str(), nullptr, 10));
      return Value::Int(0);
    }
    if (f == "replace") return CallMethod(e, v, "replace");
    Fail(e, "unsupported filter '" + f + "'");
  }

  bool ApplyTest(const Expr& e) {
    const std::string& t = e.name;
    Value v = Eval(*e.args[0]);
    if (t == "defined") return !v.is_undefined();
    if (t == "undefined") return v.is_undefined();
    if (t == "none") return v.is_none();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.kind == Value::Kind::kInt;
    if (t == "float") return v.kind == Value::Kind::kFloat;
    if (t == "boolean") return v.kind == Value::Kind::kBool;
    if (t == "true") return v.kind == Value::Kind::kBool && v.b;
    if (t == "false") return v.kind == Value::Kind::kBool && !v.b;
    if (t == "mapping") return v.kind == Value::Kind::kDict;
    if (t == "sequence" || t == "iterable") {
      return v.kind == Value::Kind::kList || v.is_string() || v.kind == Value::Kind::kDict;
    }
    if (t == "callable") return v.kind == Value::Kind::kMacro;
    if (t == "even" || t == "odd") {
      if (v.kind != Value::Kind::kInt) Fail(e, t + " test needs an integer");
      return (v.i % 2 == 0) == (t == "even");
    }
    if (t == "equalto" || t == "eq" || t == "sameas") {
      if (e.args.size() < 2) Fail(e, t + " test needs an argument");
      return Equal(v, Eval(*e.args[1]));
    }
    Fail(e, "unsupported test '" + t + "'");
  }

  Value Binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Value l = Eval(*e.args[0]);
      return l.Truthy() ? Eval(*e.args[1]) : l;
    }
    if (op == "or") {
      Value l = Eval(*e.args[0]);
      return l.Truthy() ? l : Eval(*e.args[1]);
    }
    Value l = Eval(*e.args[0]);
    Value r = Eval(*e.args[1]);
    if (op == "==") return Value::Bool(Equal(l, r));
    if (op == "!=") return Value::Bool(!Equal(l, r));
    if (op == "~") return Value::Str(ToDisplay(l) + ToDisplay(r));
    if (op == "in" || op == "not in") {
      bool found = false;
      if (r.is_string()) {
        if (!l.is_string()) Fail(e, "'in <string>' needs a string on the left");
        found = r.s.find(l.s) != std::string::npos;
      } else if (r.kind == Value::Kind::kList) {
        for (const Value& x : *r.list) found |= Equal(l, x);
      } else if (r.kind == Value::Kind::kDict) {
        found = r.dict->Find(ToDisplay(l)) != nullptr;
      } else if (!r.is_undefined() && !r.is_none()) {
        Fail(e, "'in' needs a string, list or dict on the right, got " + TypeName(r));
      }
      return Value::Bool(found == (op == "in"));
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c = 0;
      if (l.is_number() && r.is_number()) {
        c = l.AsDouble() < r.AsDouble() ? -1 : l.AsDouble() > r.AsDouble() ? 1 : 0;
      } else if (l.is_string() && r.is_string()) {
        c = l.s.compare(r.s);
      } else {
        Fail(e, "cannot compare " + TypeName(l) + " and " + TypeName(r));
      }
      if (op == "<") return Value::Bool(c < 0);
      if (op == ">") return Value::Bool(c > 0);
      if (op == "<=") return Value::Bool(c <= 0);
      return Value::Bool(c >= 0);
    }
    if (op == "+") {
      if (l.is_string() && r.is_string()) return Value::Str(l.s + r.s);
      if (l.kind == Value::Kind::kList && r.kind == Value::Kind::kList) {
        List c = *l.list;
        c.insert(c.end(), r.list->begin(), r.list->end());
        return Value::MakeList(std::move(c));
      }
    }
    const bool both_num = (l.is_number() || l.kind == Value::Kind::kBool) &&
                          (r.is_number() || r.kind == Value::Kind::kBool);
    if (!both_num) {
      if (op == "*" && l.is_string() && r.kind == Value::Kind::kInt) {
        std::string s;
        for (int64_t i = 0; i < r.i && s.size() < kMaxOutput; ++i) s += l.s;
        return Value::Str(s);
      }
      Fail(e, "operator '" + op + "' on " + TypeName(l) + " and " + TypeName(r));
    }
    const bool ints = l.kind != Value::Kind::kFloat && r.kind != Value::Kind::kFloat;
    const int64_t li = l.kind == Value::Kind::kBool ? l.b : l.i;
    const int64_t ri = r.kind == Value::Kind::kBool ? r.b : r.i;
    if (op == "+") return ints ? Value::Int(li + ri) : Value::Float(l.AsDouble() + r.AsDouble());
    if (op == "-") return ints ? Value::Int(li - ri) : Value::Float(l.AsDouble() - r.AsDouble());
    if (op == "*") return ints ? Value::Int(li * ri) : Value::Float(l.AsDouble() * r.AsDouble());
    if (op == "/") {
      if (r.AsDouble() == 0) Fail(e, "division by zero");
      return Value::Float(l.AsDouble() / r.AsDouble());
    }
    if (op == "//" || op == "%") {
      if (r.AsDouble() == 0) Fail(e, "division by zero");
      if (ints) {
        int64_t q = li / ri, m = li % ri;
        if (m != 0 && ((m < 0) != (ri < 0))) --q, m += ri;  // Python floor semantics
        return Value::Int(op == "//" ? q : m);
      }
      const double q = std::floor(l.AsDouble() / r.AsDouble());
      return Value::Float(op == "//" ? q : l.AsDouble() - q * r.AsDouble());
    }
    Fail(e, "unsupported operator '" + op + "'");
  }

  std::vector<Scope> scopes_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
};

}  // namespace

std::string Render(const Template& t, const std::vector<std::pair<std::string, Value>>& globals) {
  Evaluator ev(globals);
  std::string out;
  try {
    ev.Exec(t.nodes, out);
  } catch (const LoopBreak&) {
    throw JinjaError{"'break' outside a loop", 0, 0};
  } catch (const LoopContinue&) {
    throw JinjaError{"'continue' outside a loop", 0, 0};
  }
  return out;
}

}  // namespace realizar::jinja
