#pragma once
// Parallel HDF5 over the C API, in the shape of HighFive: a file opened with MPI-IO and
// collective metadata, every rank writing its slice of a dataset with a collective transfer,
// HDF5 errors turned into perron errors naming the file and object. This is the only module
// that includes hdf5.h.
//
// Every call here is collective: all ranks create the same objects and attributes with the
// same values, in the same order (HDF5's rule for parallel metadata).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"

namespace perron {

class H5Writer {
 public:
  // Creates (truncates) `path` for parallel writing.
  H5Writer(const std::string& path, const Comm& comm);
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  void create_group(const std::string& path);

  // 1-D dataset of `global_size` elements; this rank's `local` goes at `offset`. With
  // `compress`, the dataset is chunked (collective transfers make filters legal in parallel):
  // integers with HDF5's scale-offset filter, each chunk's values stored as value − minimum in
  // as few bits as its range needs (lossless, and decoded ten times faster than deflate);
  // floats shuffled and deflated.
  template <class T>
  void write_distributed(const std::string& path, std::span<const T> local, std::uint64_t offset, std::uint64_t global_size,
                         bool compress = false) {
    write_raw(path, local.data(), local.size(), offset, global_size, elem_type<T>(), compress);
  }
  // N-D dataset of shape `dims`; this rank writes the regular block at `start` of shape
  // `count` (row-major in `local`), every rank in one collective transfer.
  template <class T>
  void write_block(const std::string& path, const std::vector<std::uint64_t>& dims, const std::vector<std::uint64_t>& start,
                   const std::vector<std::uint64_t>& count, std::span<const T> local) {
    write_blocks_raw(path, dims, {start}, {count}, local.data(), elem_type<T>());
  }
  // The same with several disjoint blocks per rank; `local` holds their union in the file's
  // row-major order (for blocks that differ in one dimension: element by element, in order).
  template <class T>
  void write_blocks(const std::string& path, const std::vector<std::uint64_t>& dims,
                    const std::vector<std::vector<std::uint64_t>>& starts, const std::vector<std::vector<std::uint64_t>>& counts,
                    std::span<const T> local) {
    write_blocks_raw(path, dims, starts, counts, local.data(), elem_type<T>());
  }

  // A matrix written block by block as a computation produces it (a batch of vectors, a few
  // rows at a time): create_matrix makes the rows × columns dataset, chunked by row (one row
  // and up to 1 Mi columns per chunk, so a reader of one row touches only its chunks);
  // write_matrix_blocks writes this rank's blocks into it, each {row, column} of shape
  // {rows, columns}, their union in `local` in the file's row-major order (blocks of the same
  // rows side by side: row by row, block after block), every rank in one collective transfer
  // (a rank with nothing passes no blocks).
  template <class T>
  void create_matrix(const std::string& path, std::uint64_t rows, std::uint64_t columns) {
    create_matrix_raw(path, rows, columns, elem_type<T>());
  }
  template <class T>
  void write_matrix_blocks(const std::string& path, const std::vector<std::vector<std::uint64_t>>& starts,
                           const std::vector<std::vector<std::uint64_t>>& counts, std::span<const T> local) {
    write_matrix_blocks_raw(path, starts, counts, local.data(), elem_type<T>());
  }

  // 1-D dataset whose contents every rank holds identically; rank 0 writes it.
  template <class T>
  void write_replicated(const std::string& path, std::span<const T> data) {
    const bool root = comm_.is_root();
    write_raw(path, data.data(), root ? data.size() : 0, 0, data.size(), elem_type<T>());
  }

  // A 1-D dataset of UTF-8 strings of fixed length (the longest one's: parallel HDF5 writes no
  // variable-length data; h5py reads them with .asstr()). Collective; every rank passes the
  // same strings and rank 0 writes them.
  void write_strings(const std::string& path, const std::vector<std::string>& values);
  void set_attribute(const std::string& object, const std::string& name, double value);
  void set_attribute(const std::string& object, const std::string& name, std::int64_t value);
  void set_attribute(const std::string& object, const std::string& name, std::uint64_t value);
  void set_attribute(const std::string& object, const std::string& name, bool value);
  void set_attribute(const std::string& object, const std::string& name, const std::string& value);
  void set_attribute(const std::string& object, const std::string& name, const char* value) {
    set_attribute(object, name, std::string(value));
  }

  // Flushes and closes; throws if HDF5 reports a failure. The destructor closes silently.
  void close();

 private:
  void write_raw(const std::string& path, const void* data, std::size_t count, std::uint64_t offset, std::uint64_t global_size,
                 ElemType type, bool compress = false);
  void attribute_raw(const std::string& object, const std::string& name, const void* value, ElemType type);
  void write_blocks_raw(const std::string& path, const std::vector<std::uint64_t>& dims,
                        const std::vector<std::vector<std::uint64_t>>& starts,
                        const std::vector<std::vector<std::uint64_t>>& counts, const void* data, ElemType type);

  void create_matrix_raw(const std::string& path, std::uint64_t rows, std::uint64_t columns, ElemType type);
  void write_matrix_blocks_raw(const std::string& path, const std::vector<std::vector<std::uint64_t>>& starts,
                               const std::vector<std::vector<std::uint64_t>>& counts, const void* data, ElemType type);
  void write_selected_blocks(const std::string& path, std::int64_t dset, std::int64_t file_space,
                             const std::vector<std::vector<std::uint64_t>>& starts,
                             const std::vector<std::vector<std::uint64_t>>& counts, std::size_t rank, const void* data,
                             ElemType type);
  void reserve(std::uint64_t bytes);
  void write_selection(const std::string& path, std::int64_t dset, ElemType type, std::int64_t mem_space, std::int64_t file_space,
                       const void* data, bool selected);

