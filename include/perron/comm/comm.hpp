#pragma once
// The communication layer: the only module that calls MPI. A small RAII Environment and a
// Comm with typed collectives in the style of KaMPIng (`comm.allgatherv(span)` returns a
// vector), plus `agree`, which turns an error found by any rank into the same exception on
// every rank so that no rank is left hanging in a collective.
//
// mpi.h is included only by the .cpp files of this module (and by comm/native.hpp, for the
// io module's parallel HDF5): the templates here map element types to a small descriptor.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "perron/core/error.hpp"

namespace perron {

enum class ElemKind : std::uint8_t { i32, u32, i64, u64, f32, f64, bytes };
struct ElemType {
  ElemKind kind;
  std::size_t size;
};

template <class T>
constexpr ElemType elem_type() {
  static_assert(std::is_trivially_copyable_v<T>, "MPI messages carry trivially copyable types");
  if constexpr (std::is_same_v<T, std::int32_t>)
    return {ElemKind::i32, 4};
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return {ElemKind::u32, 4};
  else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, long long>)
    return {ElemKind::i64, 8};
  else if constexpr (std::is_same_v<T, std::uint64_t> || std::is_same_v<T, unsigned long long>)
    return {ElemKind::u64, 8};
  else if constexpr (std::is_same_v<T, float>)
    return {ElemKind::f32, 4};
  else if constexpr (std::is_same_v<T, double>)
    return {ElemKind::f64, 8};
  else
    return {ElemKind::bytes, sizeof(T)};  // structs travel as contiguous byte records
}

enum class ReduceOp { sum, max, min, bit_or };  // bit_or: integers only

// Items laid out for an Alltoallv: a stable counting sort by destination rank. position[i] is
// where item i went in `send`, so answers that come back in send order can be put back.
template <class T>
struct Buckets {
  std::vector<T> send;
  std::vector<std::int64_t> counts;
  std::vector<std::size_t> position;
};

template <class T, class OwnerFn>
Buckets<T> bucket_by_owner(std::span<const T> items, int ranks, OwnerFn owner) {
  Buckets<T> b{std::vector<T>(items.size()), std::vector<std::int64_t>(static_cast<std::size_t>(ranks), 0),
               std::vector<std::size_t>(items.size())};
  std::vector<int> dest(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) ++b.counts[static_cast<std::size_t>(dest[i] = owner(items[i]))];
  std::vector<std::size_t> next(b.counts.size(), 0);
  for (std::size_t r = 1; r < next.size(); ++r) next[r] = next[r - 1] + static_cast<std::size_t>(b.counts[r - 1]);
  for (std::size_t i = 0; i < items.size(); ++i) b.send[b.position[i] = next[static_cast<std::size_t>(dest[i])]++] = items[i];
  return b;
}

class Comm {
 public:
  // An opaque MPI_Comm; owned communicators (from split) are freed with the last copy.
  struct Handle;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // Number of ranks of this communicator on this node (MPI_Comm_split_type SHARED).
  int ranks_on_node() const;
  // Sub-communicator of the ranks passing the same color, ordered by key (MPI_Comm_split).
  Comm split(int color, int key) const;
  // Whether `ok` holds on every rank (a logical AND over ranks).
  bool all(bool ok) const { return allreduce<int>(ok ? 1 : 0, ReduceOp::min) == 1; }
  void barrier() const;

  template <class T>
  T allreduce(T value, ReduceOp op) const {
    allreduce_raw(&value, 1, elem_type<T>(), op);
    return value;
  }
  template <class T>
  void allreduce_inplace(std::span<T> values, ReduceOp op) const {
    allreduce_raw(values.data(), values.size(), elem_type<T>(), op);
  }
  // Sum of `value` over ranks below this one (0 on rank 0).
  template <class T>
  T exscan_sum(T value) const {
    T result{};
    exscan_raw(&value, &result, elem_type<T>());
    return rank_ == 0 ? T{} : result;
  }
  // Deterministic global sum: every rank's value added in rank order, so the same inputs
  // give the same bits whatever MPI's reduction algorithm does.
  double sum_ordered(double value) const;
  void sum_ordered(std::span<double> values) const;

  template <class T>
  std::vector<T> allgather(const T& value) const {
    std::vector<T> out(static_cast<std::size_t>(size_));
    allgather_raw(&value, out.data(), elem_type<T>());
    return out;
  }
  template <class T>
  std::vector<T> allgatherv(std::span<const T> local) const {
    std::vector<std::int64_t> counts = allgather<std::int64_t>(static_cast<std::int64_t>(local.size()));
    std::int64_t total = 0;
    for (auto c : counts) total += c;
    std::vector<T> out(static_cast<std::size_t>(total));
    allgatherv_raw(local.data(), counts, out.data(), elem_type<T>());
    return out;
  }
  template <class T>
  void bcast(std::span<T> values, int root) const {
    bcast_raw(values.data(), values.size(), elem_type<T>(), root);
  }
  template <class T>
  T bcast_value(T value, int root) const {
    bcast_raw(&value, 1, elem_type<T>(), root);
    return value;
  }
  std::string bcast_string(std::string text, int root) const;

