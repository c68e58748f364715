// srbench's fused CPU selective scan (Mamba-1), built at first use by registry/ops/scan_cpu.py.
//
// One work item is (batch b, group g, block of W consecutive channels of that group).  The W channels
// are the SIMD lanes: their N-vector states h[n][w] stay in a small stack buffer while the item walks
// the tokens in tiles of T.  Per tile, dt (bias, softplus), dt*u, B[t, :], C[t, :] are copied into
// contiguous buffers (so any input strides work), then for each token and state n:
//     h[n][w] = exp(max(dt[w] * A[n][w], floor)) * h[n][w] + dt[w] * u[w] * B[t][n]
// (computed as 2^max(dt * A*log2(e), floor*log2(e)))
//     y[w]   += C[t][n] * h[n][w]
// and y = (y + D * u) * silu(z) is written back.  Items run in parallel with at::parallel_for.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <vector>

namespace {

constexpr int64_t kTile = 64;  // tokens per tile

// 2^x for float32, x clamped to [-126, 127] (the result stays a normal number): x = k + f with k an
// integer and |f| <= 1/2, 2^f = 1 + f*q(f) with q of degree 5 fitted for srbench (relative error
// ~1e-7, exact at f = 0, so decays near 1 carry no bias); plain arithmetic, so it vectorises.
inline float fast_exp2(float x) {
  x = std::min(std::max(x, -126.0f), 127.0f);
  const float kr = x + 12582912.0f;  // 1.5 * 2^23: its low mantissa bits are round(x)
  const float k = kr - 12582912.0f;
  const float f = x - k;
  float q = 1.535334886e-04f;
  q = q * f + 1.339887269e-03f;
  q = q * f + 9.618437849e-03f;
  q = q * f + 5.550332367e-02f;
  q = q * f + 2.402264774e-01f;
  q = q * f + 6.931471825e-01f;
  const float p = q * f + 1.0f;
  int32_t kb;
  std::memcpy(&kb, &kr, sizeof(kb));
  const int32_t bits = (kb - 0x4B400000 + 127) << 23;  // 2^k
  float s;
  std::memcpy(&s, &bits, sizeof(s));
  return p * s;
}

constexpr double kLog2e = 1.4426950408889634;

inline float exp_of(float x) { return fast_exp2(x * static_cast<float>(kLog2e)); }
inline double exp_of(double x) { return std::exp(x); }
// exp(x) for x = y * log2(e) already scaled (the decays: A is pre-multiplied by log2(e)).
inline float exp2_of(float x) { return fast_exp2(x); }
inline double exp2_of(double x) { return std::exp2(x); }

// log(x) for float32 x >= 1 (finite): Cephes' logf polynomial after splitting off the exponent.
inline float fast_log(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126);
  bits = (bits & 0x007fffff) | 0x3f000000;  // mantissa in [0.5, 1)
  float m;
  std::memcpy(&m, &bits, sizeof(m));
  const bool lo = m < 0.707106781186547524f;
  e = lo ? e - 1.0f : e;
  m = lo ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += e * -2.12194440e-4f;
  y += -0.5f * z;
  return m + y + e * 0.693359375f;
}

// torch's F.softplus (beta 1, threshold 20).  float32: log1p(e) = log(1 + e) * e / ((1 + e) - 1).
inline float softplus(float x) {
  const float e = exp_of(std::min(x, 20.0f));
  const float u = 1.0f + e, d = u - 1.0f;
  const float l = fast_log(u) * (e / (d == 0.0f ? 1.0f : d));  // computed unconditionally: vectorises
  return x > 20.0f ? x : (d == 0.0f ? e : l);
}
inline double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

struct Strides3 {  // a (batch, D, L) tensor
  int64_t b, d, t;
  explicit Strides3(const at::Tensor& x) : b(x.stride(0)), d(x.stride(1)), t(x.stride(2)) {}
};