  std::string path_;
  Comm comm_;
  std::int64_t file_ = -1;      // hid_t
  std::uint64_t reserved_ = 0;  // bytes of disk reserved for the file so far
};

namespace detail {
struct ChunkBuffers;
}

// Reading by one rank, each rank its own slices (no MPI-IO). Slices of 1-D chunked datasets
// whose filters perron knows (none, shuffle, deflate, integer scale-offset) are read and
// decoded on every OpenMP thread; anything else goes through H5Dread.
class H5Reader {
 public:
  enum class ChunkDecoding { parallel, library };  // library: always H5Dread (tests compare the two)
  explicit H5Reader(const std::string& path, ChunkDecoding decoding = ChunkDecoding::parallel);
  ~H5Reader();
  H5Reader(const H5Reader&) = delete;
  H5Reader& operator=(const H5Reader&) = delete;

  bool exists(const std::string& object) const;
  bool has_attribute(const std::string& object, const std::string& name) const;

  // Shape and element class of a dataset.
  struct DatasetInfo {
    std::vector<std::uint64_t> dims;
    bool is_integer = false;
    bool is_signed = false;
    bool is_float = false;
  };
  DatasetInfo info(const std::string& dataset) const;
  // A whole N-D dataset of numbers (any integer or float type, float16 included, or a boolean
  // enum as 0/1), converted to float32, row-major, with its dimensions.
  struct FloatArray {
    std::vector<std::uint64_t> dims;
    std::vector<float> values;
  };
  FloatArray read_float_array(const std::string& dataset) const;
  // The regular block at `start` of shape `count` of an N-D number dataset, as float32.
  std::vector<float> read_float_block(const std::string& dataset, const std::vector<std::uint64_t>& start,
                                      const std::vector<std::uint64_t>& count) const;
  // The same block as float64, so that float64 datasets keep their precision.
  std::vector<double> read_double_block(const std::string& dataset, const std::vector<std::uint64_t>& start,
                                        const std::vector<std::uint64_t>& count) const;

  // Elements [offset, offset + count) of a 1-D dataset, converted to the element type.
  template <class T>
  std::vector<T> read_slice(const std::string& dataset, std::uint64_t offset, std::uint64_t count) const {
    std::vector<T> out(count);
    read_slice_raw(dataset, out.data(), offset, count, elem_type<T>());
    return out;
  }
  // The same into the caller's buffer (out.size() elements), which a loop reuses.
  template <class T>
  void read_slice_into(const std::string& dataset, std::uint64_t offset, std::span<T> out) const {
    read_slice_raw(dataset, out.data(), offset, out.size(), elem_type<T>());
  }
  // Whether read_slice<T> of this dataset decodes its chunks on every thread.
  template <class T>
  bool decodes_in_parallel(const std::string& dataset) const {
    return decodes_in_parallel(dataset, elem_type<T>());
  }
  std::vector<double> read_doubles(const std::string& dataset) const;
  // Every string of a string dataset (variable or fixed length, any number of dimensions),
  // row-major, with its dimensions; an input error naming the dataset if it holds no strings.
  struct StringArray {
    std::vector<std::uint64_t> dims;
    std::vector<std::string> values;
  };
  StringArray read_strings(const std::string& dataset) const;
  std::vector<std::uint64_t> read_uint64(const std::string& dataset) const;
  // Every element of a dataset of any rank, row-major (e.g. a [k, K] table of ids).
  std::vector<std::uint64_t> read_uint64_all(const std::string& dataset) const;
  double attribute_double(const std::string& object, const std::string& name) const;
  std::int64_t attribute_int(const std::string& object, const std::string& name) const;
  std::uint64_t attribute_uint(const std::string& object, const std::string& name) const;
  std::string attribute_string(const std::string& object, const std::string& name) const;

  // Every scalar attribute of an object, in name order, for inspection.
  struct Attribute {
    enum class Kind { integer, unsigned_integer, real, text, other } kind = Kind::other;
    std::string name;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    double d = 0.0;
    std::string s;
  };
  std::vector<Attribute> attributes(const std::string& object) const;

 private:
  void read_raw(const std::string& dataset, void* out, std::size_t count, ElemType type) const;
  void read_slice_raw(const std::string& dataset, void* out, std::uint64_t offset, std::uint64_t count, ElemType type) const;
  // A regular N-D block as float32 or float64 (boolean enums as 0/1); `out` holds Π count values.
  void read_block_raw(const std::string& dataset, const std::vector<std::uint64_t>& start,
                      const std::vector<std::uint64_t>& count, void* out, bool as_double) const;
  void read_scalar_attribute(const std::string& object, const std::string& name, void* out, std::int64_t mem_type) const;
  std::size_t extent(const std::string& dataset) const;
  bool decodes_in_parallel(const std::string& dataset, ElemType type) const;

  std::string path_;
  ChunkDecoding decoding_;
  std::int64_t file_ = -1;
  // Each thread's chunk buffers, kept from one slice to the next (hdf5_file.cpp).
  mutable std::unique_ptr<std::vector<detail::ChunkBuffers>> chunk_buffers_;
};

}  // namespace perron
