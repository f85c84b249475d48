#pragma once
// Fused attention for fp16/bf16: a FlashAttention-2-style prefill kernel and
// a split-KV decode kernel (flash-decoding) with its combine kernel.
//
// Both use tensor cores through mma.sync.m16n8k16 (fp32 accumulation) with
// operands loaded from shared memory by ldmatrix, K/V tiles streamed with
// cp.async two stages deep, and the online softmax in registers (scores in
// the exp2 domain, the scale folded into log2(e) / sqrt(d)). Shared-memory
// rows are padded by 16 bytes, so the eight 16-byte rows an ldmatrix reads
// fall in distinct bank groups. Grouped-query attention indexes K/V head
// h / (heads / kv_heads); the causal mask is aligned at the end (query i sees
// keys j <= i + seq_kv - seq_q), and whole key tiles past it are skipped.
//
// Layout of the accumulator fragments (PTX, m16n8k16): c[0], c[1] are row
// lane/4, columns 2 (lane%4) and +1; c[2], c[3] the same columns of row
// lane/4 + 8. Two adjacent n-tiles of scores are exactly the A fragment of the
// next product (P V), so P never leaves registers.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

#include <type_traits>

namespace hwcal {
namespace cuda {
namespace kernels {

using launch::AttentionArgs;

// ---------------------------------------------------------------- primitives

template <class T>
__device__ __forceinline__ void mma16816(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                         std::uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned smem_address(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

/// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p))
               : "memory");
}

/// 16 bytes global -> shared, bypassing L1; `valid` false writes zeros (src not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_address(dst)), "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/// Two floats rounded to T and packed (the lower column in the lower half).
template <class T>
__device__ __forceinline__ std::uint32_t pack2(float lo, float hi) {
  std::uint32_t r;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    memcpy(&r, &v, sizeof r);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    memcpy(&r, &v, sizeof r);
  }
  return r;
}

// ---------------------------------------------------------------- tile steps

/// Pitch of a shared-memory tile row in elements: 16 bytes of padding.
template <int D>
inline constexpr int tile_pitch = D + 8;

/// Copies `count` rows of D elements (rows past `limit` read as zeros) from
/// global `src` (row stride D) to shared `dst` (pitch D + 8), with `threads`
/// threads of which this is `tid`.
template <class T, int D>
__device__ __forceinline__ void load_tile(T* dst, const T* src, i64 row0, i64 limit, int count, int tid, int threads) {
  constexpr int chunks = D / 8;  // 16-byte pieces per row
  for (int c = tid; c < count * chunks; c += threads) {
    const int r = c / chunks, col = (c % chunks) * 8;
    const bool valid = row0 + r < limit;
    cp_async16(dst + r * tile_pitch<D> + col, valid ? src + (row0 + r) * D + col : src, valid);
  }
}

/// s = Q K^T for 16 query rows (shared, at q) and NK keys (shared, at k).
template <class T, int D, int NK>
__device__ __forceinline__ void qk_tile(float (&s)[NK / 8][4], const T* q, const T* k, int lane) {
  constexpr int P = tile_pitch<D>;
#pragma unroll
  for (int n = 0; n < NK / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D; kk += 16) {
    std::uint32_t a[4];
    ldmatrix_x4(a, q + (lane % 16) * P + kk + (lane / 16) * 8);
#pragma unroll
    for (int n = 0; n < NK / 8; n += 2) {
      std::uint32_t b[4];
      ldmatrix_x4(b, k + (n * 8 + lane % 8 + (lane / 16) * 8) * P + kk + ((lane / 8) % 2) * 8);
      mma16816<T>(s[n], a, b[0], b[1]);
      mma16816<T>(s[n + 1], a, b[2], b[3]);
    }
  }
}

/// Sets scores the mask hides to -inf: key columns at or past `key_end`, and
/// with `causal` keys past query i + offset; (q0, k0) are the indices of the
/// tile's first row and column; row_query maps a row index to its query index.
template <int NK, class RowQuery>
__device__ __forceinline__ void mask_tile(float (&s)[NK / 8][4], i64 q0, i64 k0, i64 key_end, bool causal, i64 offset,
                                          int lane, RowQuery row_query) {
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const i64 visible = causal ? row_query(q0 + lane / 4 + 8 * hr) + offset + 1 : key_end;
    const i64 end = visible < key_end ? visible : key_end;
#pragma unroll
    for (int n = 0; n < NK / 8; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        if (k0 + n * 8 + (lane % 4) * 2 + e >= end) s[n][2 * hr + e] = -INFINITY;
  }
}

/// Online softmax over a tile of scores for this thread's two rows: new
/// running max m, rescaled sum l (this thread's columns only; the quad's
/// partial sums are added at the end) and output accumulator o; s becomes P.
template <int NK, int D>
__device__ __forceinline__ void softmax_tile(float (&s)[NK / 8][4], float (&m)[2], float (&l)[2], float (&o)[D / 8][4],
                                             float scale_log2) {
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    float mx = m[hr];
#pragma unroll
    for (int n = 0; n < NK / 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * hr], s[n][2 * hr + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    // A row that has seen only masked keys keeps max -inf: subtract 0 then.
    const float base = mx == -INFINITY ? 0.f : mx * scale_log2;
    const float alpha = exp2f(m[hr] * scale_log2 - base);
    m[hr] = mx;
    float sum = 0.f;
#pragma unroll
    for (int n = 0; n < NK / 8; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float p = exp2f(s[n][2 * hr + e] * scale_log2 - base);
        s[n][2 * hr + e] = p;
        sum += p;
      }
    l[hr] = l[hr] * alpha + sum;
#pragma unroll
    for (int d = 0; d < D / 8; ++d) {
      o[d][2 * hr] *= alpha;
      o[d][2 * hr + 1] *= alpha;
    }
  }
}

/// o += P V for NK keys: P from the score registers, V (shared, at v) [key][dim].
template <class T, int D, int NK>
__device__ __forceinline__ void pv_tile(float (&o)[D / 8][4], const float (&s)[NK / 8][4], const T* v, int lane) {
  constexpr int P = tile_pitch<D>;
#pragma unroll
  for (int kt = 0; kt < NK / 16; ++kt) {
    const std::uint32_t a[4] = {pack2<T>(s[2 * kt][0], s[2 * kt][1]), pack2<T>(s[2 * kt][2], s[2 * kt][3]),
                                pack2<T>(s[2 * kt + 1][0], s[2 * kt + 1][1]),
                                pack2<T>(s[2 * kt + 1][2], s[2 * kt + 1][3])};
#pragma unroll
    for (int d = 0; d < D / 8; d += 2) {
      std::uint32_t b[4];
      ldmatrix_x4_trans(b, v + (kt * 16 + lane % 8 + ((lane / 8) % 2) * 8) * P + d * 8 + (lane / 16) * 8);
      mma16816<T>(o[d], a, b[0], b[1]);
      mma16816<T>(o[d + 1], a, b[2], b[3]);
    }
  }
}

/// The quad's total of l for this thread's two rows.
__device__ __forceinline__ void quad_sum(float (&l)[2]) {
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 1);
    l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 2);
  }
}

