#pragma once
// Named integer types used across perron. Global vertex ids are 64-bit (graphs beyond 2^32
// vertices, sparse user ids up to 2^64-1); indices local to one rank are 32-bit, which halves
// the bytes per edge that the PageRank kernel streams.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace perron {

using VertexId = std::uint64_t;   // a user's original vertex id, as read from a file
using GlobalId = std::uint64_t;   // dense id in [0, n) after remapping, ordered like VertexId
using LocalId = std::uint32_t;    // index into one rank's vertex or column arrays
using EdgeIndex = std::uint64_t;  // position in a CSR edge array (may exceed 2^32 per rank)
using Rank = int;                 // an MPI rank

// One directed edge as readers and tests see it: original ids and a weight (1 when
// unweighted). Stored in an EdgeList by column, not as this 24-byte record.
struct RawEdge {
  VertexId src;
  VertexId dst;
  double weight;
};

// Marks the 2 MiB-aligned extents inside [p, p + bytes) for transparent huge pages
// (madvise(MADV_HUGEPAGE); Linux's default THP mode "madvise" backs only such memory with 2 MiB
// pages). Pages already touched keep 4 KiB; so call it on fresh memory, before it is written.
// Each fault then maps 2 MiB instead of 4 KiB: on a virtual machine, where a page fault costs
// microseconds, faulting in a 500 MB edge list or CSR 4 KiB at a time took more than the pass
// that wrote it (docs/benchmarks.md, "Huge pages"). The part of the block outside whole aligned
// 2 MiB pages keeps 4 KiB pages, so the block's resident memory is still what it touches.
void advise_huge_pages(void* p, std::size_t bytes) noexcept;

// The allocator of columns that are written before they are read (an edge list's): memory from
// calloc, which for a large block maps fresh pages that the kernel already zeroed (marked for
// huge pages), and a resize
// that constructs nothing in them. So growing a column by 500 MB costs no serial memset: each
// page is faulted in by the thread that first writes it, in the reader's parallel loop. A
// column grown inside capacity it held before gets zeros explicitly (EdgeList::resize).
template <class T>
struct ZeroPagesAllocator {
  static_assert(std::is_trivial_v<T>, "a column's elements must be valid as calloc's zero bytes");
  using value_type = T;
  ZeroPagesAllocator() = default;
  template <class U>
  ZeroPagesAllocator(const ZeroPagesAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    void* p = std::calloc(n, sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    advise_huge_pages(p, n * sizeof(T));
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <class U>
  void construct(U*) noexcept {}  // value-initialization: calloc's zeros stand
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const ZeroPagesAllocator<U>&) const noexcept {
    return true;
  }
};
template <class T>
using Column = std::vector<T, ZeroPagesAllocator<T>>;

// The allocator of arrays read at random, far beyond what the TLB maps in 4 KiB pages (a block
// of k vectors gathered along every edge: k·8 bytes per vertex): 2 MiB-aligned memory marked
// for transparent huge pages (madvise; Linux's default "madvise" mode then backs it with 2 MiB
// pages), so a gather misses the TLB 512 times less often. Small arrays take plain malloc.
// Like a Column, a resize constructs nothing: every element is written before it is read, in
// the user's parallel loops, so each page is faulted in (and zeroed by the kernel) by the
// thread that first writes it, not by one thread's serial memset beforehand.
void* allocate_huge_pages(std::size_t bytes);
template <class T>
struct HugePagesAllocator {
  static_assert(std::is_trivial_v<T>, "elements are left unconstructed until written");
  using value_type = T;
  HugePagesAllocator() = default;
  template <class U>
  HugePagesAllocator(const HugePagesAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_huge_pages(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <class U>
  void construct(U*) noexcept {}  // default-initialization: written before read
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const HugePagesAllocator<U>&) const noexcept {
    return true;
  }
};
template <class T>
using HugeVector = std::vector<T, HugePagesAllocator<T>>;

// A rank's edges as read, stored by column: 16 bytes per edge for (src, dst) (8 packed, below),
// and 8 more for a weight only once some edge has a weight other than 1 (most graphs never do). The graph
// build rewrites the ids to dense ids in place, so the edges are never copied whole.
// Readers ask for a packed list (EdgeList::packed_ids()): one column of (src << 32) | dst while
// every id is below 2^32, 8 bytes per edge instead of 16. The first larger id widens it, once,
// into the two columns (set and push_back do that themselves; code that writes keys() checks
// fits() and calls widen()). src() and dst() are the columns of a wide list only; keys() is
// the packed column. Element access hands out RawEdge values in either form.
class EdgeList {
 public:
  EdgeList() = default;
  EdgeList(std::initializer_list<RawEdge> edges) {
    reserve(edges.size());
    for (const RawEdge& e : edges) push_back(e);
  }
  // An empty list that stores its ids packed until an id needs 64 bits.
  static EdgeList packed_ids() {
    EdgeList list;
    list.packed_ = true;
    return list;
  }
  static bool fits(VertexId src, VertexId dst) { return ((src | dst) >> 32) == 0; }
  static std::uint64_t key(VertexId src, VertexId dst) { return src << 32 | dst; }