  // Personalised all-to-all: send_counts[r] consecutive elements of `send` go to rank r.
  // Returns what arrived, grouped by source rank; recv_counts (if given) receives the sizes.
  template <class T>
  std::vector<T> alltoallv(std::span<const T> send, std::span<const std::int64_t> send_counts,
                           std::vector<std::int64_t>* recv_counts = nullptr) const {
    std::vector<std::int64_t> rc = alltoall_counts(send_counts);
    std::int64_t total = 0;
    for (auto c : rc) total += c;
    std::vector<T> out(static_cast<std::size_t>(total));
    alltoallv_raw(send.data(), send_counts, {}, out.data(), rc, elem_type<T>());
    if (recv_counts) *recv_counts = std::move(rc);
    return out;
  }
  std::vector<std::int64_t> alltoall_counts(std::span<const std::int64_t> send_counts) const;

  // The same exchange into caller-owned buffers with counts known in advance (the halo
  // exchange of every PageRank iteration: no allocation, no count exchange).
  template <class T>
  void alltoallv_into(std::span<const T> send, std::span<const std::int64_t> send_counts, std::span<T> recv,
                      std::span<const std::int64_t> recv_counts) const {
    alltoallv_raw(send.data(), send_counts, {}, recv.data(), recv_counts, elem_type<T>());
  }
  // The same with the block for rank r anywhere in `send`: send_counts[r] elements from
  // send[send_offsets[r]] (slices of buckets sent from where they lie).
  template <class T>
  void alltoallv_from(std::span<const T> send, std::span<const std::int64_t> send_offsets,
                      std::span<const std::int64_t> send_counts, std::span<T> recv,
                      std::span<const std::int64_t> recv_counts) const {
    alltoallv_raw(send.data(), send_counts, send_offsets, recv.data(), recv_counts, elem_type<T>());
  }

  // Collective error agreement. Runs `local_work` (which must not call collectives of its
  // own); if it throws on any rank, every rank throws the first failing rank's error.
  template <class F>
  void agree(F&& local_work) const {
    std::optional<Error> error;
    try {
      local_work();
    } catch (const Error& e) {
      error = e;
    } catch (const std::bad_alloc&) {
      error = Error(ErrorKind::internal, "out of memory on rank " + std::to_string(rank_));
    } catch (const std::exception& e) {
      error = Error(ErrorKind::internal, e.what());
    }
    raise_if_any(error);
  }
  void raise_if_any(const std::optional<Error>& error) const;

  // Writes `bytes` at byte `offset` of `path` with collective MPI-IO (every rank calls it,
  // possibly with zero bytes). The file is created or truncated by this call.
  void write_file_at_all(const std::string& path, std::uint64_t offset, std::span<const std::byte> bytes) const;

  // Ring shift, non-blocking: sends `send` to rank + 1 and receives into `recv` from rank − 1
  // (both of `bytes` bytes); wait() completes both. Ring Attention overlaps it with compute.
  class RingShift {
   public:
    RingShift(const Comm& comm, const void* send, void* recv, std::size_t bytes);
    ~RingShift();  // waits, so no request outlives its buffers
    RingShift(const RingShift&) = delete;
    RingShift& operator=(const RingShift&) = delete;
    void wait();

   private:
    struct Requests;
    std::unique_ptr<Requests> requests_;
  };

  const Handle& handle() const { return *handle_; }

  explicit Comm(std::shared_ptr<Handle> handle);

 private:
  void allreduce_raw(void* data, std::size_t count, ElemType type, ReduceOp op) const;
  void exscan_raw(const void* in, void* out, ElemType type) const;
  void allgather_raw(const void* in, void* out, ElemType type) const;
  void allgatherv_raw(const void* in, std::span<const std::int64_t> counts, void* out, ElemType type) const;
  void bcast_raw(void* data, std::size_t count, ElemType type, int root) const;
  // send_offsets empty: the blocks lie packed in rank order.
  void alltoallv_raw(const void* send, std::span<const std::int64_t> send_counts, std::span<const std::int64_t> send_offsets,
                     void* recv, std::span<const std::int64_t> recv_counts, ElemType type) const;

  std::shared_ptr<Handle> handle_;
  int rank_ = 0;
  int size_ = 1;
};

// RAII MPI environment: MPI_Init_thread(FUNNELED) in the constructor, MPI_Finalize in the
// destructor. OpenMP threads never call MPI; only the master thread communicates.
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  static Comm world();
  // Whether an MPI launcher (mpirun, srun, a PMI or PMIx server) started this process, read
  // from the launcher's environment before MPI starts.
  static bool launched();
  // Ends every rank of the job: the last resort when one rank failed alone.
  [[noreturn]] static void abort(int exit_code);
};

}  // namespace perron
