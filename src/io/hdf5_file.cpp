#include "perron/io/hdf5_file.hpp"

#include <hdf5.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "chunk_filters.hpp"
#include "perron/comm/native.hpp"
#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/memory.hpp"
#include "posix_file.hpp"

namespace perron {
namespace {

// An HDF5 identifier closed by its own close function on scope exit.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Hid() {
    if (id_ >= 0) closer_(id_);
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer closer_;
};

hid_t native_type(ElemType t) {
  switch (t.kind) {
    case ElemKind::i32:
      return H5T_NATIVE_INT32;
    case ElemKind::u32:
      return H5T_NATIVE_UINT32;
    case ElemKind::i64:
      return H5T_NATIVE_INT64;
    case ElemKind::u64:
      return H5T_NATIVE_UINT64;
    case ElemKind::f32:
      return H5T_NATIVE_FLOAT;
    case ElemKind::f64:
      return H5T_NATIVE_DOUBLE;
    case ElemKind::bytes:
      break;
  }
  throw Error(ErrorKind::internal, "HDF5: no native type for a byte record");
}

// HDF5's error stack, innermost first (the cause, then what it broke), as " (HDF5: ...)" for
// a message; empty when HDF5 recorded nothing. Clears the stack.
herr_t collect_error(unsigned depth, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (depth >= 3) return 0;
  if (!out->empty()) *out += "; ";
  *out += std::string(e->func_name ? e->func_name : "?") + ": " + (e->desc ? e->desc : "");
  return 0;
}
std::string error_stack() {
  std::string out;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &out);
  H5Eclear2(H5E_DEFAULT);
  return out.empty() ? std::string() : " (HDF5: " + out + ")";
}

// HDF5 prints its own error stack by default; perron reports errors itself.
void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// For a scope whose HDF5 calls may fail by design (a probe: does this link exist, can this
// chunk be decoded here?): what they push on HDF5's error stack is cleared on leaving, so a
// later error's message does not carry their stale account.
struct ToleratedErrors {
  ToleratedErrors() = default;
  ToleratedErrors(const ToleratedErrors&) = delete;
  ToleratedErrors& operator=(const ToleratedErrors&) = delete;
  ~ToleratedErrors() { H5Eclear2(H5E_DEFAULT); }
};

// Bytes reserved for metadata when a file is created: object headers, attributes (the
// provenance config among them), chunk indices. Generous: unused reservation is given back.
constexpr std::uint64_t kMetadataReserve = std::uint64_t{512} << 10;

// What a dataset of `elements` × `elem_size` bytes may take on disk: compressed chunks can
// exceed the raw size slightly (deflate's stored blocks, scale-offset's header).
std::uint64_t dataset_reserve(std::uint64_t elements, std::size_t elem_size) {
  const std::uint64_t raw = elements * elem_size;
  return raw + raw / 64 + 4096;
}

// Every HDF5 call's result is checked through these; the message gains HDF5's own account.
void require(bool ok, ErrorKind kind, const std::string& message) {
  if (!ok) throw Error(kind, message + error_stack());
}

// Parallel writes: a failure on any rank becomes the same error on every rank.
void require_all(const Comm& comm, bool ok, ErrorKind kind, const std::string& message) {
  std::optional<Error> error;
  if (!ok) error = Error(kind, message + error_stack());
  comm.raise_if_any(error);
}

}  // namespace

// One thread's chunk buffers, kept by the reader from one slice to the next: reallocating them
// per slice would cost a page fault per 4 KiB, more than the decoding.
struct detail::ChunkBuffers {
  std::vector<std::byte> stored, decoded, scratch_a, scratch_b;  // a chunk as stored, decoded, and between filters
};

namespace {

// A 1-D chunked dataset whose filters perron decodes itself (chunk_filters.hpp): where each
// chunk of a slice lies in the file and how it was filtered. HDF5 answers these questions on
// the calling thread; the chunks are then read (pread) and decoded on every thread, which the
// library cannot do (the parallel build is not thread-safe and filters run on one thread).
// Chunks never written (fill values), other filters, big-endian or compound types are left
// to H5Dread.
struct ChunkedSlice {
  struct Chunk {
    std::uint64_t first = 0;  // its first element
    std::uint64_t address = 0, bytes = 0;
    unsigned skipped = 0;  // filter mask
  };
  std::vector<chunk::Filter> pipeline;
  std::uint64_t chunk_elems = 0;
  std::size_t elem_size = 0;
  H5T_class_t cls = H5T_NO_CLASS;
  bool is_signed = false;
  std::vector<Chunk> chunks;
};

// Whether the dataset's elements can be copied into `want` without HDF5's conversions:
// integers widened with their own sign, float32 widened to float64.
bool converts_simply(H5T_class_t cls, std::size_t size, bool is_signed, ElemType want) {
  if (cls == H5T_INTEGER && (size == 1 || size == 2 || size == 4 || size == 8))
    return (want.kind == ElemKind::u64 && !is_signed) || (want.kind == ElemKind::i64 && is_signed) ||
           (want.kind == ElemKind::u32 && !is_signed && size <= 4);  // 32-bit ids of a prepared graph
  if (cls == H5T_FLOAT && (size == 4 || size == 8))
    return want.kind == ElemKind::f64 || (want.kind == ElemKind::f32 && size == 4);
  return false;
}

std::optional<ChunkedSlice> plan_chunked_slice(hid_t file, hid_t dset, std::uint64_t offset, std::uint64_t count, ElemType want) {
  const ToleratedErrors probe;  // a failure here means "let H5Dread do it"
  ChunkedSlice plan;
  Hid dcpl(H5Dget_create_plist(dset), H5Pclose);
  if (!dcpl.ok() || H5Pget_layout(dcpl.get()) != H5D_CHUNKED || H5Pget_chunk(dcpl.get(), 0, nullptr) != 1) return std::nullopt;
  hsize_t chunk_dims[1] = {0};
  H5Pget_chunk(dcpl.get(), 1, chunk_dims);
  plan.chunk_elems = chunk_dims[0];
  const int nfilters = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < nfilters; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t n_cd = 32;
    unsigned cd[32];
    char name[64];
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &n_cd, cd, sizeof name, name, &config);
    if (id < 0 || n_cd > 32) return std::nullopt;
    plan.pipeline.push_back({static_cast<unsigned>(id), std::vector<unsigned>(cd, cd + n_cd)});
  }
  if (!chunk::decodable(plan.pipeline) || plan.pipeline.size() > 32) return std::nullopt;
  Hid type(H5Dget_type(dset), H5Tclose);
  plan.cls = H5Tget_class(type.get());
  plan.elem_size = H5Tget_size(type.get());
  plan.is_signed = plan.cls == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_2;
  if (H5Tget_order(type.get()) != H5T_ORDER_LE || !converts_simply(plan.cls, plan.elem_size, plan.is_signed, want))
    return std::nullopt;
  // Chunk addresses are relative to the file's base, which a user block moves.
  Hid fcpl(H5Fget_create_plist(file), H5Pclose);
  hsize_t userblock = 0;
  if (!fcpl.ok() || H5Pget_userblock(fcpl.get(), &userblock) < 0) return std::nullopt;
  for (std::uint64_t first = offset / plan.chunk_elems * plan.chunk_elems; first < offset + count; first += plan.chunk_elems) {
    const hsize_t at[1] = {first};
    unsigned mask = 0;
    haddr_t address = HADDR_UNDEF;
    hsize_t bytes = 0;
    if (H5Dget_chunk_info_by_coord(dset, at, &mask, &address, &bytes) < 0 || bytes == 0 || address == HADDR_UNDEF)
      return std::nullopt;
    plan.chunks.push_back({first, userblock + address, bytes, mask});
  }
  return plan;
}

