// CUDA C on the CPU: what kernel.cu and its headers take from CUDA, for a
// host C++ compiler, so that machines without a GPU (CI) run the very
// sources NVRTC compiles (kernels/src/engine/cuda/on_cpu.rs prepends this
// file to them). A launch runs its blocks one after another; each thread
// of a block is a fiber (ucontext), switched only where the kernels wait
// for each other: __syncthreads and the warp shuffles. Several CPU threads
// may each run a launch (of different blocks) at once.
//
// Compiled without floating-point contraction, the float arithmetic is the
// CPU engine's operation for operation; only the order of the blocks' sums
// differs.

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <cmath>
#include <vector>

#define __device__
#define __global__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(threads)
// A CPU thread runs one block at a time, so a block's shared memory can
// be a static of the thread.
#define __shared__ static thread_local

struct uint2 {
    unsigned x, y;
};
struct uint4 {
    unsigned x, y, z, w;
};
struct dim3 {
    unsigned x, y, z;
};

inline uint2 make_uint2(unsigned x, unsigned y) {
    return {x, y};
}
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) {
    return {x, y, z, w};
}
inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
inline long long __double_as_longlong(double d) {
    long long i;
    memcpy(&i, &d, sizeof i);
    return i;
}
inline double __longlong_as_double(long long i) {
    double d;
    memcpy(&d, &i, sizeof d);
    return d;
}
inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
// sin(pi x), cos(pi x) by the C library, as the CPU engine's f64 (its
// sin_cos of 2 pi u; pi * 2u rounds to the same double).
inline void sincospi(double x, double* s, double* c) {
    *s = sin(M_PI * x);
    *c = cos(M_PI * x);
}

namespace rp_cpu {

constexpr unsigned WARP = 32;
constexpr size_t STACK = 256 * 1024;

struct Fiber {
    ucontext_t ctx;
    dim3 thread;
    bool done;
};

// The launch in progress: its block, the fibers of its threads, and the
// counters the waits use.
struct Launch {
    ucontext_t scheduler;
    std::vector<Fiber> fibers;
    std::vector<std::vector<char>> stacks;
    Fiber* current = nullptr;
    dim3 block{0, 1, 1}, grid{1, 1, 1}, block_dim{1, 1, 1};
    void (*body)(void*) = nullptr;
    void* args = nullptr;
    // __syncthreads: arrivals, and a generation that moves when all are in.
    unsigned sync_count = 0, sync_generation = 0;
    // Warp shuffles: the same per warp, and each lane's value in two
    // buffers used alternately, so one shuffle's reads never meet the
    // next one's writes (every shuffle is a wait of the whole warp).
    std::vector<unsigned> warp_count, warp_generation, shuffles;
    std::vector<double> value[2];
};

// Each CPU thread runs launches of its own.
inline Launch& launch() {
    static thread_local Launch l;
    return l;
}

inline void yield() {
    Launch& l = launch();
    swapcontext(&l.current->ctx, &l.scheduler);
}

// Waits until `count` arrivals of `of` have come in (this one included).
inline void arrive_and_wait(unsigned& count, unsigned& generation, unsigned of) {
    const unsigned mine = generation;
    if (++count == of) {
        count = 0;
        generation++;
        return;
    }
    while (generation == mine) {
        yield();
    }
}

inline void fiber_main() {
    Launch& l = launch();
    l.body(l.args);
    l.current->done = true;
}

// Runs `body(args)` as every thread of every block of the grid.
inline void run(unsigned grid, unsigned threads, void (*body)(void*), void* args) {
    Launch& l = launch();
    l.grid = {grid, 1, 1};
    l.block_dim = {threads, 1, 1};
    l.body = body;
    l.args = args;
    l.fibers.assign(threads, Fiber{});
    l.stacks.resize(threads);
    const unsigned warps = (threads + WARP - 1) / WARP;
    for (unsigned b = 0; b < grid; b++) {
        l.block = {b, 1, 1};
        l.sync_count = l.sync_generation = 0;
        l.warp_count.assign(warps, 0);
        l.warp_generation.assign(warps, 0);
        l.shuffles.assign(threads, 0);
        l.value[0].assign(threads, 0.0);
        l.value[1].assign(threads, 0.0);
        for (unsigned t = 0; t < threads; t++) {
            Fiber& f = l.fibers[t];
            l.stacks[t].resize(STACK);
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = l.stacks[t].data();
            f.ctx.uc_stack.ss_size = STACK;
            f.ctx.uc_link = &l.scheduler;
            makecontext(&f.ctx, fiber_main, 0);
            f.thread = {t, 0, 0};
            f.done = false;
        }
        // Round robin until every thread has returned.
        for (bool running = true; running;) {
            running = false;
            for (Fiber& f : l.fibers) {
                if (!f.done) {
                    l.current = &f;
                    swapcontext(&l.scheduler, &f.ctx);
                    running = running || !f.done;
                }
            }
        }
    }
    l.current = nullptr;
}

// One shuffle: every lane of the warp offers `v`, then reads lane `src`'s
// (its own where `src` is out of the warp, as CUDA does).
inline double shuffle(double v, unsigned src) {
    Launch& l = launch();
    const unsigned t = l.current->thread.x, warp = t / WARP;
    const unsigned buffer = l.shuffles[t]++ & 1u;
    l.value[buffer][t] = v;
    const unsigned lanes = l.block_dim.x - warp * WARP < WARP ? l.block_dim.x - warp * WARP : WARP;
    arrive_and_wait(l.warp_count[warp], l.warp_generation[warp], lanes);
    return src < lanes ? l.value[buffer][warp * WARP + src] : v;
}

}  // namespace rp_cpu

