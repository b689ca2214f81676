#include "perron/graph/id_map.hpp"

#include <algorithm>
#include <numeric>

#include "perron/core/range.hpp"
#include <parallel/algorithm>

namespace perron {
namespace {

// Sends every query to the rank owner(query) names, lets that rank answer it, and returns the
// answers in the order of the queries: Alltoallv there, and Alltoallv back. Queries already
// grouped by owner in rank order (sorted ids are: owners split the id range) are sent from
// where they lie and answered in order; others go through a stable counting sort into rank
// buckets first. Each buffer is freed once the next holds its data: with millions of queries
// (one per distinct endpoint of a rank) these buffers set the remap's peak memory.
template <class Answer, class Query, class OwnerFn, class AnswerFn>
std::vector<Answer> ask_owners(std::span<const Query> queries, OwnerFn owner, AnswerFn answer, const Comm& comm) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(comm.size()), 0);
  bool grouped = true;
  int last = 0;
  for (const Query& q : queries) {
    const int o = owner(q);
    grouped = grouped && o >= last;
    last = o;
    ++counts[static_cast<std::size_t>(o)];
  }
  auto answer_all = [&](std::span<const Query> send, std::span<const std::int64_t> send_counts) {
    std::vector<std::int64_t> recv_counts;
    std::vector<Answer> answers;
    {
      const std::vector<Query> received = comm.alltoallv<Query>(send, send_counts, &recv_counts);
      answers.resize(received.size());
#pragma omp parallel for schedule(static)
      for (std::size_t q = 0; q < received.size(); ++q) answers[q] = answer(received[q]);
    }
    return comm.alltoallv<Answer>(answers, recv_counts);
  };
  if (comm.allreduce(grouped ? 1 : 0, ReduceOp::min) == 1) return answer_all(queries, counts);
  Buckets<Query> b = bucket_by_owner(queries, comm.size(), owner);
  const std::vector<Answer> back = answer_all(b.send, b.counts);
  std::vector<Query>().swap(b.send);
  std::vector<Answer> out(queries.size());
  for (std::size_t i = 0; i < queries.size(); ++i) out[i] = back[b.position[i]];
  return out;
}

}  // namespace

IdMap IdMap::identity(std::uint64_t n, const Comm& comm) {
  IdMap map;
  map.identity_ = true;
  map.n_ = n;
  const auto P = static_cast<std::uint64_t>(comm.size());
  map.slice_bounds_.resize(P + 1);
  for (std::uint64_t r = 0; r <= P; ++r) map.slice_bounds_[r] = block_begin(n, r, P);
  map.slice_begin_ = map.slice_bounds_[static_cast<std::size_t>(comm.rank())];
  map.identity_count_ = map.slice_bounds_[static_cast<std::size_t>(comm.rank()) + 1] - map.slice_begin_;
  return map;
}

IdMap IdMap::from_sorted_runs(std::vector<VertexId> run, const Comm& comm) {
  IdMap map;
  const std::uint64_t count = run.size();
  map.slice_begin_ = comm.exscan_sum(count);
  map.n_ = comm.allreduce(count, ReduceOp::sum);
  std::vector<GlobalId> begins = comm.allgather<GlobalId>(map.slice_begin_);
  map.slice_bounds_.assign(begins.begin(), begins.end());
  map.slice_bounds_.push_back(map.n_);
  // Rank r owns the ids up to the last of its run (an empty run: up to the last before it).
  const std::vector<VertexId> last = comm.allgather<VertexId>(run.empty() ? VertexId{0} : run.back());
  const std::vector<std::uint64_t> counts = comm.allgather<std::uint64_t>(count);
  VertexId upto = 0;
  for (int r = 0; r + 1 < comm.size(); ++r) {
    if (counts[static_cast<std::size_t>(r)] > 0) upto = last[static_cast<std::size_t>(r)];
    map.splitters_.push_back(upto);
  }
  map.owned_ = std::move(run);
  return map;
}

