#pragma once
// The named values of every option that picks one of a few choices: one {name, value} table
// per enum. The flag's validator, the config file's reader (through the flag), the effective
// config, the HDF5 attributes and the printed summaries all take their names from it, so a
// name cannot be spelled two ways.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "perron/algo/attention.hpp"
#include "perron/algo/pagerank.hpp"
#include "perron/algo/tokenrank.hpp"
#include "perron/core/error.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron {

template <class E>
struct Choice {
  std::string_view name;
  E value;
};
template <class E>
using ChoiceTable = std::span<const Choice<E>>;

template <class E>
std::string name_of(ChoiceTable<E> table, E value) {
  for (const Choice<E>& c : table)
    if (c.value == value) return std::string(c.name);
  throw Error(ErrorKind::internal, "a choice without a name");
}

// The value named `name`; the flag's validator (names_of) has refused every other name.
template <class E>
E value_of(ChoiceTable<E> table, std::string_view name) {
  for (const Choice<E>& c : table)
    if (c.name == name) return c.value;
  throw Error(ErrorKind::internal, "no choice named '" + std::string(name) + "'");
}

template <class E>
std::vector<std::string> names_of(ChoiceTable<E> table) {
  std::vector<std::string> names;
  for (const Choice<E>& c : table) names.emplace_back(c.name);
  return names;
}

// How a PageRank run reads its parameters: perron's defaults, or LDBC Graphalytics' (damping
// and a fixed number of iterations from the .properties file).
enum class Convention { perron, graphalytics };

// What `perron convert` writes: an HDF5 edge list, or a prepared graph.
enum class ConvertTarget { edges, graph };

inline constexpr Choice<ConvertTarget> kConvertTargets[] = {{"edges", ConvertTarget::edges}, {"graph", ConvertTarget::graph}};
inline constexpr Choice<PageRankSolver> kPageRankSolvers[] = {{"auto", PageRankSolver::automatic},
                                                              {"power", PageRankSolver::power},
                                                              {"anderson", PageRankSolver::anderson},
                                                              {"cg", PageRankSolver::cg},
                                                              {"bicgstab", PageRankSolver::bicgstab}};
inline constexpr Choice<PageRankKernel> kPageRankKernels[] = {
    {"auto", PageRankKernel::automatic}, {"csr", PageRankKernel::csr}, {"blocked", PageRankKernel::blocked}};
inline constexpr Choice<HaloRouting> kHaloRoutings[] = {
    {"auto", HaloRouting::automatic}, {"direct", HaloRouting::direct}, {"two-level", HaloRouting::two_level}};
inline constexpr Choice<Convention> kConventions[] = {{"default", Convention::perron},
                                                      {"graphalytics", Convention::graphalytics}};
inline constexpr Choice<TileKernel> kTileKernels[] = {
    {"auto", TileKernel::automatic}, {"blas", TileKernel::blas}, {"avx512", TileKernel::avx512}};
inline constexpr Choice<Precision> kPrecisions[] = {{"single", Precision::single}, {"double", Precision::double_precision}};
inline constexpr Choice<TokenRankSolver> kTokenRankSolvers[] = {
    {"auto", TokenRankSolver::automatic}, {"power", TokenRankSolver::power}, {"triangular", TokenRankSolver::triangular}};

}  // namespace perron