// Elements [first, last) of a decoded chunk (the dataset's type, little-endian) into `out`
// as `want`, widening as converts_simply allows.
void copy_converted(const std::byte* chunk, std::size_t elem_size, H5T_class_t cls, bool is_signed, std::uint64_t first,
                    std::uint64_t last, void* out, ElemType want) {
  const std::size_t n = static_cast<std::size_t>(last - first);
  const std::byte* src = chunk + first * elem_size;
  auto widen = [&](auto stored_tag, auto* dst) {
    using S = typename decltype(stored_tag)::type;
    for (std::size_t i = 0; i < n; ++i) {
      S v;
      std::memcpy(&v, src + i * sizeof(S), sizeof(S));
      dst[i] = static_cast<std::remove_reference_t<decltype(*dst)>>(v);
    }
  };
  if (cls == H5T_FLOAT) {
    if (want.kind == ElemKind::f32) return (void)std::memcpy(out, src, n * 4);
    if (elem_size == 8) return (void)std::memcpy(out, src, n * 8);
    return widen(std::type_identity<float>{}, static_cast<double*>(out));
  }
  // Integers: by stored size, into int64 or uint64 by sign (sign- or zero-extended), or
  // unsigned ones of at most 32 bits into uint32.
  auto by_size = [&](auto wide_tag) {
    using W = typename decltype(wide_tag)::type;
    using S = std::make_signed_t<W>;
    using U = std::make_unsigned_t<W>;
    auto* dst = static_cast<W*>(out);
    auto as = [&](auto s_tag, auto u_tag) {
      if constexpr (std::is_signed_v<W>)
        return widen(s_tag, dst);
      else
        return widen(u_tag, dst);
    };
    switch (elem_size) {
      case 1:
        return as(std::type_identity<std::int8_t>{}, std::type_identity<std::uint8_t>{});
      case 2:
        return as(std::type_identity<std::int16_t>{}, std::type_identity<std::uint16_t>{});
      case 4:
        return as(std::type_identity<std::int32_t>{}, std::type_identity<std::uint32_t>{});
      default:
        return as(std::type_identity<S>{}, std::type_identity<U>{});
    }
  };
  if (want.kind == ElemKind::u32) return by_size(std::type_identity<std::uint32_t>{});
  if (is_signed) return by_size(std::type_identity<std::int64_t>{});
  return by_size(std::type_identity<std::uint64_t>{});
}

