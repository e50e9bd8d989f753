// Jinja2-subset lexer and parser. Whitespace handling follows HF's chat-template environment:
// trim_blocks (drop the newline after a block tag) and lstrip_blocks (drop spaces/tabs before
// a block tag at line start), plus explicit `{%-`, `-%}`, `{{-`, `-}}` and `{%+`.
#include <cctype>
#include <string>

#include "chat/jinja.h"

namespace realizar::jinja {
namespace {

constexpr int kMaxDepth = 128;

struct Tok {
  enum class Kind { kName, kInt, kFloat, kString, kOp, kEnd };
  Kind kind = Kind::kEnd;
  std::string text;
  int64_t ival = 0;
  double fval = 0;
  int line = 0, col = 0;
};

struct Segment {
  enum class Kind { kText, kExpr, kStmt };
  Kind kind;
  std::string text;      // kText
  std::vector<Tok> toks;  // kExpr / kStmt (terminated by kEnd)
  int line = 0, col = 0;
};

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Segment> Run() {
    std::vector<Segment> out;
    bool strip_next_ws = false;     // after `-%}` / `-}}`
    bool trim_next_newline = false;  // after `%}` (trim_blocks)
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t open = FindTagOpen(pos);
      std::string text(src_.substr(pos, open - pos));
      if (strip_next_ws) {
        size_t k = 0;
        while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
        text.erase(0, k);
      } else if (trim_next_newline) {
        if (!text.empty() && text[0] == '\n') {
          text.erase(0, 1);
        } else if (text.size() >= 2 && text[0] == '\r' && text[1] == '\n') {
          text.erase(0, 2);
        }
      }
      strip_next_ws = trim_next_newline = false;
      if (open == src_.size()) {
        if (!text.empty()) out.push_back({Segment::Kind::kText, text, {}, 0, 0});
        break;
      }
      const char kind = src_[open + 1];  // '{', '%' or '#'
      const bool minus = open + 2 < src_.size() && src_[open + 2] == '-';
      const bool plus = open + 2 < src_.size() && src_[open + 2] == '+';
      if (minus) {
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
      } else if (kind != '{' && !plus) {
        // lstrip_blocks: only whitespace between the line start and the tag.
        size_t k = text.size();
        while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) --k;
        const bool at_line_start = (k == 0 && (pos == 0 || LineStartBefore(pos))) ||
                                   (k > 0 && text[k - 1] == '\n');
        if (at_line_start) text.erase(k);
      }
      if (!text.empty()) out.push_back({Segment::Kind::kText, text, {}, 0, 0});
      size_t body = open + 2 + ((minus || plus) ? 1 : 0);
      if (kind == '#') {
        size_t close = src_.find("#}", body);
        if (close == std::string_view::npos) Fail(open, "unterminated comment '{#'");
        strip_next_ws = close > body && src_[close - 1] == '-';
        trim_next_newline = !strip_next_ws;
        pos = close + 2;
        continue;
      }
      Segment seg{kind == '{' ? Segment::Kind::kExpr : Segment::Kind::kStmt, "", {}, 0, 0};
      LineCol(open, seg.line, seg.col);
      const char close_c = kind == '{' ? '}' : '%';
      size_t p = body;
      while (true) {
        SkipSpace(p);
        if (p >= src_.size()) Fail(open, "unterminated tag");
        if (src_[p] == '-' && src_.compare(p + 1, 2, std::string{close_c, '}'}) == 0) {
          strip_next_ws = true;
          p += 3;
          break;
        }
        if (src_.compare(p, 2, std::string{close_c, '}'}) == 0) {
          p += 2;
          trim_next_newline = kind == '%';
          break;
        }
        seg.toks.push_back(LexToken(p));
      }
      Tok end;
      end.kind = Tok::Kind::kEnd;
      LineCol(p, end.line, end.col);
      seg.toks.push_back(end);
      out.push_back(std::move(seg));
      pos = p;
    }
    return out;
  }

  [[noreturn]] void Fail(size_t at, const std::string& msg) {
    JinjaError e;
    e.message = msg;
    LineCol(at, e.line, e.col);
    throw e;
  }

  void LineCol(size_t at, int& line, int& col) const {
    line = 1;
    col = 1;
    for (size_t k = 0; k < at && k < src_.size(); ++k) {
      if (src_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  }

 private:
  bool LineStartBefore(size_t pos) const {
    size_t k = pos;
    while (k > 0 && (src_[k - 1] == ' ' || src_[k - 1] == '\t')) --k;
    return k == 0 || src_[k - 1] == '\n';
  }
  size_t FindTagOpen(size_t pos) const {
    while (true) {
      size_t k = src_.find('{', pos);
      if (k == std::string_view::npos || k + 1 >= src_.size()) return src_.size();
      const char c = src_[k + 1];
      if (c == '{' || c == '%' || c == '#') return k;
      pos = k + 1;
    }
  }
  void SkipSpace(size_t& p) const {
    while (p < src_.size() && std::isspace(static_cast<unsigned char>(src_[p]))) ++p;
  }

  Tok LexToken(size_t& p) {
    Tok t;
    LineCol(p, t.line, t.col);
    const char c = src_[p];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t s = p;
      while (p < src_.size() &&
             (std::isalnum(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) {
        ++p;
      }
      t.kind = Tok::Kind::kName;
      t.text = std::string(src_.substr(s, p - s));
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t s = p;
      while (p < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) ++p;
      bool is_float = false;
      if (p + 1 < src_.size() && src_[p] == '.' && std::isdigit(static_cast<unsigned char>(src_[p + 1]))) {
        is_float = true;
        ++p;
        while (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) ++p;
      }
      std::string num;
      for (char ch : src_.substr(s, p - s)) {
        if (ch != '_') num += ch;
      }
      if (is_float) {
        t.kind = Tok::Kind::kFloat;
        t.fval = std::strtod(num.c_str(), nullptr);
      } else {
        t.kind = Tok::Kind::kInt;
        if (num.size() > 18) Fail(s, "integer literal too large");
        t.ival = std::stoll(num);
      }
      return t;
    }
    if (c == '\'' || c == '"') {
      size_t s = p++;
      std::string out;
      while (true) {
        if (p >= src_.size()) Fail(s, "unterminated string literal");
        char ch = src_[p++];
        if (ch == c) break;
        if (ch == '\\' && p < src_.size()) {
          char e = src_[p++];
          switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case '0': out += '\0'; break;
            default: out += '\\'; out += e; break;
          }
          continue;
        }
        out += ch;
      }
      t.kind = Tok::Kind::kString;
      t.text = std::move(out);
      return t;
    }
    static const char* const kOps[] = {"==", "!=", "<=", ">=", "//", "**", "(", ")", "[", "]",
                                       "{",  "}",  ".",  ",",  ":",  "|",  "~", "+", "-", "*",
                                       "/",  "%",  "<",  ">",  "="};
    for (const char* op : kOps) {
      const size_t n = std::char_traits<char>::length(op);
      if (src_.compare(p, n, op) == 0) {
        t.kind = Tok::Kind::kOp;
        t.text = op;
        p += n;
        return t;
      }
    }
    Fail(p, std::string("unexpected character '") + c + "' in tag");
  }

  std::string_view src_;
};

// ---- parser ----

class Parser {
 public:
  explicit Parser(std::vector<Segment> segs) : segs_(std::move(segs)) {}

  std::vector<Node> ParseAll() {
    std::vector<Node> nodes;
    std::string stop;
    ParseBody(nodes, {}, stop);
    if (seg_ < segs_.size()) FailAt(segs_[seg_].line, segs_[seg_].col, "unexpected block tag");
    return nodes;
  }

 private:
  [[noreturn]] static void FailAt(int line, int col, const std::string& msg) {
    JinjaError e;
    e.message = msg;
    e.line = line;
    e.col = col;
    throw e;
  }
  [[noreturn]] void Fail(const std::string& msg) const { FailAt(Cur().line, Cur().col, msg); }

  // Parses nodes until a statement whose keyword is in `stops` (left unconsumed, its keyword
  // returned in `stop`) or the end of input.
  void ParseBody(std::vector<Node>& out, const std::vector<std::string>& stops, std::string& stop) {
    if (++depth_ > kMaxDepth) FailAt(0, 0, "template nesting is too deep");
    while (seg_ < segs_.size()) {
      Segment& s = segs_[seg_];
      if (s.kind == Segment::Kind::kText) {
        Node n;
        n.kind = Node::Kind::kText;
        n.text = s.text;
        out.push_back(std::move(n));
        ++seg_;
        continue;
      }
      toks_ = &s.toks;
      tpos_ = 0;
      if (s.kind == Segment::Kind::kExpr) {
        Node n;
        n.kind = Node::Kind::kOutput;
        n.line = s.line;
        n.col = s.col;
        n.expr = ParseExpr();
        ExpectEnd();
        out.push_back(std::move(n));
        ++seg_;
        continue;
      }
      const Tok& kw = Cur();
      if (kw.kind != Tok::Kind::kName) Fail("expected a statement keyword");
      for (const auto& st : stops) {
        if (kw.text == st) {
          stop = st;
          --depth_;
          return;
        }
      }
      ++seg_;
      ++tpos_;
      out.push_back(ParseStatement(kw));
    }
    if (!stops.empty()) FailAt(0, 0, "missing '{% " + stops.back() + " %}' at end of template");
    --depth_;
  }

  void EnterStop() {
    toks_ = &segs_[seg_].toks;
    tpos_ = 1;
  }

  Node ParseStatement(const Tok& kw) {
    Node n;
        n.kind = Node::Kind::kText;
    n.line = kw.line;
    n.col = kw.col;
    const std::string k = kw.text;
    if (k == "if") {
      n.kind = Node::Kind::kIf;
      ExprPtr cond = ParseExpr();
      ExpectEnd();
      while (true) {
        std::vector<Node> body;
        std::string stop;
        ParseBody(body, {"elif", "else", "endif"}, stop);
        n.branches.emplace_back(cond, std::move(body));
        EnterStop();
        ++seg_;
        if (stop == "endif") {
          ExpectEnd();
          break;
        }
        if (stop == "elif") {
          cond = ParseExpr();
          ExpectEnd();
          continue;
        }
        ExpectEnd();  // else
        std::vector<Node> else_body;
        ParseBody(else_body, {"endif"}, stop);
        EnterStop();
        ++seg_;
        ExpectEnd();
        n.branches.emplace_back(nullptr, std::move(else_body));
        break;
      }
      return n;
    }
    if (k == "for") {
      n.kind = Node::Kind::kFor;
      n.targets.push_back(ExpectName());
      while (IsOp(",")) {
        ++tpos_;
        n.targets.push_back(ExpectName());
      }
      if (!IsName("in")) Fail("expected 'in' in for loop");
      ++tpos_;
      n.expr = ParseOr();  // no conditional expression: `if` here is the loop filter
      if (IsName("if")) {
        ++tpos_;
        n.filter = ParseOr();
      }
      if (IsName("recursive")) Fail("recursive loops are not supported");
      ExpectEnd();
      std::string stop;
      ParseBody(n.body, {"else", "endfor"}, stop);
      EnterStop();
      ++seg_;
      ExpectEnd();
      if (stop == "else") {
        ParseBody(n.else_body, {"endfor"}, stop);
        EnterStop();
        ++seg_;
        ExpectEnd();
      }
      return n;
    }
    if (k == "set") {
      n.kind = Node::Kind::kSet;
      n.targets.push_back(ExpectName());
      if (IsOp(".")) {
        ++tpos_;
        n.targets.push_back(ExpectName());
        n.attr_target = true;
      } else {
        while (IsOp(",")) {
          ++tpos_;
          n.targets.push_back(ExpectName());
        }
      }
      if (IsEnd()) {
        if (n.attr_target || n.targets.size() != 1) Fail("block set takes one plain name");
        n.kind = Node::Kind::kSetBlock;
        ++tpos_;
        std::string stop;
        ParseBody(n.body, {"endset"}, stop);
        EnterStop();
        ++seg_;
        ExpectEnd();
        return n;
      }
      if (!IsOp("=")) Fail("expected '=' in set");
      ++tpos_;
      n.expr = ParseExpr();
      ExpectEnd();
      return n;
    }
    if (k == "macro") {
      n.kind = Node::Kind::kMacro;
      n.macro = std::make_shared<MacroDef>();
      n.macro->name = ExpectName();
      ExpectOp("(");
      while (!IsOp(")")) {
        n.macro->params.push_back(ExpectName());
        ExprPtr def;
        if (IsOp("=")) {
          ++tpos_;
          def = ParseExpr();
        }
        n.macro->defaults.push_back(def);
        if (IsOp(",")) ++tpos_;
        else if (!IsOp(")")) Fail("expected ',' or ')' in macro parameters");
      }
      ++tpos_;
      ExpectEnd();
      std::string stop;
      ParseBody(n.body, {"endmacro"}, stop);
      EnterStop();
      ++seg_;
      ExpectEnd();
      return n;
    }
    if (k == "break" || k == "continue") {
      n.kind = k == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      ExpectEnd();
      return n;
    }
    if (k == "generation" || k == "endgeneration") {  // HF's assistant-mask marker: no output
      ExpectEnd();
      n.kind = Node::Kind::kText;
      return n;
    }
    FailAt(kw.line, kw.col, "unsupported statement '{% " + k + " %}'");
  }

  // ---- expressions ----
  const Tok& Cur() const { return (*toks_)[tpos_]; }
  bool IsEnd() const { return Cur().kind == Tok::Kind::kEnd; }
  bool IsOp(const char* op) const { return Cur().kind == Tok::Kind::kOp && Cur().text == op; }
  bool IsName(const char* n) const { return Cur().kind == Tok::Kind::kName && Cur().text == n; }
  void ExpectEnd() {
    if (!IsEnd()) Fail("unexpected '" + Cur().text + "' (unsupported syntax)");
  }
  void ExpectOp(const char* op) {
    if (!IsOp(op)) Fail(std::string("expected '") + op + "'");
    ++tpos_;
  }
  std::string ExpectName() {
    if (Cur().kind != Tok::Kind::kName) Fail("expected a name");
    return (*toks_)[tpos_++].text;
  }
  ExprPtr Make(Expr::Kind k) {
    auto e = std::make_shared<Expr>();
    e->kind = k;
    e->line = Cur().line;
    e->col = Cur().col;
    return e;
  }
  ExprPtr Binary(const std::string& op, ExprPtr a, ExprPtr b) {
    auto e = std::make_shared<Expr>();
    e->kind = Expr::Kind::kBinary;
    e->name = op;
    e->line = a->line;
    e->col = a->col;
    e->args = {std::move(a), std::move(b)};
    return e;
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxDepth) p_.Fail("expression nesting is too deep");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  ExprPtr ParseExpr() {
    DepthGuard g(*this);
    ExprPtr e = ParseOr();
    if (IsName("if")) {
      auto c = Make(Expr::Kind::kCond);
      ++tpos_;
      ExprPtr cond = ParseOr();
      ExprPtr other;
      if (IsName("else")) {
        ++tpos_;
        other = ParseExpr();
      }
      c->args = {cond, e, other};
      return c;
    }
    return e;
  }
  ExprPtr ParseOr() {
    ExprPtr e = ParseAnd();
    while (IsName("or")) {
      ++tpos_;
      e = Binary("or", e, ParseAnd());
    }
    return e;
  }
  ExprPtr ParseAnd() {
    ExprPtr e = ParseNot();
    while (IsName("and")) {
      ++tpos_;
      e = Binary("and", e, ParseNot());
    }
    return e;
  }
  ExprPtr ParseNot() {
    if (IsName("not")) {
      DepthGuard g(*this);
      auto e = Make(Expr::Kind::kUnary);
      ++tpos_;
      e->name = "not";
      e->args = {ParseNot()};
      return e;
    }
    return ParseCompare();
  }
  ExprPtr ParseCompare() {
    ExprPtr e = ParseConcat();
    while (true) {
      if (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">=")) {
        std::string op = Cur().text;
        ++tpos_;
        e = Binary(op, e, ParseConcat());
      } else if (IsName("in")) {
        ++tpos_;
        e = Binary("in", e, ParseConcat());
      } else if (IsName("not") && tpos_ + 1 < toks_->size() &&
                 (*toks_)[tpos_ + 1].kind == Tok::Kind::kName && (*toks_)[tpos_ + 1].text == "in") {
        tpos_ += 2;
        e = Binary("not in", e, ParseConcat());
      } else {
        return e;
      }
    }
  }
  ExprPtr ParseConcat() {
    ExprPtr e = ParseAdd();
    while (IsOp("~")) {
      ++tpos_;
      e = Binary("~", e, ParseAdd());
    }
    return e;
  }
  ExprPtr ParseAdd() {
    ExprPtr e = ParseMul();
    while (IsOp("+") || IsOp("-")) {
      std::string op = Cur().text;
      ++tpos_;
      e = Binary(op, e, ParseMul());
    }
    return e;
  }
  ExprPtr ParseMul() {
    ExprPtr e = ParseUnary();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      std::string op = Cur().text;
      ++tpos_;
      e = Binary(op, e, ParseUnary());
    }
    return e;
  }
  ExprPtr ParseUnary() {
    DepthGuard g(*this);
    if (IsOp("-") || IsOp("+")) {
      auto e = Make(Expr::Kind::kUnary);
      e->name = Cur().text;
      ++tpos_;
      e->args = {ParseUnary()};
      return e;
    }
    ExprPtr e = ParsePostfix(ParsePrimary());
    // Filters and tests bind to the unary operand: `messages|length - 1`.
    while (true) {
      if (IsOp("|")) {
        ++tpos_;
        auto f = Make(Expr::Kind::kFilter);
        f->name = ExpectName();
        f->args.push_back(e);
        if (IsOp("(")) ParseCallArgs(*f);
        e = f;
      } else if (IsName("is")) {
        ++tpos_;
        auto t = Make(Expr::Kind::kTest);
        if (IsName("not")) {
          ++tpos_;
          t->negated = true;
        }
        t->name = ExpectName();
        t->args.push_back(e);
        if (IsOp("(")) {
          ParseCallArgs(*t);
        } else if (Cur().kind == Tok::Kind::kString || Cur().kind == Tok::Kind::kInt ||
                   Cur().kind == Tok::Kind::kFloat) {
          t->args.push_back(ParsePrimary());  // `is equalto 3`
        }
        e = t;
      } else {
        return e;
      }
    }
  }
  void ParseCallArgs(Expr& call) {
    ExpectOp("(");
    while (!IsOp(")")) {
      if (Cur().kind == Tok::Kind::kName && tpos_ + 1 < toks_->size() &&
          (*toks_)[tpos_ + 1].kind == Tok::Kind::kOp && (*toks_)[tpos_ + 1].text == "=") {
        call.kw_names.push_back(Cur().text);
        tpos_ += 2;
        call.kw_args.push_back(ParseExpr());
      } else {
        call.args.push_back(ParseExpr());
      }
      if (IsOp(",")) {
        ++tpos_;
      } else if (!IsOp(")")) {
        Fail("expected ',' or ')' in call arguments");
      }
    }
    ++tpos_;
  }
  ExprPtr ParsePostfix(ExprPtr e) {
    while (true) {
      if (IsOp(".")) {
        ++tpos_;
        auto a = Make(Expr::Kind::kAttr);
        a->name = ExpectName();
        a->args = {e};
        e = a;
      } else if (IsOp("[")) {
        ++tpos_;
        ExprPtr parts[3];
        int colons = 0;
        while (!IsOp("]")) {
          if (IsOp(":")) {
            if (++colons > 2) Fail("too many ':' in slice");
            ++tpos_;
            continue;
          }
          if (parts[colons]) Fail("expected ']'");
          parts[colons] = ParseExpr();
        }
        ++tpos_;
        if (colons == 0) {
          if (!parts[0]) Fail("empty subscript");
          auto i = Make(Expr::Kind::kIndex);
          i->args = {e, parts[0]};
          e = i;
        } else {
          auto s = Make(Expr::Kind::kSlice);
          s->args = {e, parts[0], parts[1], parts[2]};
          e = s;
        }
      } else if (IsOp("(")) {
        auto c = Make(Expr::Kind::kCall);
        c->args.push_back(e);
        ParseCallArgs(*c);
        e = c;
      } else {
        return e;
      }
    }
  }
  ExprPtr ParsePrimary() {
    DepthGuard g(*this);
    const Tok& t = Cur();
    switch (t.kind) {
      case Tok::Kind::kInt: {
        auto e = Make(Expr::Kind::kLiteral);
        e->literal = Value::Int(t.ival);
        ++tpos_;
        return e;
      }
      case Tok::Kind::kFloat: {
        auto e = Make(Expr::Kind::kLiteral);
        e->literal = Value::Float(t.fval);
        ++tpos_;
        return e;
      }
      case Tok::Kind::kString: {
        auto e = Make(Expr::Kind::kLiteral);
        std::string s = t.text;
        ++tpos_;
        while (Cur().kind == Tok::Kind::kString) s += (*toks_)[tpos_++].text;  // "a" "b"
        e->literal = Value::Str(std::move(s));
        return e;
      }
      case Tok::Kind::kName: {
        auto e = Make(Expr::Kind::kLiteral);
        const std::string& n = t.text;
        if (n == "true" || n == "True") {
          e->literal = Value::Bool(true);
        } else if (n == "false" || n == "False") {
          e->literal = Value::Bool(false);
        } else if (n == "none" || n == "None") {
          e->literal = Value::None();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = n;
        }
        ++tpos_;
        return e;
      }
      case Tok::Kind::kOp:
        if (t.text == "(") {
          ++tpos_;
          ExprPtr first = ParseExpr();
          if (IsOp(",")) {  // tuple: treated as a list
            auto l = Make(Expr::Kind::kList);
            l->args.push_back(first);
            while (IsOp(",")) {
              ++tpos_;
              if (IsOp(")")) break;
              l->args.push_back(ParseExpr());
            }
            ExpectOp(")");
            return l;
          }
          ExpectOp(")");
          return first;
        }
        if (t.text == "[") {
          auto l = Make(Expr::Kind::kList);
          ++tpos_;
          while (!IsOp("]")) {
            l->args.push_back(ParseExpr());
            if (IsOp(",")) ++tpos_;
            else if (!IsOp("]")) Fail("expected ',' or ']' in list");
          }
          ++tpos_;
          return l;
        }
        if (t.text == "{") {
          auto d = Make(Expr::Kind::kDict);
          ++tpos_;
          while (!IsOp("}")) {
            d->args.push_back(ParseExpr());
            ExpectOp(":");
            d->args.push_back(ParseExpr());
            if (IsOp(",")) ++tpos_;
            else if (!IsOp("}")) Fail("expected ',' or '}' in dict");
          }
          ++tpos_;
          return d;
        }
        break;
      case Tok::Kind::kEnd:
        Fail("unexpected end of tag");
    }
    Fail("unexpected '" + t.text + "' (unsupported syntax)");
  }

  std::vector<Segment> segs_;
  size_t seg_ = 0;
  const std::vector<Tok>* toks_ = nullptr;
  size_t tpos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::shared_ptr<Template> Parse(std::string_view src) {
  Lexer lexer(src);
  std::vector<Segment> segs = lexer.Run();
  auto t = std::make_shared<Template>();
  t->nodes = Parser(std::move(segs)).ParseAll();
  return t;
}

}  // namespace realizar::jinja
