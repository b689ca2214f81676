#pragma once
// The graph build's edge exchange, received into the memory that the departing edges free
// (internal to src/graph; a header of its own so that the tests can drive it with small rounds).
//
// Why: memory touched for the first time costs a page fault per page, and on a VM that costs
// more than the transfer. On the 2-core VM of docs/benchmarks.md, the Alltoallv of 134 MB each
// way took 0.02 s into memory touched before, and the first touch of the 134–268 MB it was
// received into took 0.17–0.39 s. So the edges leave in rounds of about kRoundBytes, and what
// arrives in a round fills the entries that have left.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/error.hpp"
#include "perron/core/range.hpp"

namespace perron {

// Bytes of a rank's list that leave in one round: the size of the bounce buffers, small
// enough that they stay in cache, large enough that a round's latency is noise.
constexpr std::size_t kRoundBytes = std::size_t{8} << 20;

// Where arrivals go in an exchange that receives into the list it sends from: the entries
// that have left, first freed first filled. Arrivals for which no entry is free yet wait (in
// order) for the next ones; what still waits at the end, when more arrived than left, is
// appended (inside the list's capacity when the reader left room: EdgeList::exchange_room).
// Entries left free at the end, when fewer arrived, are closed by moving what follows them
// down. So the order of the result depends on the counts alone, never on the timing of the
// messages. Two columns fed the same calls (keys and weights) place their entries alike.
template <class T, class Alloc>
class Refill {
 public:
  explicit Refill(std::vector<T, Alloc>& column) : column_(column) {}