// ---------------------------------------------------------------- prefill

constexpr int flash_rows = 64;  // query rows per block (16 per warp)
constexpr int flash_keys = 64;  // keys per streamed tile
constexpr int flash_threads = 128;

template <int D>
constexpr int flash_smem_bytes() {
  return (flash_rows + 4 * flash_keys) * tile_pitch<D> * 2;  // Q, 2 stages of K and of V
}

/// One block: 64 query rows of one (batch, head). grid (ceil(seq_q / 64), batch * heads).
template <class T, int D, bool Causal>
__global__ void __launch_bounds__(flash_threads) flash_attention_kernel(AttentionArgs a) {
  constexpr int P = tile_pitch<D>, BM = flash_rows, BN = flash_keys;
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  T* sq = reinterpret_cast<T*>(smem_bytes);
  T* sk = sq + BM * P;
  T* sv = sk + 2 * BN * P;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const i64 bh = blockIdx.y, group = a.heads / a.kv_heads;
  const i64 kvh = (bh / a.heads) * a.kv_heads + (bh % a.heads) / group;
  // Causal: the query tiles with the most key tiles start first.
  const i64 q0 = static_cast<i64>(Causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x) * BM;
  const T* q = static_cast<const T*>(a.q) + bh * a.seq_q * D;
  const T* k = static_cast<const T*>(a.k) + kvh * a.seq_kv * D;
  const T* v = static_cast<const T*>(a.v) + kvh * a.seq_kv * D;
  const i64 offset = a.seq_kv - a.seq_q;
  i64 key_end = a.seq_kv;
  if (Causal) {
    const i64 last_q = (q0 + BM < a.seq_q ? q0 + BM : a.seq_q) - 1;
    key_end = last_q + offset + 1 < key_end ? last_q + offset + 1 : key_end;
  }
  const int tiles = key_end > 0 ? static_cast<int>((key_end + BN - 1) / BN) : 0;

  load_tile<T, D>(sq, q, q0, a.seq_q, BM, tid, flash_threads);
  if (tiles > 0) {
    load_tile<T, D>(sk, k, 0, a.seq_kv, BN, tid, flash_threads);
    load_tile<T, D>(sv, v, 0, a.seq_kv, BN, tid, flash_threads);
  }
  cp_async_commit();

  float o[D / 8][4];
#pragma unroll
  for (int d = 0; d < D / 8; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const i64 wq0 = q0 + warp * 16;  // this warp's first query
  const T* wq = sq + warp * 16 * P;

  for (int j = 0; j < tiles; ++j) {
    const int stage = j & 1;
    if (j + 1 < tiles) {
      load_tile<T, D>(sk + (stage ^ 1) * BN * P, k, static_cast<i64>(j + 1) * BN, a.seq_kv, BN, tid, flash_threads);
      load_tile<T, D>(sv + (stage ^ 1) * BN * P, v, static_cast<i64>(j + 1) * BN, a.seq_kv, BN, tid, flash_threads);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    float s[BN / 8][4];
    qk_tile<T, D, BN>(s, wq, sk + stage * BN * P, lane);
    const i64 k0 = static_cast<i64>(j) * BN;
    if (k0 + BN > a.seq_kv || (Causal && k0 + BN - 1 > wq0 + offset))
      mask_tile<BN>(s, wq0, k0, a.seq_kv, Causal, offset, lane, [](i64 r) { return r; });
    softmax_tile<BN, D>(s, m, l, o, a.scale_log2);
    pv_tile<T, D, BN>(o, s, sv + stage * BN * P, lane);
    __syncthreads();  // the stage just read is where the next iteration loads
  }
  cp_async_wait<0>();
  __syncthreads();

  // Normalise and stage this warp's 16 rows through its own Q rows, then 16-byte stores.
  quad_sum(l);
  T* so = sq + warp * 16 * P;
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const float inv = l[hr] > 0.f ? 1.f / l[hr] : 0.f;
#pragma unroll
    for (int d = 0; d < D / 8; ++d)
      *reinterpret_cast<std::uint32_t*>(so + (lane / 4 + 8 * hr) * P + d * 8 + (lane % 4) * 2) =
          pack2<T>(o[d][2 * hr] * inv, o[d][2 * hr + 1] * inv);
  }
  __syncwarp();
  T* out = static_cast<T*>(a.o) + bh * a.seq_q * D;
  for (int c = lane; c < 16 * (D / 8); c += 32) {
    const int r = c / (D / 8), col = (c % (D / 8)) * 8;
    if (wq0 + r < a.seq_q)
      *reinterpret_cast<uint4*>(out + (wq0 + r) * D + col) = *reinterpret_cast<const uint4*>(so + r * P + col);
  }
}

// ---------------------------------------------------------------- decode

constexpr int decode_keys = 16;  // keys per warp tile
constexpr int decode_warps = 4;

template <int D>
constexpr int decode_smem_bytes() {
  // Q tile, then per warp two stages of K and V tiles; after the loop the K/V
  // area holds each warp's partial output (16 x D floats) and the Q area is unused.
  return (16 + decode_warps * 4 * decode_keys) * tile_pitch<D> * 2;
}

/// One block: up to 16 query rows of one (batch, KV head) group (its heads'
/// queries: the rows are contiguous in Q and O) against one chunk of the KV
/// cache; its four warps take interleaved 16-key tiles of the chunk, each
/// with its own two-stage cp.async pipeline, and merge their partial softmax
/// states at the end. With one split the result is final; otherwise partial
/// (o unnormalised, m, l) go to the workspace for decode_combine_kernel.
/// grid (splits, ceil(rows / 16), batch * kv_heads), rows = heads / kv_heads * seq_q.
template <class T, int D>
__global__ void __launch_bounds__(decode_warps * 32) decode_attention_kernel(AttentionArgs a) {
  constexpr int P = tile_pitch<D>, NK = decode_keys;
  extern __shared__ __align__(16) unsigned char smem_bytes[];
  __shared__ float warp_ml[decode_warps][16][2];
  T* sq = reinterpret_cast<T*>(smem_bytes);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  T* wk = sq + 16 * P + warp * 4 * NK * P;  // this warp's K stages, then V stages
  T* wv = wk + 2 * NK * P;
  const i64 group = a.heads / a.kv_heads, rows = group * a.seq_q, bg = blockIdx.z;
  const i64 r0 = static_cast<i64>(blockIdx.y) * 16;
  const i64 row_base = bg * rows;  // (b, g) first row in Q/O: ((b * heads + g * group) * seq_q)
  const T* q = static_cast<const T*>(a.q) + row_base * D;
  const T* k = static_cast<const T*>(a.k) + bg * a.seq_kv * D;
  const T* v = static_cast<const T*>(a.v) + bg * a.seq_kv * D;
  const i64 c0 = static_cast<i64>(blockIdx.x) * a.chunk;
  const i64 c1 = c0 + a.chunk < a.seq_kv ? c0 + a.chunk : a.seq_kv;
  const int tiles = static_cast<int>((c1 - c0 + NK - 1) / NK);
  const i64 offset = a.seq_kv - a.seq_q;
  const i64 seq_q = a.seq_q;
  auto query_of = [seq_q](i64 r) { return r % seq_q; };

  load_tile<T, D>(sq, q, r0, rows, 16, tid, decode_warps * 32);
  cp_async_commit();
  int t = warp;
  if (t < tiles) {
    load_tile<T, D>(wk, k, c0 + static_cast<i64>(t) * NK, c1, NK, lane, 32);
    load_tile<T, D>(wv, v, c0 + static_cast<i64>(t) * NK, c1, NK, lane, 32);
  }
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();  // Q is shared by all warps

  float o[D / 8][4];
#pragma unroll
  for (int d = 0; d < D / 8; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  for (int stage = 0; t < tiles; t += decode_warps, stage ^= 1) {
    if (t + decode_warps < tiles) {
      const i64 next = c0 + static_cast<i64>(t + decode_warps) * NK;
      load_tile<T, D>(wk + (stage ^ 1) * NK * P, k, next, c1, NK, lane, 32);
      load_tile<T, D>(wv + (stage ^ 1) * NK * P, v, next, c1, NK, lane, 32);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncwarp();
    float s[NK / 8][4];
    qk_tile<T, D, NK>(s, sq, wk + stage * NK * P, lane);
    const i64 k0 = c0 + static_cast<i64>(t) * NK;
    // rows of the first query see the fewest keys: offset + 1
    if (k0 + NK > c1 || (a.causal && k0 + NK > offset + 1))
      mask_tile<NK>(s, r0, k0, c1, a.causal, offset, lane, query_of);
    softmax_tile<NK, D>(s, m, l, o, a.scale_log2);
    pv_tile<T, D, NK>(o, s, wv + stage * NK * P, lane);
    __syncwarp();  // the stage just read is where the next iteration loads
  }
  cp_async_wait<0>();
  quad_sum(l);
  __syncthreads();  // every warp is done with its tiles: reuse the K/V area

  // Each warp's partial state to shared memory: o as floats over its own K/V area.
  float* wo = reinterpret_cast<float*>(wk);
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const int r = lane / 4 + 8 * hr;
#pragma unroll
    for (int d = 0; d < D / 8; ++d) {
      wo[r * D + d * 8 + (lane % 4) * 2] = o[d][2 * hr];
      wo[r * D + d * 8 + (lane % 4) * 2 + 1] = o[d][2 * hr + 1];
    }
    if (lane % 4 == 0) {
      warp_ml[warp][r][0] = m[hr];
      warp_ml[warp][r][1] = l[hr];
    }
  }
  __syncthreads();

  const bool final = gridDim.x == 1;
  const i64 total_rows = static_cast<i64>(gridDim.z) * rows;
  for (int c = tid; c < 16 * D; c += decode_warps * 32) {
    const int r = c / D, d = c % D;
    if (r0 + r >= rows) continue;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < decode_warps; ++w) mx = fmaxf(mx, warp_ml[w][r][0]);
    float sum = 0.f, acc = 0.f;
#pragma unroll
    for (int w = 0; w < decode_warps; ++w) {
      const float f = mx == -INFINITY ? 0.f : exp2f((warp_ml[w][r][0] - mx) * a.scale_log2);
      sum += warp_ml[w][r][1] * f;
      acc += reinterpret_cast<const float*>(sq + 16 * P + w * 4 * NK * P)[r * D + d] * f;
    }
    const i64 row = row_base + r0 + r;
    if (final) {
      static_cast<T*>(a.o)[row * D + d] = from_acc<T>(sum > 0.f ? acc / sum : 0.f);
    } else {
      float* part = a.partial + (static_cast<i64>(blockIdx.x) * total_rows + row) * (D + 2);
      part[d] = acc;
      if (d == 0) {
        part[D] = mx;
        part[D + 1] = sum;
      }
    }
  }
}

/// Merges the splits of decode_attention_kernel: one warp per output row.
template <class T, int D>
__global__ void __launch_bounds__(128) decode_combine_kernel(AttentionArgs a, i64 total_rows) {
  constexpr int E = (D + 31) / 32;  // elements per lane
  const i64 row = (static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= total_rows) return;
  auto part = [&](int s) { return a.partial + (static_cast<i64>(s) * total_rows + row) * (D + 2); };
  float mx = -INFINITY;
  for (int s = 0; s < a.splits; ++s) mx = fmaxf(mx, part(s)[D]);
  float sum = 0.f, acc[E] = {};
  for (int s = 0; s < a.splits; ++s) {
    const float* ps = part(s);
    const float f = mx == -INFINITY ? 0.f : exp2f((ps[D] - mx) * a.scale_log2);
    sum += ps[D + 1] * f;
#pragma unroll
    for (int e = 0; e < E; ++e)
      if (lane + 32 * e < D) acc[e] += ps[lane + 32 * e] * f;
  }
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  T* out = static_cast<T*>(a.o) + row * D;
#pragma unroll
  for (int e = 0; e < E; ++e)
    if (lane + 32 * e < D) out[lane + 32 * e] = from_acc<T>(acc[e] * inv);
}

// ---------------------------------------------------------------- host side

template <class T, int D>
cudaError_t launch_flash(const AttentionArgs& a, cudaStream_t stream) {
  constexpr int smem = flash_smem_bytes<D>();
  const dim3 grid(static_cast<unsigned>((a.seq_q + flash_rows - 1) / flash_rows),
                  static_cast<unsigned>(a.batch * a.heads));
  auto kernel = a.causal ? flash_attention_kernel<T, D, true> : flash_attention_kernel<T, D, false>;
  // Above 48 KB a kernel must opt in to its dynamic shared memory (a host-side
  // attribute, allowed while a stream is being captured into a graph).
  if (const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)) return e;
  kernel<<<grid, flash_threads, smem, stream>>>(a);
  return cudaGetLastError();
}

