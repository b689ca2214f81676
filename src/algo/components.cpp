#include "perron/algo/components.hpp"

#include <algorithm>
#include <map>

namespace perron {
namespace {

using Label = std::uint64_t;

bool any(bool local, const Comm& comm) { return comm.allreduce<int>(local ? 1 : 0, ReduceOp::max) != 0; }

// Weak components: labels become the smallest id in the vertex's weak component.
std::vector<Label> weak_labels(const DistGraph& g, const Comm& comm, int& rounds) {
  const LocalId rows = g.rows();
  const LocalCsr& csr = g.in;
  std::vector<Label> label(rows), ghost(g.ghost_ids.size());
  for (LocalId v = 0; v < rows; ++v) label[v] = g.first + v;
  auto label_of = [&](LocalId c) { return c < rows ? label[c] : ghost[c - rows]; };
  for (rounds = 1;; ++rounds) {
    g.halo.gather<Label>(label, ghost, comm);
    std::vector<Label> ghost_min(ghost);
    bool changed = false;
    for (LocalId v = 0; v < rows; ++v) {
      Label best = label[v];
      for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) best = std::min(best, label_of(csr.column[e]));
      for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {  // the reverse direction
        const LocalId c = csr.column[e];
        if (c < rows) {
          if (best < label[c]) label[c] = best, changed = true;
        } else {
          ghost_min[c - rows] = std::min(ghost_min[c - rows], best);
        }
      }
      if (best < label[v]) label[v] = best, changed = true;
    }
    std::vector<Label> before(label);
    g.halo.scatter_reduce<Label>(
        ghost_min, label, [](Label a, Label b) { return std::min(a, b); }, comm);
    changed = changed || before != label;
    if (!any(changed, comm)) return label;
  }
}

// Strong components by trimming and forward–backward coloring.
std::uint64_t strong_count(const DistGraph& g, const Comm& comm, int& rounds) {
  const LocalId rows = g.rows();
  const LocalCsr& csr = g.in;
  const std::size_t ghosts = g.ghost_ids.size();
  std::vector<std::uint8_t> active(rows, 1), ghost_active(ghosts);
  std::uint64_t found = 0;
  rounds = 0;
  auto is_active = [&](LocalId c) { return c < rows ? active[c] != 0 : ghost_active[c - rows] != 0; };
  auto max_op = [](std::uint64_t a, std::uint64_t b) { return std::max(a, b); };
  while (true) {
    ++rounds;
    // Trim: an active vertex with no active in-neighbour or no active out-neighbour (self-loops
    // do not count) is a component by itself.
    for (bool trimmed = true; trimmed;) {
      g.halo.gather<std::uint8_t>(active, ghost_active, comm);
      std::vector<std::uint64_t> has_out(rows, 0), ghost_has_out(ghosts, 0);
      std::vector<std::uint8_t> has_in(rows, 0);
      for (LocalId v = 0; v < rows; ++v) {
        if (!active[v]) continue;
        for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {
          const LocalId c = csr.column[e];
          if (c == v || !is_active(c)) continue;
          has_in[v] = 1;
          if (c < rows)
            has_out[c] = 1;
          else
            ghost_has_out[c - rows] = 1;
        }
      }
      g.halo.scatter_reduce<std::uint64_t>(ghost_has_out, has_out, max_op, comm);
      std::uint64_t removed = 0;
      for (LocalId v = 0; v < rows; ++v)
        if (active[v] && (!has_in[v] || !has_out[v])) active[v] = 0, ++removed;
      found += comm.allreduce(removed, ReduceOp::sum);
      trimmed = any(removed > 0, comm);
    }
    if (!any(std::find(active.begin(), active.end(), 1) != active.end(), comm)) return found;
    g.halo.gather<std::uint8_t>(active, ghost_active, comm);

    // Forward: color(v) = the largest active id that reaches v through active vertices.
    std::vector<std::uint64_t> color(rows, 0), ghost_color(ghosts, 0);
    for (LocalId v = 0; v < rows; ++v) color[v] = active[v] ? g.first + v : 0;
    for (bool changed = true; changed;) {
      g.halo.gather<std::uint64_t>(color, ghost_color, comm);
      bool local = false;
      for (LocalId v = 0; v < rows; ++v) {
        if (!active[v]) continue;
        for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {
          const LocalId c = csr.column[e];
          if (!is_active(c)) continue;
          const std::uint64_t cu = c < rows ? color[c] : ghost_color[c - rows];
          if (cu > color[v]) color[v] = cu, local = true;
        }
      }
      changed = any(local, comm);
    }
    g.halo.gather<std::uint64_t>(color, ghost_color, comm);

    // Backward from each root inside its color: mark(u) if u → v, mark(v), same color.
    std::vector<std::uint64_t> mark(rows, 0), ghost_mark(ghosts, 0);
    std::uint64_t roots = 0;
    for (LocalId v = 0; v < rows; ++v)
      if (active[v] && color[v] == g.first + v) mark[v] = 1, ++roots;
    found += comm.allreduce(roots, ReduceOp::sum);
    for (bool changed = true; changed;) {
      std::vector<std::uint64_t> before(mark);
      std::fill(ghost_mark.begin(), ghost_mark.end(), 0);
      for (LocalId v = 0; v < rows; ++v) {
        if (!mark[v]) continue;
        for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {
          const LocalId c = csr.column[e];
          if (!is_active(c)) continue;
          if (c < rows) {
            if (color[c] == color[v]) mark[c] = 1;
          } else if (ghost_color[c - rows] == color[v]) {
            ghost_mark[c - rows] = 1;
          }
        }
      }
      g.halo.scatter_reduce<std::uint64_t>(ghost_mark, mark, max_op, comm);
      changed = any(before != mark, comm);
    }
    for (LocalId v = 0; v < rows; ++v)
      if (mark[v]) active[v] = 0;
  }
}

}  // namespace

ComponentCounts count_components(const DistGraph& g, const Comm& comm) {
  ComponentCounts out;
  const std::vector<Label> label = weak_labels(g, comm, out.weak_rounds);
  std::uint64_t roots = 0;
  std::map<Label, std::uint64_t> sizes;
  for (LocalId v = 0; v < g.rows(); ++v) {
    roots += label[v] == g.first + v ? 1 : 0;
    ++sizes[label[v]];
  }
  out.weak = comm.allreduce(roots, ReduceOp::sum);
  // Component sizes: every rank sends its (label, count) pairs to the label's owner.
  struct LabelCount {
    Label label;
    std::uint64_t count;
  };
  std::vector<LabelCount> pairs;
  for (const auto& [l, c] : sizes) pairs.push_back({l, c});
  const Buckets<LabelCount> b =
      bucket_by_owner<LabelCount>(pairs, comm.size(), [&](const LabelCount& p) { return g.partition.owner(p.label); });
  const auto mine = comm.alltoallv<LabelCount>(b.send, b.counts);
  std::map<Label, std::uint64_t> total;
  for (const auto& p : mine) total[p.label] += p.count;
  std::uint64_t largest = 0;
  for (const auto& [l, c] : total) largest = std::max(largest, c);
  out.largest_weak = comm.allreduce(largest, ReduceOp::max);
  out.strong = strong_count(g, comm, out.strong_rounds);
  return out;
}

}  // namespace perron
