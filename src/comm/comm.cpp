#include "perron/comm/comm.hpp"

#include <climits>
#include <cstdlib>
#include <numeric>

#include "perron/comm/native.hpp"
#include "perron/core/files.hpp"

namespace perron {
namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error(ErrorKind::internal, std::string(what) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
  }
}

// An MPI datatype for one element; byte records become a contiguous type freed on scope exit.
class Datatype {
 public:
  explicit Datatype(ElemType t) {
    switch (t.kind) {
      case ElemKind::i32:
        type_ = MPI_INT32_T;
        break;
      case ElemKind::u32:
        type_ = MPI_UINT32_T;
        break;
      case ElemKind::i64:
        type_ = MPI_INT64_T;
        break;
      case ElemKind::u64:
        type_ = MPI_UINT64_T;
        break;
      case ElemKind::f32:
        type_ = MPI_FLOAT;
        break;
      case ElemKind::f64:
        type_ = MPI_DOUBLE;
        break;
      case ElemKind::bytes:
        check(MPI_Type_contiguous(static_cast<int>(t.size), MPI_BYTE, &type_), "MPI_Type_contiguous");
        check(MPI_Type_commit(&type_), "MPI_Type_commit");
        owned_ = true;
        break;
    }
  }
  ~Datatype() {
    if (owned_) MPI_Type_free(&type_);
  }
  Datatype(const Datatype&) = delete;
  Datatype& operator=(const Datatype&) = delete;
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
  bool owned_ = false;
};

MPI_Op to_mpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return MPI_SUM;
    case ReduceOp::max:
      return MPI_MAX;
    case ReduceOp::min:
      return MPI_MIN;
    case ReduceOp::bit_or:
      return MPI_BOR;
  }
  return MPI_SUM;
}

int to_int(std::int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw Error(ErrorKind::internal,
                std::string(what) + ": message of " + std::to_string(v) + " elements exceeds MPI's 2^31 limit; use more ranks");
  return static_cast<int>(v);
}

std::vector<int> displacements(const std::vector<int>& counts, const char* what) {
  std::vector<int> displs(counts.size());
  std::int64_t at = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    displs[i] = to_int(at, what);
    at += counts[i];
  }
  to_int(at, what);
  return displs;
}

std::vector<int> to_ints(std::span<const std::int64_t> v, const char* what) {
  std::vector<int> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = to_int(v[i], what);
  return out;
}

}  // namespace

Comm::Handle::~Handle() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owned && !finalized && comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
}

