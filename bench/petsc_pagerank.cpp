// PETSc peer of bench/pagerank.sh: the same PageRank problem solved by PETSc's conjugate
// gradients (KSPCG, no preconditioner), the Krylov solver a PETSc user would pick for it, and
// PETSc's sparse product (MatMult on AIJ) timed as one power-iteration kernel.
//
// The graph is symmetric (Graph500 edges read undirected, duplicates collapsed, self-loops kept
// once), so every vertex has an edge and nothing dangles. With A symmetric and D its row sums,
// PageRank solves (I − αAD⁻¹)z = (1 − α)t; with y = D^-½ z that is the symmetric positive
// definite system (I − αD^-½AD^-½) y = D^-½(1 − α)t, the one PETSc's CG takes, and
// x = D^½y / Σ D^½y (Gleich, Zhukov & Berkhin 2004). perron's --solver cg runs the same
// recurrence in the 1/d inner product.
//
// Time to L1 < 1e-10 is measured as perron reports it: ‖F(x) − x‖₁ of the normalized iterate,
// F the PageRank step. A first, untimed solve checks that after every iteration and finds the
// first iteration k below 1e-10; the timed solves then run exactly k iterations with no
// convergence test at all. Prints one JSON line.
//
//   mpirun -np R perron_petsc_pagerank -f MATRIX.petsc [-repetitions N] [-iterations N]
// MATRIX.petsc: A in PETSc's binary AIJ format (bench/pagerank_bench.py writes it).
#include <petscksp.h>

namespace {

constexpr PetscReal kAlpha = 0.85;
constexpr PetscReal kTolerance = 1e-10;

struct Problem {
  Mat A = nullptr;            // the symmetric adjacency matrix
  Vec inv_degree = nullptr;   // 1/d
  Vec sqrt_degree = nullptr;  // d^½
  PetscInt n = 0;
  Vec x = nullptr, ax = nullptr;  // scratch for the residual check
};

// ‖F(x) − x‖₁ for x = D^½y/ΣD^½y, F(x) = αAD⁻¹x + (1 − α)/n (no dangling vertices).
PetscErrorCode true_residual(const Problem& p, Vec y, PetscReal* l1) {
  PetscFunctionBeginUser;
  PetscCall(VecPointwiseMult(p.x, y, p.sqrt_degree));
  PetscScalar sum;
  PetscCall(VecSum(p.x, &sum));
  PetscCall(VecScale(p.x, 1.0 / sum));
  PetscCall(VecPointwiseMult(p.ax, p.x, p.inv_degree));  // contributions x/d
  Vec fx;
  PetscCall(VecDuplicate(p.x, &fx));
  PetscCall(MatMult(p.A, p.ax, fx));
  PetscCall(VecScale(fx, kAlpha));
  PetscCall(VecShift(fx, (1.0 - kAlpha) / static_cast<PetscReal>(p.n)));
  PetscCall(VecAXPY(fx, -1.0, p.x));
  PetscCall(VecNorm(fx, NORM_1, l1));
  PetscCall(VecDestroy(&fx));
  PetscFunctionReturn(0);
}

struct Search {
  const Problem* problem;
  PetscInt found = -1;
};

// Convergence test of the untimed solve: stop at the first iterate whose true residual is
// below the tolerance.
PetscErrorCode stop_below_tolerance(KSP ksp, PetscInt it, PetscReal, KSPConvergedReason* reason, void* ctx) {
  PetscFunctionBeginUser;
  auto* search = static_cast<Search*>(ctx);
  *reason = KSP_CONVERGED_ITERATING;
  if (it == 0) PetscFunctionReturn(0);
  Vec y;
  PetscCall(KSPBuildSolution(ksp, nullptr, &y));
  PetscReal l1;
  PetscCall(true_residual(*search->problem, y, &l1));
  if (l1 < kTolerance) {
    search->found = it;
    *reason = KSP_CONVERGED_ATOL;  // any positive reason ends the solve (PETSc 3.18 has no "user" one)
  }
  PetscFunctionReturn(0);
}

double median(double* v, int n) {
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && v[j] < v[j - 1]; --j) {
      const double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

PetscErrorCode run() {
  PetscFunctionBeginUser;
  char file[PETSC_MAX_PATH_LEN];
  PetscBool given = PETSC_FALSE;
  PetscCall(PetscOptionsGetString(nullptr, nullptr, "-f", file, sizeof file, &given));
  PetscCheck(given, PETSC_COMM_WORLD, PETSC_ERR_USER, "usage: perron_petsc_pagerank -f MATRIX.petsc");
  PetscInt repetitions = 5, spmv_iterations = 20;
  PetscCall(PetscOptionsGetInt(nullptr, nullptr, "-repetitions", &repetitions, nullptr));
  PetscCall(PetscOptionsGetInt(nullptr, nullptr, "-iterations", &spmv_iterations, nullptr));
  repetitions = PetscMin(PetscMax(repetitions, 1), 64);

  Problem p;
  PetscViewer viewer;
  PetscCall(PetscViewerBinaryOpen(PETSC_COMM_WORLD, file, FILE_MODE_READ, &viewer));
  PetscCall(MatCreate(PETSC_COMM_WORLD, &p.A));
  PetscCall(MatSetType(p.A, MATAIJ));
  PetscCall(MatLoad(p.A, viewer));
  PetscCall(PetscViewerDestroy(&viewer));
  PetscCall(MatGetSize(p.A, &p.n, nullptr));
  PetscCall(MatCreateVecs(p.A, &p.inv_degree, &p.x));
  PetscCall(VecDuplicate(p.x, &p.ax));
  PetscCall(VecDuplicate(p.x, &p.sqrt_degree));
  PetscCall(MatGetRowSum(p.A, p.sqrt_degree));  // d (A symmetric: row sums are out-degrees)
  PetscCall(VecCopy(p.sqrt_degree, p.inv_degree));
  PetscCall(VecReciprocal(p.inv_degree));
  PetscCall(VecSqrtAbs(p.sqrt_degree));

  // S = I − αD^-½AD^-½ and b = D^-½(1 − α)t.
  Vec inv_sqrt, b, y;
  PetscCall(VecDuplicate(p.x, &inv_sqrt));
  PetscCall(VecCopy(p.sqrt_degree, inv_sqrt));
  PetscCall(VecReciprocal(inv_sqrt));
  Mat S;
  PetscCall(MatDuplicate(p.A, MAT_COPY_VALUES, &S));
  PetscCall(MatDiagonalScale(S, inv_sqrt, inv_sqrt));
  PetscCall(MatScale(S, -kAlpha));
  // + I: most rows have no diagonal entry (no self-loop), so S gets the union pattern, built
  // at once (MatShift would insert the entries one by one).
  Mat identity;
  PetscInt first, last;
  PetscCall(MatGetOwnershipRange(p.A, &first, &last));
  PetscCall(MatCreateAIJ(PETSC_COMM_WORLD, last - first, last - first, p.n, p.n, 1, nullptr, 0, nullptr, &identity));
  for (PetscInt i = first; i < last; ++i) PetscCall(MatSetValue(identity, i, i, 1.0, INSERT_VALUES));
  PetscCall(MatAssemblyBegin(identity, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(identity, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAXPY(S, 1.0, identity, DIFFERENT_NONZERO_PATTERN));
  PetscCall(MatDestroy(&identity));
  PetscCall(VecDuplicate(p.x, &b));
  PetscCall(VecDuplicate(p.x, &y));
  PetscCall(VecCopy(inv_sqrt, b));
  PetscCall(VecScale(b, (1.0 - kAlpha) / static_cast<PetscReal>(p.n)));

  KSP ksp;
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, S, S));
  PetscCall(KSPSetType(ksp, KSPCG));
  PC pc;
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCNONE));
  PetscCall(KSPSetInitialGuessNonzero(ksp, PETSC_FALSE));