template <class T, int D>
cudaError_t launch_decode(const AttentionArgs& a, cudaStream_t stream) {
  constexpr int smem = decode_smem_bytes<D>();
  const i64 rows = a.heads / a.kv_heads * a.seq_q;
  const dim3 grid(static_cast<unsigned>(a.splits), static_cast<unsigned>((rows + 15) / 16),
                  static_cast<unsigned>(a.batch * a.kv_heads));
  if (const cudaError_t e =
          cudaFuncSetAttribute(decode_attention_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem))
    return e;
  decode_attention_kernel<T, D><<<grid, decode_warps * 32, smem, stream>>>(a);
  if (const cudaError_t e = cudaGetLastError()) return e;
  if (a.splits == 1) return cudaSuccess;
  const i64 total_rows = a.batch * a.heads * a.seq_q;
  decode_combine_kernel<T, D><<<grid_for(total_rows * 32, 128), 128, 0, stream>>>(a, total_rows);
  return cudaGetLastError();
}

/// Calls f(T{}, std::integral_constant<int, D>{}) for the fp16/bf16 type and a supported head_dim.
template <class F>
cudaError_t dispatch_attention(DType t, i64 head_dim, F&& f) {
  auto with_d = [&](auto tag) -> cudaError_t {
    switch (head_dim) {
      case 32: return f(tag, std::integral_constant<int, 32>{});
      case 64: return f(tag, std::integral_constant<int, 64>{});
      case 96: return f(tag, std::integral_constant<int, 96>{});
      case 128: return f(tag, std::integral_constant<int, 128>{});
      default: return cudaErrorInvalidValue;
    }
  };
  if (t == DType::bf16) return with_d(__nv_bfloat16{});
  if (t == DType::f16) return with_d(__half{});
  return cudaErrorInvalidValue;
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