#define threadIdx (rp_cpu::launch().current->thread)
#define blockIdx (rp_cpu::launch().block)
#define blockDim (rp_cpu::launch().block_dim)
#define gridDim (rp_cpu::launch().grid)

inline void __syncthreads() {
    rp_cpu::Launch& l = rp_cpu::launch();
    rp_cpu::arrive_and_wait(l.sync_count, l.sync_generation, l.block_dim.x);
}

inline double __shfl_down_sync(unsigned, double v, int delta) {
    return rp_cpu::shuffle(v, threadIdx.x % rp_cpu::WARP + (unsigned)delta);
}

inline double __shfl_xor_sync(unsigned, double v, int lane_mask) {
    return rp_cpu::shuffle(v, (threadIdx.x % rp_cpu::WARP) ^ (unsigned)lane_mask);
}

// The launches on_cpu.rs makes: a pricing kernel (all share one signature,
// the record type aside) and the known-answer kernel.
typedef void (*rp_price_kernel)(const void*, const unsigned*, double*, const unsigned*, const unsigned*,
                                const double*, unsigned, unsigned, unsigned, unsigned, unsigned);

struct rp_price_args {
    rp_price_kernel kernel;
    const void* trades;
    const unsigned* block_start;
    double* partials;
    // The batch's Sobol tables (qmc.cuh; null where it has no Sobol trade).
    const unsigned* sobol_dirs;
    const unsigned* sweep_nodes;
    const double* sweep_coef;
    unsigned key_lo, key_hi, first_block, n_blocks, n_trades;
};

extern "C" void rp_cpu_launch_price(const rp_price_args* a, unsigned grid, unsigned threads) {
    rp_cpu::run(
        grid, threads,
        [](void* p) {
            const rp_price_args* a = (const rp_price_args*)p;
            a->kernel(a->trades, a->block_start, a->partials, a->sobol_dirs, a->sweep_nodes, a->sweep_coef,
                      a->key_lo, a->key_hi, a->first_block, a->n_blocks, a->n_trades);
        },
        (void*)a);
}

// The kernels of several assets and early exercise (extension.cu): their
// dates and coefficients besides.
typedef void (*rp_extension_kernel)(const void*, const unsigned*, const unsigned*, const void*, double*, unsigned,
                                unsigned, unsigned, unsigned, unsigned);

struct rp_extension_args {
    rp_extension_kernel kernel;
    const void* trades;
    const unsigned* block_start;
    const unsigned* dates;
    const void* coefs;
    double* partials;
    unsigned key_lo, key_hi, first_block, n_blocks, n_trades;
};

extern "C" void rp_cpu_launch_extension(const rp_extension_args* a, unsigned grid, unsigned threads) {
    rp_cpu::run(
        grid, threads,
        [](void* p) {
            const rp_extension_args* a = (const rp_extension_args*)p;
            a->kernel(a->trades, a->block_start, a->dates, a->coefs, a->partials, a->key_lo, a->key_hi,
                      a->first_block, a->n_blocks, a->n_trades);
        },
        (void*)a);
}

extern "C" void rp_kat(const uint4* in, uint4* out, unsigned n);

struct rp_kat_args {
    const uint4* in;
    uint4* out;
    unsigned n;
};

extern "C" void rp_cpu_launch_kat(const uint4* in, uint4* out, unsigned n, unsigned grid, unsigned threads) {
    rp_kat_args a{in, out, n};
    rp_cpu::run(
        grid, threads,
        [](void* p) {
            const rp_kat_args* a = (const rp_kat_args*)p;
            rp_kat(a->in, a->out, a->n);
        },
        &a);
}