IdMap IdMap::build(std::vector<VertexId> ids, const Comm& comm) {
  IdMap map;
  const int P = comm.size();
  if (!std::is_sorted(ids.begin(), ids.end())) __gnu_parallel::sort(ids.begin(), ids.end());  // (the sort copies)
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

  // Splitters by regular sampling: 4P evenly spaced samples per rank.
  std::vector<VertexId> samples;
  const std::size_t per_rank = 4 * static_cast<std::size_t>(P);
  for (std::size_t s = 0; s < per_rank && !ids.empty(); ++s) samples.push_back(ids[s * ids.size() / per_rank]);
  std::vector<VertexId> all = comm.allgatherv<VertexId>(samples);
  std::sort(all.begin(), all.end());
  for (int r = 1; r < P; ++r)
    map.splitters_.push_back(all.empty() ? 0 : all[static_cast<std::size_t>(r) * all.size() / static_cast<std::size_t>(P)]);

  // Sorted ids go to their owners as contiguous runs.
  std::vector<std::int64_t> counts(static_cast<std::size_t>(P), 0);
  for (VertexId id : ids) ++counts[static_cast<std::size_t>(map.owner_of_id(id))];
  std::vector<std::int64_t> arrived;
  std::vector<VertexId> mine = comm.alltoallv<VertexId>(ids, counts, &arrived);
  // One sorted run from each rank: merged pairwise, log2 P rounds of linear merges (a sort of
  // the whole took 0.1 s of a 2-rank build at Kronecker 22, where every rank sees most ids).
  std::vector<std::size_t> run{0};
  for (const std::int64_t c : arrived) run.push_back(run.back() + static_cast<std::size_t>(c));
  const std::size_t runs = arrived.size();
  for (std::size_t width = 1; width < runs; width *= 2)
    for (std::size_t r = 0; r + width < runs; r += 2 * width)
      std::inplace_merge(mine.begin() + static_cast<std::ptrdiff_t>(run[r]),
                         mine.begin() + static_cast<std::ptrdiff_t>(run[r + width]),
                         mine.begin() + static_cast<std::ptrdiff_t>(run[std::min(r + 2 * width, runs)]));
  mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
  mine.shrink_to_fit();  // ids repeated across ranks arrived too: the map keeps the distinct ones
  map.owned_ = std::move(mine);

  const std::uint64_t count = map.owned_.size();
  map.slice_begin_ = comm.exscan_sum(count);
  map.n_ = comm.allreduce(count, ReduceOp::sum);
  std::vector<GlobalId> begins = comm.allgather<GlobalId>(map.slice_begin_);
  map.slice_bounds_.assign(begins.begin(), begins.end());
  map.slice_bounds_.push_back(map.n_);
  return map;
}

int IdMap::owner_of_id(VertexId id) const {
  return static_cast<int>(std::lower_bound(splitters_.begin(), splitters_.end(), id) - splitters_.begin());
}

int IdMap::owner_of_dense(GlobalId d) const {
  return static_cast<int>(std::upper_bound(slice_bounds_.begin(), slice_bounds_.end(), d) - slice_bounds_.begin()) - 1;
}

std::vector<VertexId> IdMap::slice_ids() const {
  if (!identity_) return owned_;
  std::vector<VertexId> out(identity_count_);
  std::iota(out.begin(), out.end(), slice_begin_);
  return out;
}

std::vector<GlobalId> IdMap::to_dense(std::span<const VertexId> ids, const Comm& comm) const {
  if (identity_) {
    std::vector<GlobalId> out(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) out[i] = ids[i] < n_ ? ids[i] : kMissingId;
    return out;
  }
  return ask_owners<GlobalId>(
      ids, [&](VertexId id) { return owner_of_id(id); },
      [&](VertexId id) {
        auto it = std::lower_bound(owned_.begin(), owned_.end(), id);
        return it != owned_.end() && *it == id ? slice_begin_ + static_cast<GlobalId>(it - owned_.begin()) : kMissingId;
      },
      comm);
}

std::vector<VertexId> IdMap::to_original(std::span<const GlobalId> dense, const Comm& comm) const {
  if (identity_) return {dense.begin(), dense.end()};
  return ask_owners<VertexId>(
      dense, [&](GlobalId d) { return owner_of_dense(d); }, [&](GlobalId d) { return owned_[d - slice_begin_]; }, comm);
}

}  // namespace perron