  // Entries past the end, to fill before any arrival waits (a caller that knows more will
  // arrive than leave); constructs nothing, each is written once when filled.
  void add_room(std::size_t n) {
    if (n == 0) return;
    free_.push_back({column_.size(), column_.size() + n});
    column_.resize(column_.size() + n);
  }
  // Entries [begin, end) have left.
  void freed(std::size_t begin, std::size_t end) {
    if (begin < end) free_.push_back({begin, end});
  }
  void place(std::span<const T> arrivals) {
    waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(fill(waiting_)));
    const std::size_t done = fill(arrivals);
    waiting_.insert(waiting_.end(), arrivals.begin() + static_cast<std::ptrdiff_t>(done), arrivals.end());
  }
  // After the last round: appends what waits, or closes the entries left free.
  void finish() {
    column_.insert(column_.end(), waiting_.begin(), waiting_.end());
    std::vector<Span> holes;
    for (std::size_t i = head_; i < free_.size(); ++i)
      if (free_[i].begin < free_[i].end) holes.push_back(free_[i]);
    if (holes.empty()) return;
    std::sort(holes.begin(), holes.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    std::size_t to = 0, from = 0;  // the entries from `from` to the next hole move down to `to`
    auto move_down = [&](std::size_t until) {
      if (to != from) std::copy(at(from), at(until), at(to));
      to += until - from;
    };
    for (const Span& hole : holes) {
      move_down(hole.begin);
      from = hole.end;
    }
    move_down(column_.size());
    column_.resize(to);
  }

 private:
  struct Span {
    std::size_t begin, end;
  };
  auto at(std::size_t i) { return column_.begin() + static_cast<std::ptrdiff_t>(i); }
  // Writes the first entries of `from` into the free entries in order; returns how many.
  std::size_t fill(std::span<const T> from) {
    std::size_t done = 0;
    for (; done < from.size() && head_ < free_.size(); ++head_) {
      Span& f = free_[head_];
      const std::size_t k = std::min(from.size() - done, f.end - f.begin);
      std::copy_n(from.begin() + static_cast<std::ptrdiff_t>(done), k, at(f.begin));
      f.begin += k, done += k;
      if (f.begin < f.end) break;
    }
    return done;
  }

  std::vector<T, Alloc>& column_;
  std::vector<Span> free_;
  std::size_t head_ = 0;  // free_[head_] is the span being filled
  std::vector<T, Alloc> waiting_;
};

// The end of an exchange whose list is already bucketed: `column` holds the buckets for the
// other ranks (its first `sent` entries, send_counts[r] for rank r, in rank order), then this
// rank's own, which stay where they lie. The buckets leave in rounds, slice t of each in round
// t (one Alltoallv from where they lie), and each round's arrivals, through a bounce buffer of
// about round_bytes, refill the entries sent (Refill). When more arrive than leave, the
// entries past the end are filled first. Peak: the column and the bounce buffer.
template <class T, class Alloc>
void exchange_into_sent(std::vector<T, Alloc>& column, std::size_t sent, std::span<const std::int64_t> send_counts,
                        std::span<const std::int64_t> recv_counts, std::size_t arriving, const Comm& comm,
                        std::size_t round_bytes = kRoundBytes) {
  const std::size_t P = send_counts.size();
  const auto rounds =
      comm.allreduce<std::uint64_t>(std::max<std::uint64_t>(1, arriving * sizeof(T) / round_bytes), ReduceOp::max);
  Refill<T, Alloc> refill(column);
  if (arriving > sent) refill.add_room(arriving - sent);
  std::vector<std::int64_t> bucket(P, 0);  // where rank r's bucket begins
  for (std::size_t r = 1; r < P; ++r) bucket[r] = bucket[r - 1] + send_counts[r - 1];
  std::vector<T, Alloc> bounce(arriving / rounds + P);
  std::vector<std::int64_t> offset(P), count(P), got(P);
  for (std::uint64_t t = 0; t < rounds; ++t) {
    std::size_t received = 0;
    for (std::size_t r = 0; r < P; ++r) {
      const auto s = static_cast<std::uint64_t>(send_counts[r]), a = static_cast<std::uint64_t>(recv_counts[r]);
      offset[r] = bucket[r] + static_cast<std::int64_t>(block_begin(s, t, rounds));
      count[r] = static_cast<std::int64_t>(block_begin(s, t + 1, rounds) - block_begin(s, t, rounds));
      got[r] = static_cast<std::int64_t>(block_begin(a, t + 1, rounds) - block_begin(a, t, rounds));
      received += static_cast<std::size_t>(got[r]);
    }
    comm.alltoallv_from<T>(column, offset, count, std::span<T>(bounce).first(received), got);
    for (std::size_t r = 0; r < P; ++r)
      refill.freed(static_cast<std::size_t>(offset[r]), static_cast<std::size_t>(offset[r] + count[r]));
    refill.place(std::span<const T>(bounce).first(received));
  }
  refill.finish();
}

// The whole exchange for a list of packed edges as read (keys, and weights when `weight` is
// not null), each edge to the rank owner(key) names, without bucketing the list first: round
// t takes slice t of the list (about round_bytes), counts its edges per rank, tells each rank
// how many it will get, gathers the departing edges into a send buffer while moving the
// staying ones to the slice's front, and refills the slice's freed tail with what arrives
// (Refill). One pass reads and writes each slice while it is in cache; the list is never
// copied, bucketed in place (a swap per edge at random) or received into fresh memory
// beyond what arrives in excess of what leaves: that excess waits, then is appended (within
// the reader's room, else the list grows once). The staying edges keep their order; the
// result's order depends on the counts alone. Peak: the list, the excess and two bounce
// buffers per column.
template <class Key, class KeyAlloc, class Weight, class WeightAlloc, class OwnerFn>
void exchange_in_place(std::vector<Key, KeyAlloc>& key, std::vector<Weight, WeightAlloc>* weight, OwnerFn owner, const Comm& comm,
                       std::size_t round_bytes = kRoundBytes) {
  const auto P = static_cast<std::size_t>(comm.size());
  const auto self = static_cast<std::size_t>(comm.rank());
  const std::size_t m = key.size(), entry = sizeof(Key) + (weight ? sizeof(Weight) : 0);
  const auto rounds = comm.allreduce<std::uint64_t>(std::max<std::uint64_t>(1, m * entry / round_bytes), ReduceOp::max);
  Refill<Key, KeyAlloc> key_refill(key);
  std::optional<Refill<Weight, WeightAlloc>> weight_refill;
  if (weight) weight_refill.emplace(*weight);
  const std::size_t slice = m / rounds + 1;  // a slice holds at most m / rounds + 1 edges
  std::vector<Key, KeyAlloc> leaving(slice), key_out(slice), key_in;
  std::vector<Weight, WeightAlloc> weight_leaving(weight ? slice : 0), weight_out(weight ? slice : 0), weight_in;
  std::vector<std::uint32_t> rank_of(slice);
  std::vector<std::int64_t> count(P), next(P);
  for (std::uint64_t t = 0; t < rounds; ++t) {
    const std::size_t begin = block_begin(m, t, rounds), end = block_begin(m, t + 1, rounds);
    // One pass asks each edge's owner and splits the slice, without a branch (which edges stay
    // is a coin toss on every edge) or a counter in memory per rank: each edge is written both
    // to the next staying entry and to the next departing one, and only the one that counts
    // advances; rank_of records the departing edges' ranks in departing order. Then the
    // departing edges are counted per rank (on 2 ranks they all go to the other one: no pass),
    // and, in slice order, go to their ranks' blocks in the send buffer by a counting sort,
    // needed only when they go to more than one rank. (A counting pass of its own before the
    // split read the slice twice: the exchange of a 2-rank build at Kronecker 22 took 0.248 s
    // against 0.210 s now, medians of 7 interleaved runs.)
    std::size_t stay = begin, leave = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const Key k = key[i];
      const auto r = static_cast<std::uint32_t>(owner(k));
      const std::size_t stays = r == self ? 1 : 0;
      key[stay] = k, leaving[leave] = k, rank_of[leave] = r;
      if (weight) {
        const Weight w = (*weight)[i];
        (*weight)[stay] = w, weight_leaving[leave] = w;
      }
      stay += stays, leave += 1 - stays;
    }
    std::fill(count.begin(), count.end(), 0);
    if (P == 2)
      count[1 - self] = static_cast<std::int64_t>(leave);
    else
      for (std::size_t j = 0; j < leave; ++j) ++count[rank_of[j]];
    const std::vector<std::int64_t> got = comm.alltoall_counts(count);
    std::int64_t received = 0;
    for (std::size_t r = 0; r < P; ++r) next[r] = r == 0 ? 0 : next[r - 1] + count[r - 1], received += got[r];
    if (std::count_if(count.begin(), count.end(), [](std::int64_t c) { return c > 0; }) > 1) {
      for (std::size_t j = 0; j < leave; ++j) {
        const auto to = static_cast<std::size_t>(next[rank_of[j]]++);
        key_out[to] = leaving[j];
        if (weight) weight_out[to] = weight_leaving[j];
      }
    } else {
      key_out.swap(leaving);
      weight_out.swap(weight_leaving);
    }
    key_in.resize(static_cast<std::size_t>(received));
    comm.alltoallv_into<Key>(key_out, count, key_in, got);
    key_refill.freed(stay, end);
    key_refill.place(key_in);
    if (weight) {
      weight_in.resize(static_cast<std::size_t>(received));
      comm.alltoallv_into<Weight>(weight_out, count, weight_in, got);
      weight_refill->freed(stay, end);
      weight_refill->place(weight_in);
    }
  }
  key_refill.finish();
  if (weight) weight_refill->finish();
}

}  // namespace perron