  // Untimed: the first iteration below the tolerance.
  Search search{&p};
  PetscCall(KSPSetTolerances(ksp, 0.0, 0.0, PETSC_DEFAULT, 1000));
  PetscCall(KSPSetConvergenceTest(ksp, stop_below_tolerance, &search, nullptr));
  PetscCall(KSPSolve(ksp, b, y));
  PetscCheck(search.found > 0, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "PETSc CG did not reach 1e-10 in 1000 iterations");

  // Timed: exactly that many iterations, no convergence test; interleaved with the SpMV timing.
  PetscCall(KSPSetConvergenceTest(ksp, KSPConvergedSkip, nullptr, nullptr));
  PetscCall(KSPSetTolerances(ksp, 0.0, 0.0, PETSC_DEFAULT, search.found));
  double solve_s[64], spmv_s[64];
  for (PetscInt r = 0; r < repetitions; ++r) {
    PetscCall(MPI_Barrier(PETSC_COMM_WORLD));
    double t0 = MPI_Wtime();
    PetscCall(KSPSolve(ksp, b, y));
    PetscCall(MPI_Barrier(PETSC_COMM_WORLD));
    solve_s[r] = MPI_Wtime() - t0;
    t0 = MPI_Wtime();
    for (PetscInt k = 0; k < spmv_iterations; ++k) PetscCall(MatMult(p.A, p.x, p.ax));
    PetscCall(MPI_Barrier(PETSC_COMM_WORLD));
    spmv_s[r] = (MPI_Wtime() - t0) / static_cast<double>(spmv_iterations);
  }
  PetscReal l1;
  PetscCall(true_residual(p, y, &l1));
  PetscMPIInt ranks;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &ranks));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "{\"ranks\": %d, \"n\": %" PetscInt_FMT ", \"cg_iterations\": %" PetscInt_FMT
                        ", \"cg_s\": %.6f, \"cg_l1\": %.3e, \"matmult_s\": %.6f, \"repetitions\": %" PetscInt_FMT "}\n",
                        ranks, p.n, search.found, median(solve_s, static_cast<int>(repetitions)), static_cast<double>(l1),
                        median(spmv_s, static_cast<int>(repetitions)), repetitions));

  PetscCall(KSPDestroy(&ksp));
  PetscCall(MatDestroy(&S));
  PetscCall(MatDestroy(&p.A));
  for (Vec* v : {&inv_sqrt, &b, &y, &p.inv_degree, &p.sqrt_degree, &p.x, &p.ax}) PetscCall(VecDestroy(v));
  PetscFunctionReturn(0);
}

}  // namespace

int main(int argc, char** argv) {
  PetscCall(PetscInitialize(&argc, &argv, nullptr, nullptr));
  PetscCall(run());
  PetscCall(PetscFinalize());
  return 0;
}
