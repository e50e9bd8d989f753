// The GPU step planner (realizar::internal::PlanStep): which rows of a mixed step take the tiled
// prefill attention, which the decode attention, and which rows feed the head — host logic, so
// CI (no GPU) checks it against hand-worked layouts.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "engine/gpu_forward.h"

namespace {

using realizar::internal::PlanStep;
using realizar::internal::StepPlan;

// Rows of the given (sequence, first position, length) segments, in order; row_table numbers the
// sequences by first appearance, as GpuForward::Run does.
struct Rows {
  std::vector<int> seq, pos;
  std::vector<int32_t> table;
};
Rows Layout(const std::vector<std::array<int, 3>>& segments) {
  Rows r;
  std::vector<int> seen;
  for (const auto& [s, p0, len] : segments) {
    int idx = 0;
    while (idx < static_cast<int>(seen.size()) && seen[idx] != s) ++idx;
    if (idx == static_cast<int>(seen.size())) seen.push_back(s);
    for (int i = 0; i < len; ++i) {
      r.seq.push_back(s);
      r.pos.push_back(p0 + i);
      r.table.push_back(idx);
    }
  }
  return r;
}

}  // namespace

TEST_CASE("PlanStep: a lone prompt is one tiled run; decode rows take the decode attention",
          "[step_plan]") {
  const Rows prompt = Layout({{{7, 3, 5}}});
  StepPlan p = PlanStep(prompt.seq, prompt.pos, prompt.table, std::vector<int>{4});
  REQUIRE(p.prompts.size() == 1);
  CHECK(p.prompts[0].first == 0);
  CHECK(p.prompts[0].rows == 5);
  CHECK(p.prompts[0].table == 0);
  CHECK(p.prompts[0].start_pos == 3);
  CHECK(p.decode_first == 5);  // no decode rows
  CHECK(p.max_pos == 7);
  CHECK_FALSE(p.gather_rows);
  CHECK(p.logit_first == 4);
  CHECK(p.n_logits == 1);

  const Rows decode = Layout({{{1, 9, 1}}, {{2, 4, 1}}, {{3, 0, 1}}});
  p = PlanStep(decode.seq, decode.pos, decode.table, std::vector<int>{0, 1, 2});
  CHECK(p.prompts.empty());
  CHECK(p.decode_first == 0);
  CHECK(p.max_pos == 9);
  CHECK_FALSE(p.gather_rows);
  CHECK(p.logit_first == 0);
  CHECK(p.n_logits == 3);
}

TEST_CASE("PlanStep: the scheduler's layout (chunks, then single rows) splits the attention",
          "[step_plan]") {
  // Chunk of 11 (6 rows), chunk of 7 continuing at 9 (4 rows, no logits), a 1-token prompt of
  // 42, a decode row of 3: logits rows 5, 10, 11 are not contiguous.
  const Rows r = Layout({{{11, 0, 6}}, {{7, 9, 4}}, {{42, 0, 1}}, {{3, 5, 1}}});
  const StepPlan p = PlanStep(r.seq, r.pos, r.table, std::vector<int>{5, 10, 11});
  REQUIRE(p.prompts.size() == 2);
  CHECK(p.prompts[0].first == 0);
  CHECK(p.prompts[0].rows == 6);
  CHECK(p.prompts[0].start_pos == 0);
  CHECK(p.prompts[1].first == 6);
  CHECK(p.prompts[1].rows == 4);
  CHECK(p.prompts[1].table == 1);
  CHECK(p.prompts[1].start_pos == 9);
  CHECK(p.decode_first == 10);  // the 1-token prompt and the decode row
  CHECK(p.max_pos == 12);
  CHECK(p.gather_rows);
  CHECK(p.n_logits == 3);
}

TEST_CASE("PlanStep: a single row before a chunk sends every row to the decode attention",
          "[step_plan]") {
  const Rows r = Layout({{{3, 6, 1}}, {{11, 6, 3}}, {{7, 13, 1}}});
  const StepPlan p = PlanStep(r.seq, r.pos, r.table, std::vector<int>{0, 3, 4});
  CHECK(p.prompts.empty());
  CHECK(p.decode_first == 0);
  CHECK(p.gather_rows);
  // Adjacent rows of different sequences at consecutive positions are not one run.
  const Rows q = Layout({{{1, 0, 4}}, {{2, 4, 2}}});
  const StepPlan pq = PlanStep(q.seq, q.pos, q.table, std::vector<int>{3, 5});
  REQUIRE(pq.prompts.size() == 2);
  CHECK(pq.prompts[0].rows == 4);
  CHECK(pq.prompts[1].rows == 2);
  CHECK(pq.prompts[1].table == 1);
  CHECK(pq.decode_first == 6);
  CHECK(pq.gather_rows);
  // No logits at all (a step of prompt chunks that end no prompt).
  const StepPlan none = PlanStep(q.seq, q.pos, q.table, std::vector<int>{});
  CHECK(none.n_logits == 0);
  CHECK_FALSE(none.gather_rows);
}