Comm::Comm(std::shared_ptr<Handle> handle) : handle_(std::move(handle)) {
  check(MPI_Comm_rank(handle_->comm, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(handle_->comm, &size_), "MPI_Comm_size");
}

Comm Comm::split(int color, int key) const {
  auto h = std::make_shared<Handle>();
  check(MPI_Comm_split(handle_->comm, color, key, &h->comm), "MPI_Comm_split");
  h->owned = true;
  return Comm(std::move(h));
}

int Comm::ranks_on_node() const {
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(handle_->comm, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  int size = 1;
  MPI_Comm_size(node, &size);
  MPI_Comm_free(&node);
  return size;
}

void Comm::barrier() const { check(MPI_Barrier(handle_->comm), "MPI_Barrier"); }

void Comm::allreduce_raw(void* data, std::size_t count, ElemType type, ReduceOp op) const {
  Datatype dt(type);
  check(MPI_Allreduce(MPI_IN_PLACE, data, to_int(static_cast<std::int64_t>(count), "allreduce"), dt.get(), to_mpi(op),
                      handle_->comm),
        "MPI_Allreduce");
}

void Comm::exscan_raw(const void* in, void* out, ElemType type) const {
  Datatype dt(type);
  check(MPI_Exscan(in, out, 1, dt.get(), MPI_SUM, handle_->comm), "MPI_Exscan");
}

void Comm::allgather_raw(const void* in, void* out, ElemType type) const {
  Datatype dt(type);
  check(MPI_Allgather(in, 1, dt.get(), out, 1, dt.get(), handle_->comm), "MPI_Allgather");
}

void Comm::allgatherv_raw(const void* in, std::span<const std::int64_t> counts, void* out, ElemType type) const {
  Datatype dt(type);
  std::vector<int> c = to_ints(counts, "allgatherv");
  std::vector<int> d = displacements(c, "allgatherv");
  check(MPI_Allgatherv(in, c[static_cast<std::size_t>(rank_)], dt.get(), out, c.data(), d.data(), dt.get(), handle_->comm),
        "MPI_Allgatherv");
}

void Comm::bcast_raw(void* data, std::size_t count, ElemType type, int root) const {
  Datatype dt(type);
  check(MPI_Bcast(data, to_int(static_cast<std::int64_t>(count), "bcast"), dt.get(), root, handle_->comm), "MPI_Bcast");
}

std::string Comm::bcast_string(std::string text, int root) const {
  auto len = bcast_value<std::uint64_t>(text.size(), root);
  text.resize(len);
  bcast(std::span<char>(text.data(), text.size()), root);
  return text;
}

std::vector<std::int64_t> Comm::alltoall_counts(std::span<const std::int64_t> send_counts) const {
  std::vector<std::int64_t> recv(static_cast<std::size_t>(size_));
  check(MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, recv.data(), 1, MPI_INT64_T, handle_->comm), "MPI_Alltoall");
  return recv;
}

void Comm::alltoallv_raw(const void* send, std::span<const std::int64_t> send_counts, std::span<const std::int64_t> send_offsets,
                         void* recv, std::span<const std::int64_t> recv_counts, ElemType type) const {
  Datatype dt(type);
  std::vector<int> sc = to_ints(send_counts, "alltoallv");
  std::vector<int> rc = to_ints(recv_counts, "alltoallv");
  std::vector<int> sd = send_offsets.empty() ? displacements(sc, "alltoallv") : to_ints(send_offsets, "alltoallv");
  std::vector<int> rd = displacements(rc, "alltoallv");
  check(MPI_Alltoallv(send, sc.data(), sd.data(), dt.get(), recv, rc.data(), rd.data(), dt.get(), handle_->comm),
        "MPI_Alltoallv");
}

double Comm::sum_ordered(double value) const {
  std::vector<double> all = allgather(value);
  double total = 0.0;
  for (double v : all) total += v;
  return total;
}

void Comm::sum_ordered(std::span<double> values) const {
  std::vector<double> all = allgatherv<double>(values);
  const std::size_t k = values.size();
  for (std::size_t j = 0; j < k; ++j) {
    double total = 0.0;
    for (int r = 0; r < size_; ++r) total += all[static_cast<std::size_t>(r) * k + j];
    values[j] = total;
  }
}

void Comm::raise_if_any(const std::optional<Error>& error) const {
  int mine = error ? rank_ : size_;
  int first = allreduce(mine, ReduceOp::min);
  if (first == size_) return;
  std::string message = bcast_string(error && rank_ == first ? error->what() : std::string(), first);
  auto kind = static_cast<std::int32_t>(error && rank_ == first ? error->kind() : ErrorKind::internal);
  kind = bcast_value(kind, first);
  Error agreed(static_cast<ErrorKind>(kind), message);
  agreed.mark_collective();
  throw agreed;
}

// Errors are agreed on every rank (a write that fails on one rank fails on all), and the file
// is checked afterwards: Open MPI's ompio reports a short write to a full disk on stderr but
// returns MPI_SUCCESS, so the size on disk is the only trustworthy witness.
void Comm::write_file_at_all(const std::string& path, std::uint64_t offset, std::span<const std::byte> bytes) const {
  const std::uint64_t end = allreduce<std::uint64_t>(offset + bytes.size(), ReduceOp::max);  // the file's size
  MPI_File file = MPI_FILE_NULL;
  const int rc = MPI_File_open(handle_->comm, path.c_str(), MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &file);
  if (!all(rc == MPI_SUCCESS)) {
    if (rc == MPI_SUCCESS) MPI_File_close(&file);
    Error error(ErrorKind::output, "cannot create " + path + " (missing directory or no write permission?)");
    error.mark_collective();
    throw error;
  }
  bool ok = all(MPI_File_set_size(file, 0) == MPI_SUCCESS);
  // Space before the data (rank 0; see reserve_disk_space): a full disk is one clean error.
  try {
    agree([&] {
      if (is_root()) reserve_disk_space(path, end);
    });
  } catch (const Error&) {
    MPI_File_close(&file);
    throw;
  }
  // Write in pieces of at most 1 GiB: MPI counts are int.
  constexpr std::uint64_t kPiece = 1ull << 30;
  std::uint64_t pieces = (bytes.size() + kPiece - 1) / kPiece;
  pieces = allreduce<std::uint64_t>(pieces, ReduceOp::max);
  for (std::uint64_t p = 0; ok && p < pieces; ++p) {
    const std::uint64_t begin = std::min<std::uint64_t>(p * kPiece, bytes.size());
    const std::uint64_t piece_end = std::min<std::uint64_t>(begin + kPiece, bytes.size());
    MPI_Status status;
    int written = 0;
    const bool piece_ok = MPI_File_write_at_all(file, static_cast<MPI_Offset>(offset + begin), bytes.data() + begin,
                                                static_cast<int>(piece_end - begin), MPI_BYTE, &status) == MPI_SUCCESS &&
                          MPI_Get_count(&status, MPI_BYTE, &written) == MPI_SUCCESS &&
                          static_cast<std::uint64_t>(written) == piece_end - begin;
    ok = all(piece_ok);
  }
  MPI_Offset size = 0;
  ok = MPI_File_get_size(file, &size) == MPI_SUCCESS && ok && static_cast<std::uint64_t>(size) == end;
  const bool closed = MPI_File_close(&file) == MPI_SUCCESS;
  if (!all(ok && closed)) {
    Error error(ErrorKind::output,
                "writing " + path + " failed: " + std::to_string(end) + " bytes were to be written (disk full or an I/O error?)");
    error.mark_collective();
    throw error;
  }
}

struct Comm::RingShift::Requests {
  MPI_Request r[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
};

Comm::RingShift::RingShift(const Comm& comm, const void* send, void* recv, std::size_t bytes)
    : requests_(std::make_unique<Requests>()) {
  const int next = (comm.rank() + 1) % comm.size();
  const int prev = (comm.rank() + comm.size() - 1) % comm.size();
  const int count = to_int(static_cast<std::int64_t>(bytes), "ring shift");
  check(MPI_Irecv(recv, count, MPI_BYTE, prev, 7, comm.handle().comm, &requests_->r[0]), "MPI_Irecv");
  const int rc = MPI_Isend(send, count, MPI_BYTE, next, 7, comm.handle().comm, &requests_->r[1]);
  if (rc != MPI_SUCCESS) {  // no receive may stay posted into a buffer the caller is about to free
    MPI_Cancel(&requests_->r[0]);
    MPI_Request_free(&requests_->r[0]);
    requests_->r[1] = MPI_REQUEST_NULL;
    check(rc, "MPI_Isend");
  }
}

Comm::RingShift::~RingShift() {
  if (requests_) MPI_Waitall(2, requests_->r, MPI_STATUSES_IGNORE);
}

void Comm::RingShift::wait() { check(MPI_Waitall(2, requests_->r, MPI_STATUSES_IGNORE), "MPI_Waitall"); }

Environment::Environment(int& argc, char**& argv) {
  int provided = 0;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // OpenMP threads compute while only the main thread calls MPI: FUNNELED is the level needed.
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw Error(ErrorKind::internal, "this MPI library provides thread level " + std::to_string(provided) +
                                         ", below MPI_THREAD_FUNNELED, which perron's OpenMP threads need");
  }
  // Errors come back as codes that `check` turns into exceptions, instead of aborting.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

Environment::~Environment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

Comm Environment::world() {
  auto h = std::make_shared<Comm::Handle>();
  h->comm = MPI_COMM_WORLD;
  return Comm(std::move(h));
}

bool Environment::launched() {
  // Open MPI's mpirun, PMIx and PMI-1/2 servers (srun, Hydra), and Slurm's tasks.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return true;
  }
  return false;
}

void Environment::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::abort();  // MPI_Abort does not return; this satisfies [[noreturn]]
}

}  // namespace perron