// The recurrence over one tile of nt tokens for the W lanes (states h[N][W], updated in place):
// y[t][w] = sum_n C[t][n] * h[n][w] after h[n][w] = 2^max(dt*A2, floor2) * h[n][w] + dt*u * B[t][n].
template <typename S, int W, bool kConstB, bool kConstC>
void recurrence_tile(int64_t nt, int64_t N, const S* Al, S* h, const S* dtl, const S* dul, const S* Bl,
                     const S* Cl, S* yl, S floor2) {
  if constexpr (std::is_same_v<S, float>) {
    // GCC/Clang vector extensions: one lane vector per state n, the sums in registers.
    typedef float vf __attribute__((vector_size(W * sizeof(float))));
    typedef int32_t vi __attribute__((vector_size(W * sizeof(float))));
    auto load = [](const float* p) { vf v; std::memcpy(&v, p, sizeof(v)); return v; };
    auto exp2_poly = [](vf f) {  // 2^f for |f| <= 1/2, as fast_exp2
      vf q = vf{} + 1.535334886e-04f;
      q = q * f + 1.339887269e-03f;
      q = q * f + 9.618437849e-03f;
      q = q * f + 5.550332367e-02f;
      q = q * f + 2.402264774e-01f;
      q = q * f + 6.931471825e-01f;
      return q * f + 1.0f;
    };
    const vf lo = vf{} + floor2, hi = vf{} + 127.0f, magic = vf{} + 12582912.0f;
    for (int64_t t = 0; t < nt; ++t) {
      const vf dtv = load(dtl + t * W), duv = load(dul + t * W);
      vf acc0 = vf{}, acc1 = vf{};
      for (int64_t n = 0; n < N; ++n) {
        vf x = dtv * load(Al + n * W);
        x = x > lo ? x : lo;
        vf e;
#if defined(__AVX512F__)
        if constexpr (W == 16) {  // round and scale by 2^k in one instruction each (scalef: no clamp)
          const __m512 k = _mm512_roundscale_ps((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          e = (vf)_mm512_scalef_ps((__m512)exp2_poly(x - (vf)k), k);
        } else
#endif
        {
          x = x < hi ? x : hi;
          const vf kr = x + magic;  // as fast_exp2
          const vi bits = ((vi)kr - (0x4B400000 - 127)) << 23;
          e = exp2_poly(x - (kr - magic)) * (vf)bits;
        }
        const vf b = kConstB ? load(Bl + n * W) : vf{} + Bl[t * N + n];
        const vf c = kConstC ? load(Cl + n * W) : vf{} + Cl[t * N + n];
        const vf hv = e * load(h + n * W) + duv * b;
        std::memcpy(h + n * W, &hv, sizeof(hv));
        if (n & 1) acc1 += c * hv; else acc0 += c * hv;
      }
      const vf y = acc0 + acc1;
      std::memcpy(yl + t * W, &y, sizeof(y));
    }
  } else {
    for (int64_t t = 0; t < nt; ++t) {
      S acc[W];
      for (int w = 0; w < W; ++w) acc[w] = S(0);
      for (int64_t n = 0; n < N; ++n)
        for (int w = 0; w < W; ++w) {
          const S e = exp2_of(std::max(dtl[t * W + w] * Al[n * W + w], floor2));
          const S b = kConstB ? Bl[n * W + w] : Bl[t * N + n];
          const S c = kConstC ? Cl[n * W + w] : Cl[t * N + n];
          const S hv = e * h[n * W + w] + dul[t * W + w] * b;
          h[n * W + w] = hv;
          acc[w] += c * hv;
        }
      for (int w = 0; w < W; ++w) yl[t * W + w] = acc[w];
    }
  }
}

// tile[t][w] = x[w * s.d + t * s.t] for t < nt, w < nw: the loop along the unit stride innermost.
template <typename S, int W>
void gather(S* tile, const S* x, const Strides3& s, int64_t nt, int nw) {
  if (s.t == 1) {
    for (int w = 0; w < nw; ++w)
      for (int64_t t = 0; t < nt; ++t) tile[t * W + w] = x[w * s.d + t];
  } else if (s.d == 1 && nw == W) {  // token-major, a whole lane block: one vector per token
    for (int64_t t = 0; t < nt; ++t) {
      __builtin_prefetch(x + (t + kTile) * s.t);  // the same row of the next tile
      std::memcpy(tile + t * W, x + t * s.t, W * sizeof(S));
    }
  } else {
    for (int64_t t = 0; t < nt; ++t)
      for (int w = 0; w < nw; ++w) tile[t * W + w] = x[w * s.d + t * s.t];
  }
}

template <typename S, int W>
void scatter(S* x, const Strides3& s, const S* tile, int64_t nt, int nw) {
  if (s.t == 1) {
    for (int w = 0; w < nw; ++w)
      for (int64_t t = 0; t < nt; ++t) x[w * s.d + t] = tile[t * W + w];
  } else if (s.d == 1 && nw == W) {
    for (int64_t t = 0; t < nt; ++t) std::memcpy(x + t * s.t, tile + t * W, W * sizeof(S));
  } else {
    for (int64_t t = 0; t < nt; ++t)
      for (int w = 0; w < nw; ++w) x[w * s.d + t * s.t] = tile[t * W + w];
  }
}

template <typename S, int W, bool kConstB, bool kConstC>
void scan_items(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
                const at::Tensor& C, const at::Tensor* Dv, const at::Tensor* z, const at::Tensor* bias,
                bool use_softplus, S log_floor, int64_t G, at::Tensor& y, at::Tensor* last) {
  const int64_t bsz = u.size(0), dim = u.size(1), L = u.size(2), N = A.size(1);
  const int64_t Dg = dim / G, nblk = (Dg + W - 1) / W;
  const S* up = u.data_ptr<S>();
  const S* dp = delta.data_ptr<S>();
  const S* zp = z ? z->data_ptr<S>() : nullptr;
  const S* Ap = A.data_ptr<S>();  // (D, N) contiguous
  const S* Bp = B.data_ptr<S>();
  const S* Cp = C.data_ptr<S>();
  const S* Dp = Dv ? Dv->data_ptr<S>() : nullptr;
  const S* biasp = bias ? bias->data_ptr<S>() : nullptr;
  S* yp = y.data_ptr<S>();
  S* lastp = last ? last->data_ptr<S>() : nullptr;
  const Strides3 su(u), sdl(delta), sy(y);
  const Strides3 sz = z ? Strides3(*z) : su;
  const S floor2 = log_floor * S(kLog2e);

  at::parallel_for(0, bsz * G * nblk, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> buf(4 * N * W + 2 * W + 5 * kTile * W);
    S* Al = buf.data();          // [N][W] A * log2(e) of the lanes
    S* h = Al + N * W;           // [N][W] states
    S* Dl = h + N * W;           // [W] D
    S* bl = Dl + W;              // [W] delta_bias
    S* dtl = bl + W;             // [T][W] dt
    S* ul = dtl + kTile * W;     // [T][W] u
    S* dul = ul + kTile * W;     // [T][W] dt * u
    S* zl = dul + kTile * W;     // [T][W] z
    S* yl = zl + kTile * W;      // [T][W] output
    S* Bc = yl + kTile * W;      // [N][W] constant B of the lanes
    S* Cc = Bc + N * W;          // [N][W] constant C
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / (G * nblk), g = (item / nblk) % G, j = item % nblk;
      const int64_t d0 = g * Dg + j * W;
      const int nw = static_cast<int>(std::min<int64_t>(W, Dg - j * W));
      std::fill(buf.begin(), buf.end(), S(0));  // lanes past nw stay 0: decay 1, input 0
      for (int w = 0; w < nw; ++w) {
        for (int64_t n = 0; n < N; ++n) {
          Al[n * W + w] = Ap[(d0 + w) * N + n] * S(kLog2e);
          if (kConstB) Bc[n * W + w] = Bp[(d0 + w) * N + n];
          if (kConstC) Cc[n * W + w] = Cp[(d0 + w) * N + n];
        }
        Dl[w] = Dp ? Dp[d0 + w] : S(0);
        bl[w] = biasp ? biasp[d0 + w] : S(0);
      }
      for (int64_t t0 = 0; t0 < L; t0 += kTile) {
        const int64_t nt = std::min(kTile, L - t0);
        gather<S, W>(dtl, dp + b * sdl.b + d0 * sdl.d + t0 * sdl.t, sdl, nt, nw);
        gather<S, W>(ul, up + b * su.b + d0 * su.d + t0 * su.t, su, nt, nw);
        if (zp) gather<S, W>(zl, zp + b * sz.b + d0 * sz.d + t0 * sz.t, sz, nt, nw);
        // B/C of this tile: (batch, G, L, N) contiguous, read in place
        const S* Bt = kConstB ? Bc : Bp + ((b * G + g) * L + t0) * N;
        const S* Ct = kConstC ? Cc : Cp + ((b * G + g) * L + t0) * N;
        for (int64_t t = 0; t < nt; ++t)
          for (int w = 0; w < W; ++w) dtl[t * W + w] += bl[w];
        if (use_softplus)  // (its own loop, no branch inside, so that it vectorises)
          for (int64_t i = 0; i < nt * W; ++i) dtl[i] = softplus(dtl[i]);
        for (int64_t i = 0; i < nt * W; ++i) dul[i] = dtl[i] * ul[i];
        recurrence_tile<S, W, kConstB, kConstC>(nt, N, Al, h, dtl, dul, Bt, Ct, yl, floor2);
        for (int64_t t = 0; t < nt; ++t)
          for (int w = 0; w < W; ++w) yl[t * W + w] += Dl[w] * ul[t * W + w];
        if (zp)
          for (int64_t i = 0; i < nt * W; ++i) yl[i] *= zl[i] / (S(1) + exp_of(-zl[i]));
        scatter<S, W>(yp + b * sy.b + d0 * sy.d + t0 * sy.t, sy, yl, nt, nw);
      }
      if (lastp)
        for (int w = 0; w < nw; ++w)
          for (int64_t n = 0; n < N; ++n) lastp[(b * dim + d0 + w) * N + n] = h[n * W + w];
    }
  });
}