// Reads and decodes the chunks of `plan` on every thread, each into its part of `out`
// (elements [offset, offset + count) of the dataset). False if any chunk failed to read or
// decode: the caller then asks HDF5, which names the damage.
bool read_chunks_parallel(const std::string& path, const ChunkedSlice& plan, std::uint64_t offset, std::uint64_t count, void* out,
                          ElemType want, std::vector<detail::ChunkBuffers>& buffers) {
  std::optional<PosixFile> file;
  try {
    file.emplace(path);
  } catch (const Error&) {
    return false;
  }
  const std::size_t want_size = want.size;
  const std::size_t chunk_bytes = static_cast<std::size_t>(plan.chunk_elems) * plan.elem_size;
  const auto n_chunks = static_cast<std::ptrdiff_t>(plan.chunks.size());
  int failures = 0;
  buffers.resize(static_cast<std::size_t>(omp_get_max_threads()));
#pragma omp parallel reduction(+ : failures)
  {
    // Plain references, not a structured binding: clang (14) cannot capture one in the loop below.
    detail::ChunkBuffers& mine = buffers[static_cast<std::size_t>(omp_get_thread_num())];
    std::vector<std::byte>& stored = mine.stored;
    std::vector<std::byte>& decoded = mine.decoded;
    std::vector<std::byte>& scratch_a = mine.scratch_a;
    std::vector<std::byte>& scratch_b = mine.scratch_b;
#pragma omp for schedule(dynamic, 1)
    for (std::ptrdiff_t c = 0; c < n_chunks; ++c) {
      const ChunkedSlice::Chunk& ch = plan.chunks[static_cast<std::size_t>(c)];
      const std::uint64_t first = std::max(offset, ch.first);
      const std::uint64_t last = std::min(offset + count, ch.first + plan.chunk_elems);
      std::byte* const to = static_cast<std::byte*>(out) + (first - offset) * want_size;
      // A whole chunk of the wanted type decodes straight into `out`; others go through
      // `decoded` and are converted.
      const bool direct = plan.elem_size == want_size && first == ch.first && last == ch.first + plan.chunk_elems;
      bool ok = false;
      try {
        stored.resize(static_cast<std::size_t>(ch.bytes) + chunk::kInputSlack);
        std::fill(stored.end() - chunk::kInputSlack, stored.end(), std::byte{0});
        if (!direct) decoded.resize(chunk_bytes);
        ok = file->read_at(reinterpret_cast<char*>(stored.data()), ch.bytes, ch.address) == ch.bytes &&
             chunk::decode_chunk(plan.pipeline, ch.skipped, {stored.data(), static_cast<std::size_t>(ch.bytes)},
                                 direct ? std::span<std::byte>(to, chunk_bytes) : std::span<std::byte>(decoded), scratch_a,
                                 scratch_b);
      } catch (...) {  // a failed read, or a chunk size no buffer can hold: H5Dread then names the damage
      }
      if (!ok) {
        ++failures;
        continue;
      }
      if (!direct)
        copy_converted(decoded.data(), plan.elem_size, plan.cls, plan.is_signed, first - ch.first, last - ch.first, to, want);
    }
  }
  return failures == 0;
}

}  // namespace

H5Writer::H5Writer(const std::string& path, const Comm& comm) : path_(path), comm_(comm) {
  silence_hdf5();
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  const bool configured = fapl.ok() && H5Pset_fapl_mpio(fapl.get(), native(comm_), MPI_INFO_NULL) >= 0 &&
                          H5Pset_all_coll_metadata_ops(fapl.get(), true) >= 0 &&
                          H5Pset_coll_metadata_write(fapl.get(), true) >= 0;
  const hid_t file = configured ? H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()) : -1;
  if (!comm_.all(file >= 0)) {
    if (file >= 0) H5Fclose(file);  // opened here but not on another rank: close it before throwing
    require_all(comm_, false, ErrorKind::output,
                "cannot create HDF5 file " + path + " (missing directory, no permission, or file locked?)");
  }
  file_ = file;
  try {
    reserve(kMetadataReserve);
  } catch (const Error&) {  // the constructor throws: no destructor will close the file
    H5Fclose(file_);
    file_ = -1;
    throw;
  }
}

// Disk space for what the file will hold, reserved before HDF5 writes it. A parallel HDF5
// file whose write fails part-way cannot be closed safely: the ranks' metadata caches then
// disagree and H5Fclose deadlocks in mismatched collectives (or crashes at MPI_Finalize on one
// rank). So the bytes of each dataset, and a margin for metadata, are reserved (fallocate)
// before the dataset is created; a full disk or an exceeded quota becomes one clean error
// while the file is still consistent.
void H5Writer::reserve(std::uint64_t bytes) {
  reserved_ += bytes;
  comm_.agree([&] {
    if (comm_.is_root()) reserve_disk_space(path_, reserved_);
  });
}

H5Writer::~H5Writer() {
  if (file_ >= 0) H5Fclose(file_);
}

void H5Writer::close() {
  if (file_ < 0) return;
  const herr_t rc = H5Fclose(file_);
  file_ = -1;
  require_all(comm_, rc >= 0, ErrorKind::output, "HDF5 failed to close " + path_);
}

void H5Writer::create_group(const std::string& path) {
  Hid group(H5Gcreate2(file_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  require_all(comm_, group.ok(), ErrorKind::output, "HDF5: cannot create group " + path + " in " + path_);
}

void H5Writer::write_raw(const std::string& path, const void* data, std::size_t count, std::uint64_t offset,
                         std::uint64_t global_size, ElemType type, bool compress) {
  reserve(dataset_reserve(global_size, type.size));
  const hsize_t dims[1] = {global_size};
  Hid file_space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  bool ok = file_space.ok() && dcpl.ok();
  if (compress && global_size > 0) {
    // Chunks of at most 1 Mi elements, never larger than the dataset (HDF5's rule).
    const hsize_t chunk[1] = {std::min<hsize_t>(global_size, hsize_t{1} << 20)};
    ok = ok && H5Pset_chunk(dcpl.get(), 1, chunk) >= 0;
    if (type.kind == ElemKind::f32 || type.kind == ElemKind::f64) {
      ok = ok && H5Pset_shuffle(dcpl.get()) >= 0 && H5Pset_deflate(dcpl.get(), 4) >= 0;
    } else {
      // Every element gets written: no fill pass at allocation. (The fill value stays defined,
      // 0, as h5py expects; scale-offset reserves its all-ones code for it.)
      ok = ok && H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) >= 0 &&
           H5Pset_scaleoffset(dcpl.get(), H5Z_SO_INT, H5Z_SO_INT_MINBITS_DEFAULT) >= 0;
    }
  }
  Hid dset(ok ? H5Dcreate2(file_, path.c_str(), native_type(type), file_space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT) : -1,
           H5Dclose);
  require_all(comm_, dset.ok(), ErrorKind::output, "HDF5: cannot create dataset " + path + " in " + path_);
  if (global_size == 0) return;  // an empty dataset (e.g. no iterations): created, nothing to write
  const hsize_t local[1] = {count};
  Hid mem_space(H5Screate_simple(1, local, nullptr), H5Sclose);
  const hsize_t start[1] = {offset};
  ok = mem_space.ok() && (count == 0  // a rank with nothing to write still takes part, selecting nothing
                              ? H5Sselect_none(file_space.get()) >= 0 && H5Sselect_none(mem_space.get()) >= 0
                              : H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, local, nullptr) >= 0);
  write_selection(path, dset.get(), type, mem_space.get(), file_space.get(), data, ok);
}