  std::size_t size() const { return src_.size(); }
  bool empty() const { return src_.empty(); }
  bool packed() const { return packed_; }
  bool has_weights() const { return !weight_.empty(); }
  double weight(std::size_t i) const { return weight_.empty() ? 1.0 : weight_[i]; }
  RawEdge operator[](std::size_t i) const {
    return packed_ ? RawEdge{src_[i] >> 32, src_[i] & 0xffffffffu, weight(i)} : RawEdge{src_[i], dst_[i], weight(i)};
  }

  // Room a reader of a rank's share of n edges reserves for what the distributed graph build
  // brings in beyond what it sends away (it receives into the list itself: Refill in
  // src/graph/exchange.hpp; shares are rarely off by more than a few percent). Memory never
  // written costs address space, not resident memory.
  static std::size_t exchange_room(std::size_t n) { return n + n / 16; }

  void reserve(std::size_t n) {
    src_.reserve(n);
    if (!packed_) dst_.reserve(n);
    if (has_weights()) weight_.reserve(n);
  }
  // Grows or shrinks to n edges whose ids the caller writes next, every one (a reader): new
  // ids are left as they are (weights are 1). Unlike resize, never zeroes: after a reserve,
  // resize zeroes the whole list in one thread, the first touch of all its pages.
  void resize_for_overwrite(std::size_t n) {
    src_.resize(n);
    if (!packed_) dst_.resize(n);
    if (has_weights()) weight_.resize(n, 1.0);
  }
  // Grows or shrinks to n edges; new edges are (0, 0, 1).
  void resize(std::size_t n) {
    grow_zeroed(src_, n);
    if (!packed_) grow_zeroed(dst_, n);
    if (has_weights()) weight_.resize(n, 1.0);
  }
  void set(std::size_t i, const RawEdge& e) {
    if (packed_ && !fits(e.src, e.dst)) widen();
    if (packed_) {
      src_[i] = key(e.src, e.dst);
    } else {
      src_[i] = e.src, dst_[i] = e.dst;
    }
    set_weight(i, e.weight);
  }
  void set_weight(std::size_t i, double w) {
    if (w != 1.0 && weight_.empty()) weight_.assign(size(), 1.0);
    if (!weight_.empty()) weight_[i] = w;
  }
  void push_back(const RawEdge& e) {
    if (packed_ && !fits(e.src, e.dst)) widen();
    if (packed_) {
      src_.push_back(key(e.src, e.dst));
    } else {
      src_.push_back(e.src), dst_.push_back(e.dst);
    }
    if (!weight_.empty()) {
      weight_.push_back(e.weight);
    } else if (e.weight != 1.0) {
      weight_.assign(size() - 1, 1.0);
      weight_.push_back(e.weight);
    }
  }
  // Unpacks into two columns (keeps the edges; a wide list is left as it is).
  void widen() {
    if (!packed_) return;
    packed_ = false;
    dst_.resize(src_.size());
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < src_.size(); ++i) {
      dst_[i] = src_[i] & 0xffffffffu;
      src_[i] >>= 32;
    }
  }
  // Packs a wide list whose ids all fit in 32 bits (the caller knows it, e.g. dense ids of
  // fewer than 2^32 vertices), freeing the dst column.
  void pack() {
    if (packed_) return;
    packed_ = true;
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < src_.size(); ++i) src_[i] = key(src_[i], dst_[i]);
    Column<VertexId>().swap(dst_);
  }
  // Keeps the edges for which keep(edge) is true, in order; returns how many were removed.
  template <class Keep>
  std::size_t keep_if(Keep keep) {
    std::size_t out = 0;
    for (std::size_t i = 0; i < size(); ++i) {
      if (!keep((*this)[i])) continue;
      src_[out] = src_[i];
      if (!packed_) dst_[out] = dst_[i];
      if (has_weights()) weight_[out] = weight_[i];
      ++out;
    }
    const std::size_t removed = size() - out;
    src_.resize(out);
    if (!packed_) dst_.resize(out);
    if (has_weights()) weight_.resize(out);
    return removed;
  }
  // Gives the list its weight column (all 1 until set).
  void ensure_weights() {
    if (weight_.empty()) weight_.assign(size(), 1.0);
  }
  // Drops every weight (all become 1) and frees their column.
  void clear_weights() { Column<double>().swap(weight_); }
  // Frees everything.
  void release() {
    Column<VertexId>().swap(src_), Column<VertexId>().swap(dst_);
    clear_weights();
  }
  std::vector<RawEdge> records() const {
    std::vector<RawEdge> out(size());
    for (std::size_t i = 0; i < size(); ++i) out[i] = (*this)[i];
    return out;
  }