template <typename S, int W>
void dispatch_bc(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
                 const at::Tensor& C, const at::Tensor* Dv, const at::Tensor* z, const at::Tensor* bias,
                 bool sp, S floor, int64_t G, at::Tensor& y, at::Tensor* last) {
  const bool cb = B.dim() == 2, cc = C.dim() == 2;
  if (cb && cc) scan_items<S, W, true, true>(u, delta, A, B, C, Dv, z, bias, sp, floor, G, y, last);
  else if (cb) scan_items<S, W, true, false>(u, delta, A, B, C, Dv, z, bias, sp, floor, G, y, last);
  else if (cc) scan_items<S, W, false, true>(u, delta, A, B, C, Dv, z, bias, sp, floor, G, y, last);
  else scan_items<S, W, false, false>(u, delta, A, B, C, Dv, z, bias, sp, floor, G, y, last);
}

}  // namespace

// u, delta, z, y: (batch, D, L), any strides, one dtype (float32 or float64); A (D, N), D, delta_bias
// (D,), constant B/C (D, N): contiguous; B/C otherwise (batch, G, L, N) contiguous (token-major);
// last: (batch, D, N) contiguous or an empty tensor.  The caller (scan_cpu.py) has checked the shapes and dtypes.
void scan_fwd(at::Tensor u, at::Tensor delta, at::Tensor A, at::Tensor B, at::Tensor C,
              c10::optional<at::Tensor> Dv, c10::optional<at::Tensor> z, c10::optional<at::Tensor> bias,
              bool delta_softplus, double log_floor, int64_t groups, at::Tensor y, at::Tensor last) {
  const at::Tensor* Dp = Dv.has_value() ? &Dv.value() : nullptr;
  const at::Tensor* zp = z.has_value() ? &z.value() : nullptr;
  const at::Tensor* bp = bias.has_value() ? &bias.value() : nullptr;
  at::Tensor* lp = last.numel() ? &last : nullptr;
  if (u.scalar_type() == at::kFloat) {
    dispatch_bc<float, 16>(u, delta, A, B, C, Dp, zp, bp, delta_softplus, static_cast<float>(log_floor),
                           groups, y, lp);
  } else if (u.scalar_type() == at::kDouble) {
    dispatch_bc<double, 8>(u, delta, A, B, C, Dp, zp, bp, delta_softplus, log_floor, groups, y, lp);
  } else {
    TORCH_CHECK(false, "srbench scan_cpu: float32 or float64 only, not ", u.scalar_type());
  }
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scan_fwd", &scan_fwd, "srbench fused CPU selective scan (forward)");
}