void H5Writer::write_blocks_raw(const std::string& path, const std::vector<std::uint64_t>& dims,
                                const std::vector<std::vector<std::uint64_t>>& starts,
                                const std::vector<std::vector<std::uint64_t>>& counts, const void* data, ElemType type) {
  const std::vector<hsize_t> d(dims.begin(), dims.end());
  std::uint64_t total = 1;
  for (hsize_t x : d) total *= x;
  reserve(dataset_reserve(total, type.size));
  Hid file_space(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), H5Sclose);
  Hid dset(file_space.ok()
               ? H5Dcreate2(file_, path.c_str(), native_type(type), file_space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
               : -1,
           H5Dclose);
  require_all(comm_, dset.ok(), ErrorKind::output, "HDF5: cannot create dataset " + path + " in " + path_);
  if (std::find(d.begin(), d.end(), hsize_t{0}) != d.end()) return;  // empty: nothing to write
  write_selected_blocks(path, dset.get(), file_space.get(), starts, counts, d.size(), data, type);
}

void H5Writer::create_matrix_raw(const std::string& path, std::uint64_t rows, std::uint64_t columns, ElemType type) {
  reserve(dataset_reserve(rows * columns, type.size));
  const hsize_t dims[2] = {rows, columns};
  Hid file_space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  bool ok = file_space.ok() && dcpl.ok();
  if (rows > 0 && columns > 0) {
    const hsize_t chunk[2] = {1, std::min<hsize_t>(columns, hsize_t{1} << 20)};
    ok = ok && H5Pset_chunk(dcpl.get(), 2, chunk) >= 0 && H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) >= 0;
  }
  Hid dset(ok ? H5Dcreate2(file_, path.c_str(), native_type(type), file_space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT) : -1,
           H5Dclose);
  require_all(comm_, dset.ok(), ErrorKind::output, "HDF5: cannot create dataset " + path + " in " + path_);
}

void H5Writer::write_matrix_blocks_raw(const std::string& path, const std::vector<std::vector<std::uint64_t>>& starts,
                                       const std::vector<std::vector<std::uint64_t>>& counts, const void* data, ElemType type) {
  Hid dset(H5Dopen2(file_, path.c_str(), H5P_DEFAULT), H5Dclose);
  Hid file_space(dset.ok() ? H5Dget_space(dset.get()) : -1, H5Sclose);
  require_all(comm_, dset.ok() && file_space.ok(), ErrorKind::output, "HDF5: cannot open dataset " + path + " in " + path_);
  write_selected_blocks(path, dset.get(), file_space.get(), starts, counts, 2, data, type);
}

// Selects the union of the blocks in `file_space` and writes `data` (their elements in the
// file's row-major order) there, collectively; a rank with no elements selects nothing.
void H5Writer::write_selected_blocks(const std::string& path, std::int64_t dset, std::int64_t file_space,
                                     const std::vector<std::vector<std::uint64_t>>& starts,
                                     const std::vector<std::vector<std::uint64_t>>& counts, std::size_t rank, const void* data,
                                     ElemType type) {
  hsize_t elements = 0;
  bool ok = H5Sselect_none(file_space) >= 0;
  for (std::size_t b = 0; b < starts.size(); ++b) {
    const std::vector<hsize_t> st(starts[b].begin(), starts[b].end()), n(counts[b].begin(), counts[b].end());
    hsize_t block = 1;
    for (hsize_t x : n) block *= x;
    if (block == 0) continue;
    ok = ok && st.size() == rank && n.size() == rank &&
         H5Sselect_hyperslab(file_space, H5S_SELECT_OR, st.data(), nullptr, n.data(), nullptr) >= 0;
    elements += block;
  }
  const hsize_t flat[1] = {std::max<hsize_t>(elements, 1)};
  Hid mem_space(H5Screate_simple(1, flat, nullptr), H5Sclose);
  ok = ok && mem_space.ok() && (elements > 0 || H5Sselect_none(mem_space.get()) >= 0);
  write_selection(path, dset, type, mem_space.get(), file_space, data, ok);
}