  Column<VertexId>& src() { return wide(src_); }
  Column<VertexId>& dst() { return wide(dst_); }
  Column<std::uint64_t>& keys() { return packed_column(); }
  Column<double>& weights() { return weight_; }  // empty, or one per edge
  const Column<VertexId>& src() const { return wide(src_); }
  const Column<VertexId>& dst() const { return wide(dst_); }
  const Column<std::uint64_t>& keys() const { return packed_column(); }
  const Column<double>& weights() const { return weight_; }

  // Iteration by value (RawEdge).
  class const_iterator {
   public:
    using value_type = RawEdge;
    using difference_type = std::ptrdiff_t;
    const_iterator(const EdgeList* list, std::size_t i) : list_(list), i_(i) {}
    RawEdge operator*() const { return (*list_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }

   private:
    const EdgeList* list_;
    std::size_t i_;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size()}; }

 private:
  template <class Column>
  Column& wide(Column& column) const {
    if (packed_) throw std::logic_error("EdgeList: src()/dst() of a packed list (use keys() or widen())");
    return column;
  }
  Column<std::uint64_t>& packed_column() {
    if (!packed_) throw std::logic_error("EdgeList: keys() of a wide list");
    return src_;
  }
  const Column<std::uint64_t>& packed_column() const {
    if (!packed_) throw std::logic_error("EdgeList: keys() of a wide list");
    return src_;
  }
  // resize(n) whose new elements are 0 also where they reuse capacity (no fresh calloc zeros).
  static void grow_zeroed(Column<VertexId>& column, std::size_t n) {
    const std::size_t old = column.size();
    const bool reuses = n <= column.capacity();
    column.resize(n);
    if (reuses && n > old) std::fill(column.begin() + static_cast<std::ptrdiff_t>(old), column.end(), VertexId{0});
  }

  Column<VertexId> src_, dst_;  // packed: src_ holds the keys and dst_ is empty
  Column<double> weight_;
  bool packed_ = false;
};

// What one rank holds of a graph as it arrives from a reader or generator, before any
// redistribution: the io module fills it, the graph module builds a distributed CSR from it.
struct EdgeShare {
  EdgeList edges;                                   // this rank's share, original ids
  std::vector<VertexId> declared;                   // ids a vertex file declares (this rank's share)
  bool endpoints_must_be_declared = false;          // an endpoint outside `declared` is an error
  std::string edge_source, vertex_source;           // file names for that error message
  std::optional<std::uint64_t> dense_vertex_count;  // ids already dense: [0, n) are the vertices
  bool directed = true;                             // false: every edge counts both ways
  bool weighted = false;                            // the weights were read from the input
};

}  // namespace perron
