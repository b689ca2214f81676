#pragma once
// Boost.Graph concepts for a rank's LocalCsr, so BGL's algorithms (BFS, strong components,
// ...) run on it without a copy. The CSR stores in-edges, so the graph BGL sees is the
// transpose of the local subgraph: out_edges(v) are the arcs v → u for every edge u → v of
// the input. Vertices are the CSR's columns (owned vertices, then ghosts); ghosts have no
// out-edges here because their rows live on other ranks. Transposition keeps what most
// structural algorithms compute (strong and weak components, distances on the transpose).
#include <boost/graph/graph_concepts.hpp>
#include <boost/graph/graph_traits.hpp>
#include <boost/graph/properties.hpp>
#include <boost/iterator/counting_iterator.hpp>
#include <boost/iterator/iterator_facade.hpp>
#include <boost/property_map/property_map.hpp>

#include <utility>

#include "perron/graph/dist_graph.hpp"

namespace perron {

// A non-owning view of a LocalCsr as a Boost.Graph IncidenceGraph, AdjacencyGraph and
// VertexListGraph.
struct CsrGraphView {
  const LocalCsr* csr;
};

struct CsrEdge {
  LocalId source;
  EdgeIndex index;  // position in csr.column
  friend bool operator==(const CsrEdge& a, const CsrEdge& b) { return a.index == b.index && a.source == b.source; }
  friend bool operator!=(const CsrEdge& a, const CsrEdge& b) { return !(a == b); }
};

class CsrOutEdgeIterator : public boost::iterator_facade<CsrOutEdgeIterator, CsrEdge, std::random_access_iterator_tag, CsrEdge> {
 public:
  CsrOutEdgeIterator() = default;
  CsrOutEdgeIterator(LocalId source, EdgeIndex index) : source_(source), index_(index) {}

 private:
  friend class boost::iterator_core_access;
  CsrEdge dereference() const { return {source_, index_}; }
  bool equal(const CsrOutEdgeIterator& o) const { return index_ == o.index_; }
  void increment() { ++index_; }
  void decrement() { --index_; }
  void advance(std::ptrdiff_t n) { index_ = static_cast<EdgeIndex>(static_cast<std::ptrdiff_t>(index_) + n); }
  std::ptrdiff_t distance_to(const CsrOutEdgeIterator& o) const {
    return static_cast<std::ptrdiff_t>(o.index_) - static_cast<std::ptrdiff_t>(index_);
  }
  LocalId source_ = 0;
  EdgeIndex index_ = 0;
};

using CsrVertexIterator = boost::counting_iterator<LocalId>;
using CsrAdjacencyIterator = decltype(LocalCsr::column)::const_iterator;

struct CsrTraversalTag : boost::incidence_graph_tag, boost::adjacency_graph_tag, boost::vertex_list_graph_tag {};

inline std::pair<EdgeIndex, EdgeIndex> row_range(LocalId v, const CsrGraphView& g) {
  if (v >= g.csr->rows) return {0, 0};  // ghosts: no row here
  return {g.csr->row_start[v], g.csr->row_start[v + 1]};
}

inline std::pair<CsrVertexIterator, CsrVertexIterator> vertices(const CsrGraphView& g) {
  return {CsrVertexIterator(0), CsrVertexIterator(g.csr->columns)};
}
inline LocalId num_vertices(const CsrGraphView& g) { return g.csr->columns; }
inline std::pair<CsrOutEdgeIterator, CsrOutEdgeIterator> out_edges(LocalId v, const CsrGraphView& g) {
  const auto [b, e] = row_range(v, g);
  return {CsrOutEdgeIterator(v, b), CsrOutEdgeIterator(v, e)};
}
inline EdgeIndex out_degree(LocalId v, const CsrGraphView& g) {
  const auto [b, e] = row_range(v, g);
  return e - b;
}
inline LocalId source(const CsrEdge& e, const CsrGraphView&) { return e.source; }
inline LocalId target(const CsrEdge& e, const CsrGraphView& g) { return g.csr->column[e.index]; }
inline std::pair<CsrAdjacencyIterator, CsrAdjacencyIterator> adjacent_vertices(LocalId v, const CsrGraphView& g) {
  const auto [b, e] = row_range(v, g);
  const auto begin = g.csr->column.begin();
  return {begin + static_cast<std::ptrdiff_t>(b), begin + static_cast<std::ptrdiff_t>(e)};
}
inline boost::typed_identity_property_map<LocalId> get(boost::vertex_index_t, const CsrGraphView&) { return {}; }

}  // namespace perron

namespace boost {

template <>
struct graph_traits<perron::CsrGraphView> {
  using vertex_descriptor = perron::LocalId;
  using edge_descriptor = perron::CsrEdge;
  using directed_category = directed_tag;
  using edge_parallel_category = disallow_parallel_edge_tag;
  using traversal_category = perron::CsrTraversalTag;
  using vertices_size_type = perron::LocalId;
  using edges_size_type = perron::EdgeIndex;
  using degree_size_type = perron::EdgeIndex;
  using out_edge_iterator = perron::CsrOutEdgeIterator;
  using adjacency_iterator = perron::CsrAdjacencyIterator;
  using vertex_iterator = perron::CsrVertexIterator;
  using in_edge_iterator = void;
  using edge_iterator = void;
  static vertex_descriptor null_vertex() { return ~perron::LocalId{0}; }
};

template <>
struct property_map<perron::CsrGraphView, vertex_index_t> {
  using type = typed_identity_property_map<perron::LocalId>;
  using const_type = type;
};

}  // namespace boost