// The collective write that ends write_raw and write_blocks_raw. `selected` says whether
// this rank's selections succeeded; a rank whose selection failed still takes part in the
// collective transfer (selecting nothing), so no rank is left waiting, and every rank then
// throws the same error.
void H5Writer::write_selection(const std::string& path, std::int64_t dset, ElemType type, std::int64_t mem_space,
                               std::int64_t file_space, const void* data, bool selected) {
  if (!selected) {
    H5Sselect_none(file_space);
    H5Sselect_none(mem_space);
  }
  Hid xfer(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  const bool collective = xfer.ok() && H5Pset_dxpl_mpio(xfer.get(), H5FD_MPIO_COLLECTIVE) >= 0;
  // HDF5 refuses a null buffer even when this rank selects nothing (an empty vector's data()).
  const char nothing = 0;
  const herr_t rc =
      H5Dwrite(dset, native_type(type), mem_space, file_space, collective ? xfer.get() : H5P_DEFAULT, data ? data : &nothing);
  require_all(comm_, selected && collective && rc >= 0, ErrorKind::output, "HDF5: writing " + path + " to " + path_ + " failed");
}

void H5Writer::write_strings(const std::string& path, const std::vector<std::string>& values) {
  std::size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  reserve(dataset_reserve(values.size(), width));
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  bool ok = type.ok() && H5Tset_size(type.get(), width) >= 0 && H5Tset_cset(type.get(), H5T_CSET_UTF8) >= 0 &&
            H5Tset_strpad(type.get(), H5T_STR_NULLPAD) >= 0;
  const hsize_t dims[1] = {values.size()};
  Hid file_space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  Hid dset(ok && file_space.ok()
               ? H5Dcreate2(file_, path.c_str(), type.get(), file_space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
               : -1,
           H5Dclose);
  require_all(comm_, dset.ok(), ErrorKind::output, "HDF5: cannot create dataset " + path + " in " + path_);
  if (values.empty()) return;
  std::string packed(values.size() * width, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), packed.begin() + i * width);
  Hid mem_space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  ok = mem_space.ok() && (comm_.is_root() || (H5Sselect_none(file_space.get()) >= 0 && H5Sselect_none(mem_space.get()) >= 0));
  Hid xfer(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  const bool collective = xfer.ok() && H5Pset_dxpl_mpio(xfer.get(), H5FD_MPIO_COLLECTIVE) >= 0;
  const herr_t rc = ok ? H5Dwrite(dset.get(), type.get(), mem_space.get(), file_space.get(),
                                  collective ? xfer.get() : H5P_DEFAULT, packed.data())
                       : -1;
  require_all(comm_, ok && collective && rc >= 0, ErrorKind::output, "HDF5: writing " + path + " to " + path_ + " failed");
}

void H5Writer::attribute_raw(const std::string& object, const std::string& name, const void* value, ElemType type) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(H5Acreate_by_name(file_, object.c_str(), name.c_str(), native_type(type), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT),
           H5Aclose);
  require(attr.ok(), ErrorKind::output, "HDF5: cannot create attribute " + object + "@" + name + " in " + path_);
  require_all(comm_, H5Awrite(attr.get(), native_type(type), value) >= 0, ErrorKind::output,
              "HDF5: cannot write attribute " + object + "@" + name);
}

void H5Writer::set_attribute(const std::string& object, const std::string& name, double value) {
  attribute_raw(object, name, &value, elem_type<double>());
}
void H5Writer::set_attribute(const std::string& object, const std::string& name, std::int64_t value) {
  attribute_raw(object, name, &value, elem_type<std::int64_t>());
}
void H5Writer::set_attribute(const std::string& object, const std::string& name, std::uint64_t value) {
  attribute_raw(object, name, &value, elem_type<std::uint64_t>());
}
void H5Writer::set_attribute(const std::string& object, const std::string& name, bool value) {
  // HDF5 has no boolean; numpy/h5py users read an int64 0/1 as a number that tests truthily.
  const std::int64_t v = value ? 1 : 0;
  attribute_raw(object, name, &v, elem_type<std::int64_t>());
}
void H5Writer::set_attribute(const std::string& object, const std::string& name, const std::string& value) {
  // Variable-length UTF-8: h5py returns str, not bytes.
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  const bool typed = type.ok() && H5Tset_size(type.get(), H5T_VARIABLE) >= 0 && H5Tset_cset(type.get(), H5T_CSET_UTF8) >= 0;
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid attr(!typed ? -1
                  : H5Acreate_by_name(file_, object.c_str(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                      H5P_DEFAULT),
           H5Aclose);
  require(attr.ok(), ErrorKind::output, "HDF5: cannot create attribute " + object + "@" + name + " in " + path_);
  const char* ptr = value.c_str();
  require_all(comm_, H5Awrite(attr.get(), type.get(), &ptr) >= 0, ErrorKind::output,
              "HDF5: cannot write attribute " + object + "@" + name);
}

namespace {

// The number of elements of an attribute (1 for a scalar); -1 if HDF5 cannot say.
std::int64_t attribute_elements(hid_t attr) {
  Hid space(H5Aget_space(attr), H5Sclose);
  if (!space.ok()) return -1;
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  return n < 0 ? -1 : static_cast<std::int64_t>(n);
}

}  // namespace

// An attribute read into one number: it must hold exactly one integer or float (an array read
// into one int64 would overflow the caller's stack), and HDF5's conversion must succeed (a
// value out of the target's range is an error, not a wrapped number).
void H5Reader::read_scalar_attribute(const std::string& object, const std::string& name, void* out, std::int64_t mem_type) const {
  const std::string what = path_ + ": attribute " + object + "@" + name;
  require(exists(object), ErrorKind::input, path_ + ": no object " + object + " (looking for its attribute " + name + ")");
  Hid attr(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  require(attr.ok(), ErrorKind::input, path_ + ": no attribute " + object + "@" + name);
  const std::int64_t elements = attribute_elements(attr.get());
  require(elements == 1, ErrorKind::input,
          what + " must hold one number, found " +
              (elements < 0 ? std::string("an unreadable shape") : std::to_string(elements) + " elements"));
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  const H5T_class_t cls = type.ok() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  require(cls == H5T_INTEGER || cls == H5T_FLOAT, ErrorKind::input, what + " must be a number (integer or float)");
  const bool want_float = H5Tequal(mem_type, H5T_NATIVE_DOUBLE) > 0;
  require(want_float || cls == H5T_INTEGER, ErrorKind::input, what + " must be an integer, found a float");
  std::uint64_t value = 0;  // one element of at most 8 bytes
  require(H5Aread(attr.get(), mem_type, &value) >= 0, ErrorKind::input, what + " cannot be read as the number expected");
  if (!want_float) {
    // HDF5 clips a value out of the target's range; read it with its own sign to tell.
    const bool is_signed = H5Tget_sign(type.get()) == H5T_SGN_2;
    const bool want_signed = H5Tequal(mem_type, H5T_NATIVE_INT64) > 0;
    if (is_signed && !want_signed) {
      std::int64_t v = 0;
      H5Aread(attr.get(), H5T_NATIVE_INT64, &v);
      require(v >= 0, ErrorKind::input, what + " must be >= 0, found " + std::to_string(v));
    } else if (!is_signed && want_signed) {
      std::uint64_t v = 0;
      H5Aread(attr.get(), H5T_NATIVE_UINT64, &v);
      require(v <= static_cast<std::uint64_t>(INT64_MAX), ErrorKind::input, what + " is too large: " + std::to_string(v));
    }
  }
  std::memcpy(out, &value, 8);
}

H5Reader::H5Reader(const std::string& path, ChunkDecoding decoding) : path_(path), decoding_(decoding) {
  silence_hdf5();
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  require(file_ >= 0, ErrorKind::input, "cannot open " + path + ": not an HDF5 file, or a damaged one");
}

H5Reader::~H5Reader() {
  if (file_ >= 0) H5Fclose(file_);
}

bool H5Reader::exists(const std::string& object) const {
  const ToleratedErrors probe;
  // Check each path component: H5Lexists fails on a missing intermediate group.
  std::size_t pos = 0;
  while ((pos = object.find('/', pos + 1)) != std::string::npos)
    if (H5Lexists(file_, object.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(file_, object.c_str(), H5P_DEFAULT) > 0;
}

bool H5Reader::has_attribute(const std::string& object, const std::string& name) const {
  const ToleratedErrors probe;
  return exists(object) && H5Aexists_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

H5Reader::DatasetInfo H5Reader::info(const std::string& dataset) const {
  require(exists(dataset), ErrorKind::input, path_ + ": no dataset " + dataset);
  Hid dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  require(dset.ok(), ErrorKind::input, path_ + ": " + dataset + " is not a dataset");
  Hid space(H5Dget_space(dset.get()), H5Sclose);
  const int ndims = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  require(ndims >= 0, ErrorKind::input, path_ + ": cannot read the shape of " + dataset);
  std::vector<hsize_t> dims(static_cast<std::size_t>(ndims));
  require(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) == ndims, ErrorKind::input,
          path_ + ": cannot read the shape of " + dataset);
  Hid type(H5Dget_type(dset.get()), H5Tclose);
  require(type.ok(), ErrorKind::input, path_ + ": cannot read the type of " + dataset);
  DatasetInfo out;
  out.dims.assign(dims.begin(), dims.end());
  const H5T_class_t cls = H5Tget_class(type.get());
  out.is_integer = cls == H5T_INTEGER;
  out.is_float = cls == H5T_FLOAT;
  out.is_signed = out.is_integer && H5Tget_sign(type.get()) == H5T_SGN_2;
  return out;
}

void H5Reader::read_slice_raw(const std::string& dataset, void* out, std::uint64_t offset, std::uint64_t count,
                              ElemType type) const {
  Hid dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  require(dset.ok(), ErrorKind::input, path_ + ": no dataset " + dataset);
  Hid file_space(H5Dget_space(dset.get()), H5Sclose);
  hsize_t dims[1] = {0};
  require(file_space.ok() && H5Sget_simple_extent_ndims(file_space.get()) == 1 &&
              H5Sget_simple_extent_dims(file_space.get(), dims, nullptr) == 1,
          ErrorKind::input, path_ + ": dataset " + dataset + " must be 1-D");
  require(offset <= dims[0] && count <= dims[0] - offset, ErrorKind::input,
          path_ + ": dataset " + dataset + " holds " + std::to_string(dims[0]) + " elements, elements [" +
              std::to_string(offset) + ", " + std::to_string(offset + count) + ") were asked for");
  const hsize_t start[1] = {offset}, n[1] = {count};
  Hid mem_space(H5Screate_simple(1, n, nullptr), H5Sclose);
  require(mem_space.ok() && (count == 0 ? H5Sselect_none(file_space.get()) >= 0 && H5Sselect_none(mem_space.get()) >= 0
                                        : H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr) >= 0),
          ErrorKind::input, path_ + ": cannot select elements of " + dataset);
  if (count > 0 && decoding_ == ChunkDecoding::parallel) {
    const std::optional<ChunkedSlice> plan = plan_chunked_slice(file_, dset.get(), offset, count, type);
    if (!chunk_buffers_) chunk_buffers_ = std::make_unique<std::vector<detail::ChunkBuffers>>();
    if (plan && read_chunks_parallel(path_, *plan, offset, count, out, type, *chunk_buffers_)) return;
  }
  require(H5Dread(dset.get(), native_type(type), mem_space.get(), file_space.get(), H5P_DEFAULT, out) >= 0, ErrorKind::input,
          path_ + ": cannot read dataset " + dataset);
}

bool H5Reader::decodes_in_parallel(const std::string& dataset, ElemType type) const {
  Hid dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  return dset.ok() && plan_chunked_slice(file_, dset.get(), 0, 1, type).has_value();
}

H5Reader::FloatArray H5Reader::read_float_array(const std::string& dataset) const {
  FloatArray out;
  out.dims = info(dataset).dims;  // checks that it exists and is a dataset
  std::uint64_t count = 1;
  for (std::uint64_t d : out.dims) count = saturating_mul(count, d);
  require_memory(saturating_mul(count, sizeof(float)), path_ + ": dataset " + dataset);
  out.values.resize(static_cast<std::size_t>(count));
  read_block_raw(dataset, std::vector<std::uint64_t>(out.dims.size(), 0), out.dims, out.values.data(), false);
  return out;
}

void H5Reader::read_block_raw(const std::string& dataset, const std::vector<std::uint64_t>& start,
                              const std::vector<std::uint64_t>& count, void* out, bool as_double) const {
  Hid dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  require(dset.ok(), ErrorKind::input, path_ + ": no dataset " + dataset);
  Hid file_space(H5Dget_space(dset.get()), H5Sclose);
  const int ndims = file_space.ok() ? H5Sget_simple_extent_ndims(file_space.get()) : -1;
  require(ndims >= 0 && static_cast<std::size_t>(ndims) == start.size() && start.size() == count.size(), ErrorKind::input,
          path_ + ": dataset " + dataset + " has " + std::to_string(ndims) + " dimensions, " + std::to_string(start.size()) +
              " were expected");
  std::vector<hsize_t> dims(start.size());
  H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr);
  for (std::size_t i = 0; i < dims.size(); ++i)
    require(start[i] <= dims[i] && count[i] <= dims[i] - start[i], ErrorKind::input,
            path_ + ": dataset " + dataset + " is smaller than the block asked for (dimension " + std::to_string(i) + ")");
  const std::vector<hsize_t> st(start.begin(), start.end()), n(count.begin(), count.end());
  hsize_t elements = 1;
  for (hsize_t x : n) elements *= x;
  if (elements == 0) return;
  const hsize_t flat[1] = {elements};
  Hid mem_space(H5Screate_simple(1, flat, nullptr), H5Sclose);
  require(mem_space.ok() && (n.empty() ||  // a scalar dataset has its one element selected already
                             H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, st.data(), nullptr, n.data(), nullptr) >= 0),
          ErrorKind::input, path_ + ": cannot select a block of " + dataset);
  Hid type(H5Dget_type(dset.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_ENUM) {  // h5py's booleans: an enum over a 1-byte integer, as 0/1
    require(H5Tget_size(type.get()) == 1, ErrorKind::input, path_ + ": " + dataset + " is an enum that is not boolean");
    std::vector<std::uint8_t> raw(static_cast<std::size_t>(elements));
    require(H5Dread(dset.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, raw.data()) >= 0, ErrorKind::input,
            path_ + ": cannot read dataset " + dataset);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (as_double)
        static_cast<double*>(out)[i] = raw[i] ? 1.0 : 0.0;
      else
        static_cast<float*>(out)[i] = raw[i] ? 1.0f : 0.0f;
    }
    return;
  }
  require(cls == H5T_FLOAT || cls == H5T_INTEGER, ErrorKind::input, path_ + ": dataset " + dataset + " does not hold numbers");
  require(H5Dread(dset.get(), as_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(), H5P_DEFAULT,
                  out) >= 0,
          ErrorKind::input, path_ + ": cannot read dataset " + dataset);
}

std::vector<float> H5Reader::read_float_block(const std::string& dataset, const std::vector<std::uint64_t>& start,
                                              const std::vector<std::uint64_t>& count) const {
  std::size_t elements = 1;
  for (std::uint64_t x : count) elements *= static_cast<std::size_t>(x);
  std::vector<float> out(elements);
  read_block_raw(dataset, start, count, out.data(), false);
  return out;
}

std::vector<double> H5Reader::read_double_block(const std::string& dataset, const std::vector<std::uint64_t>& start,
                                                const std::vector<std::uint64_t>& count) const {
  std::size_t elements = 1;
  for (std::uint64_t x : count) elements *= static_cast<std::size_t>(x);
  std::vector<double> out(elements);
  read_block_raw(dataset, start, count, out.data(), true);
  return out;
}

std::size_t H5Reader::extent(const std::string& dataset) const {
  Hid dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  require(dset.ok(), ErrorKind::input, path_ + ": no dataset " + dataset);
  Hid space(H5Dget_space(dset.get()), H5Sclose);
  require(H5Sget_simple_extent_ndims(space.get()) == 1, ErrorKind::input, path_ + ": dataset " + dataset + " is not 1-D");
  hsize_t dims[1] = {0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  return static_cast<std::size_t>(dims[0]);
}

void H5Reader::read_raw(const std::string& dataset, void* out, std::size_t, ElemType type) const {
  Hid dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  require(dset.ok(), ErrorKind::input, path_ + ": no dataset " + dataset);
  require(H5Dread(dset.get(), native_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0, ErrorKind::input,
          path_ + ": cannot read dataset " + dataset);
}

std::vector<double> H5Reader::read_doubles(const std::string& dataset) const {
  std::vector<double> out(extent(dataset));
  read_raw(dataset, out.data(), out.size(), elem_type<double>());
  return out;
}

H5Reader::StringArray H5Reader::read_strings(const std::string& dataset) const {
  const std::string what = path_ + ": dataset '" + dataset + "'";
  require(exists(dataset), ErrorKind::input, what + " is missing");
  Hid dset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), H5Dclose);
  require(dset.ok(), ErrorKind::input, "cannot open " + what);
  Hid type(H5Dget_type(dset.get()), H5Tclose);
  require(type.ok() && H5Tget_class(type.get()) == H5T_STRING, ErrorKind::input, what + " must hold strings");
  Hid space(H5Dget_space(dset.get()), H5Sclose);
  const int rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  require(rank >= 0 && rank <= 8, ErrorKind::input, what + " has an unreadable shape");
  std::vector<hsize_t> d(static_cast<std::size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
  StringArray out;
  std::uint64_t count = 1;
  for (hsize_t x : d) out.dims.push_back(x), count *= x;
  out.values.resize(count);
  if (count == 0) return out;
  if (H5Tis_variable_str(type.get()) > 0) {
    Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
    require(mem.ok() && H5Tset_size(mem.get(), H5T_VARIABLE) >= 0 && H5Tset_cset(mem.get(), H5Tget_cset(type.get())) >= 0,
            ErrorKind::input, "cannot read " + what);
    std::vector<char*> ptrs(count, nullptr);
    require(H5Dread(dset.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) >= 0, ErrorKind::input,
            "cannot read " + what);
    for (std::uint64_t i = 0; i < count; ++i) out.values[i] = ptrs[i] ? ptrs[i] : "";
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    return out;
  }
  const std::size_t width = H5Tget_size(type.get());  // fixed length (numpy's bytes_): stop at the first NUL
  require(width > 0 && width < (std::size_t{1} << 20) && count < (std::uint64_t{1} << 40) / width, ErrorKind::input,
          what + " has an implausible string size");
  std::string packed(count * width, '\0');
  require(H5Dread(dset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()) >= 0, ErrorKind::input,
          "cannot read " + what);
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string_view s(packed.data() + i * width, width);
    out.values[i] = std::string(s.substr(0, std::min(s.find('\0'), s.size())));
  }
  return out;
}

std::vector<std::uint64_t> H5Reader::read_uint64(const std::string& dataset) const {
  std::vector<std::uint64_t> out(extent(dataset));
  read_raw(dataset, out.data(), out.size(), elem_type<std::uint64_t>());
  return out;
}

std::vector<std::uint64_t> H5Reader::read_uint64_all(const std::string& dataset) const {
  std::size_t elements = 1;
  for (const std::uint64_t d : info(dataset).dims) elements *= static_cast<std::size_t>(d);
  std::vector<std::uint64_t> out(elements);
  read_raw(dataset, out.data(), out.size(), elem_type<std::uint64_t>());
  return out;
}

double H5Reader::attribute_double(const std::string& object, const std::string& name) const {
  double v = 0;
  read_scalar_attribute(object, name, &v, H5T_NATIVE_DOUBLE);
  return v;
}

std::int64_t H5Reader::attribute_int(const std::string& object, const std::string& name) const {
  std::int64_t v = 0;
  read_scalar_attribute(object, name, &v, H5T_NATIVE_INT64);
  return v;
}

std::vector<H5Reader::Attribute> H5Reader::attributes(const std::string& object) const {
  std::vector<Attribute> out;
  Hid obj(H5Oopen(file_, object.c_str(), H5P_DEFAULT), H5Oclose);
  require(obj.ok(), ErrorKind::input, path_ + ": no object " + object);
  H5O_info_t info;
  require(H5Oget_info2(obj.get(), &info, H5O_INFO_NUM_ATTRS) >= 0, ErrorKind::input,
          path_ + ": cannot list the attributes of " + object);
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    Hid a(H5Aopen_by_idx(obj.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a.ok()) continue;
    Attribute v;
    char name[256] = {0};
    H5Aget_name(a.get(), sizeof name, name);
    v.name = name;
    Hid type(H5Aget_type(a.get()), H5Tclose);
    // Only single values are shown as numbers or text; arrays and other shapes stay `other`.
    if (attribute_elements(a.get()) != 1 || !type.ok()) {
      out.push_back(std::move(v));
      continue;
    }
    switch (H5Tget_class(type.get())) {
      case H5T_INTEGER:
        if (H5Tget_sign(type.get()) == H5T_SGN_NONE) {
          v.kind = Attribute::Kind::unsigned_integer;
          H5Aread(a.get(), H5T_NATIVE_UINT64, &v.u);
        } else {
          v.kind = Attribute::Kind::integer;
          H5Aread(a.get(), H5T_NATIVE_INT64, &v.i);
        }
        break;
      case H5T_FLOAT:
        v.kind = Attribute::Kind::real;
        H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v.d);
        break;
      case H5T_STRING:
        v.kind = Attribute::Kind::text;
        v.s = attribute_string(object, v.name);
        break;
      case H5T_ENUM: {
        // An enum over a small integer, as h5py stores a bool (FALSE = 0, TRUE = 1): read in the
        // file's own type (no conversion path is needed) and widened, sign-extended only when
        // the enum's base integer is signed.
        const std::size_t size = H5Tget_size(type.get());
        Hid base(H5Tget_super(type.get()), H5Tclose);
        const bool is_signed = base.ok() && H5Tget_sign(base.get()) == H5T_SGN_2;
        std::int64_t value = 0;
        if (size <= sizeof value && H5Aread(a.get(), type.get(), &value) >= 0) {
          if (is_signed && size < sizeof value && (value >> (8 * size - 1) & 1) != 0) value -= std::int64_t{1} << (8 * size);
          v.kind = Attribute::Kind::integer;
          v.i = value;
        }
        break;
      }
      default:
        break;
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::uint64_t H5Reader::attribute_uint(const std::string& object, const std::string& name) const {
  std::uint64_t v = 0;
  read_scalar_attribute(object, name, &v, H5T_NATIVE_UINT64);
  return v;
}

std::string H5Reader::attribute_string(const std::string& object, const std::string& name) const {
  const std::string what = path_ + ": attribute " + object + "@" + name;
  require(exists(object), ErrorKind::input, path_ + ": no object " + object + " (looking for its attribute " + name + ")");
  Hid attr(H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  require(attr.ok(), ErrorKind::input, path_ + ": no attribute " + object + "@" + name);
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  require(type.ok() && H5Tget_class(type.get()) == H5T_STRING, ErrorKind::input, what + " is not a string");
  const std::int64_t elements = attribute_elements(attr.get());
  require(elements == 1, ErrorKind::input, what + " must hold one string, found " + std::to_string(elements) + " elements");
  if (H5Tis_variable_str(type.get()) <= 0) {  // fixed length (numpy's bytes_): read its bytes, stop at the first NUL
    const std::size_t size = H5Tget_size(type.get());
    require(size > 0 && size < (std::size_t{1} << 30), ErrorKind::input, what + " has an implausible size");
    std::string out(size, '\0');
    require(H5Aread(attr.get(), type.get(), out.data()) >= 0, ErrorKind::input, "cannot read " + what);
    out.resize(std::min(out.find('\0'), out.size()));
    return out;
  }
  char* ptr = nullptr;
  require(H5Aread(attr.get(), type.get(), &ptr) >= 0, ErrorKind::input, "cannot read " + what);
  std::string out = ptr ? ptr : "";
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, &ptr);
  return out;
}

}  // namespace perron
