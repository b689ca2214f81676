// gtest main for MPI tests: every rank runs every test; only rank 0 prints progress, other
// ranks print failures tagged with their rank; the exit code is the max over ranks, so a
// failure on any one rank fails the test.
#include <gtest/gtest.h>

#include <cstdio>

#include "perron/comm/comm.hpp"
#include "perron/core/memory.hpp"

namespace {

class RankTaggedFailures : public testing::EmptyTestEventListener {
 public:
  explicit RankTaggedFailures(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?", r.line_number(),
                   r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  perron::set_large_allocation_policy();  // as the perron binary runs
  perron::Environment env(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  const perron::Comm world = perron::Environment::world();
  if (!world.is_root()) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankTaggedFailures(world.rank()));
  }
  const int local = RUN_ALL_TESTS();
  return world.allreduce(local, perron::ReduceOp::max);
}
