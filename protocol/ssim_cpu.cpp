// srbench's fused CPU scoring kernel, built at first use by protocol/ssim_cpu.py.
//
// y_u8 makes the float64 Y of a uint8 RGB image's border-cropped region. scores_u8 makes the SR's Y the
// same way, a block of rows at a time, and returns the sum of squared Y errors against the HR's Y and the
// sum of the SSIM map (Wang et al. 2004; 11-tap Gaussian; population variances; no padding) against the
// HR's Gaussian-filtered Y and Y^2: what protocol.metrics.psnr_ssim_y_against computes, in another order
// of float64 operations.
//
// Per output row: a vertical pass filters x, x^2 and x*y over the K input rows into three row buffers,
// a horizontal pass filters those, and the map's values are summed. Both passes are loops along the
// row (the unit stride), which the compiler vectorises. Rows are grouped in fixed blocks whose partial
// sums are added in block order, so the result does not depend on the number of threads.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t kRowsPerBlock = 16;

// One row of Y from uint8 R, G, B: the one place both sides' Y are made when the kernel scores (the HR
// side's by y_u8, the SR's inside scores_u8), so identical images give identical Y and an infinite PSNR.
inline void y_row(const uint8_t* __restrict__ R, const uint8_t* __restrict__ Gc, const uint8_t* __restrict__ B,
                  double* __restrict__ o, int64_t W, double w0, double w1, double w2, double offset) {
  for (int64_t c = 0; c < W; ++c) {
    double v = static_cast<double>(R[c]) * w0;
    v = std::fma(static_cast<double>(Gc[c]), w1, v);
    v = std::fma(static_cast<double>(B[c]), w2, v);
    o[c] = v + offset;
  }
}

// The float64 Y of the border-cropped region of a uint8 RGB image (3, Hs, Ws).
torch::Tensor y_u8(const torch::Tensor& img, int64_t border, double w0, double w1, double w2, double offset) {
  TORCH_CHECK(img.dtype() == torch::kUInt8 && img.dim() == 3 && img.size(0) == 3 && img.is_contiguous(),
              "img must be a contiguous uint8 (3, H, W) tensor");
  const int64_t Hs = img.size(1), Ws = img.size(2), H = Hs - 2 * border, W = Ws - 2 * border;
  TORCH_CHECK(H > 0 && W > 0, "the image is too small for the border");
  auto out = torch::empty({H, W}, torch::kFloat64);
  const uint8_t* S = img.data_ptr<uint8_t>();
  double* O = out.data_ptr<double>();
  const int64_t plane = Hs * Ws;
  at::parallel_for(0, H, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t off = (r + border) * Ws + border;
      y_row(S + off, S + plane + off, S + 2 * plane + off, O + r * W, W, w0, w1, w2, offset);
    }
  });
  return out;
}

// The vertical pass of one output row: x, x^2 and x*y filtered over the K rows from x0 and y0 down.
inline void vertical(const double* x0, const double* y0, int64_t W, const double* G, int64_t K,
                     std::vector<double>& vx, std::vector<double>& vxx, std::vector<double>& vxy) {
  std::fill(vx.begin(), vx.end(), 0.0);
  std::fill(vxx.begin(), vxx.end(), 0.0);
  std::fill(vxy.begin(), vxy.end(), 0.0);
  for (int64_t i = 0; i < K; ++i) {
    const double gi = G[i];
    const double* __restrict__ xr = x0 + i * W;
    const double* __restrict__ yr = y0 + i * W;
    double* __restrict__ a = vx.data();
    double* __restrict__ aa = vxx.data();
    double* __restrict__ ab = vxy.data();
    for (int64_t c = 0; c < W; ++c) {
      const double xv = xr[c];
      a[c] += gi * xv;
      aa[c] += gi * (xv * xv);
      ab[c] += gi * (xv * yr[c]);
    }
  }
}

// The horizontal pass over one row's vertically filtered x, x^2, x*y, then the sum of that row of the
// SSIM map (the HR side's filtered mean and second moment of the row given).
double row_ssim(const std::vector<double>& vx, const std::vector<double>& vxx, const std::vector<double>& vxy,
                std::vector<double>& hx, std::vector<double>& hxx, std::vector<double>& hxy, const double* G,
                int64_t K, int64_t w, const double* __restrict__ my, const double* __restrict__ sy, double c1,
                double c2) {
  std::fill(hx.begin(), hx.end(), 0.0);
  std::fill(hxx.begin(), hxx.end(), 0.0);
  std::fill(hxy.begin(), hxy.end(), 0.0);
  for (int64_t j = 0; j < K; ++j) {
    const double gj = G[j];
    const double* __restrict__ a = vx.data() + j;
    const double* __restrict__ aa = vxx.data() + j;
    const double* __restrict__ ab = vxy.data() + j;
    double* __restrict__ o = hx.data();
    double* __restrict__ oo = hxx.data();
    double* __restrict__ ob = hxy.data();
    for (int64_t c = 0; c < w; ++c) {
      o[c] += gj * a[c];
      oo[c] += gj * aa[c];
      ob[c] += gj * ab[c];
    }
  }
  double* __restrict__ map = hx.data();  // the map overwrites the filtered mean, in place
  for (int64_t c = 0; c < w; ++c) {
    const double mx = hx[c], muy = my[c];
    const double mxy = mx * muy;
    const double msq = mx * mx + muy * muy;
    const double num = (2.0 * mxy + c1) * (2.0 * (hxy[c] - mxy) + c2);
    const double den = (msq + c1) * ((hxx[c] + sy[c]) - msq + c2);
    map[c] = num / den;
  }
  // four running sums in a fixed order (a strict sum in one register would bound the loop)
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t c = 0;
  for (; c + 4 <= w; c += 4) {
    s[0] += map[c];
    s[1] += map[c + 1];
    s[2] += map[c + 2];
    s[3] += map[c + 3];
  }
  for (; c < w; ++c) s[0] += map[c];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Y PSNR and SSIM of a uint8 RGB SR (3, Hs, Ws) against the HR side, in one pass: the SR's Y of the
// border-cropped region is computed here (y = w0 R + w1 G + w2 B + offset, in float64, as
// protocol.metrics.y_channel), a block of rows at a time into a per-thread buffer, never as a whole
// image. Returns (sum of squared Y errors, sum of the SSIM map).
std::vector<double> scores_u8(const torch::Tensor& sr, const torch::Tensor& y, const torch::Tensor& mu_y,
                              const torch::Tensor& sq_y, const torch::Tensor& g, int64_t border, double w0,
                              double w1, double w2, double offset, double c1, double c2) {
  TORCH_CHECK(sr.dtype() == torch::kUInt8 && sr.dim() == 3 && sr.size(0) == 3 && sr.is_contiguous(),
              "sr must be a contiguous uint8 (3, H, W) tensor");
  TORCH_CHECK(y.dtype() == torch::kFloat64 && y.is_contiguous() && mu_y.is_contiguous() && sq_y.is_contiguous() &&
                  g.is_contiguous(), "the HR side must be contiguous float64");
  const int64_t Hs = sr.size(1), Ws = sr.size(2);
  const int64_t H = y.size(0), W = y.size(1), K = g.size(0);
  TORCH_CHECK(H == Hs - 2 * border && W == Ws - 2 * border, "sr does not fit the HR reference");
  const int64_t h = H - K + 1, w = W - K + 1;
  TORCH_CHECK(h > 0 && w > 0 && mu_y.size(0) == h && mu_y.size(1) == w && sq_y.sizes() == mu_y.sizes(),
              "mu_y and sq_y must be (H-K+1, W-K+1)");
  const uint8_t* S = sr.data_ptr<uint8_t>();
  const double* Y = y.data_ptr<double>();
  const double* MU = mu_y.data_ptr<double>();
  const double* SQ = sq_y.data_ptr<double>();
  const double* G = g.data_ptr<double>();
  const int64_t plane = Hs * Ws;
  const int64_t blocks = (h + kRowsPerBlock - 1) / kRowsPerBlock;
  std::vector<double> part_ssim(blocks, 0.0), part_sse(blocks, 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<double> ys((kRowsPerBlock + K - 1) * W);
    std::vector<double> vx(W), vxx(W), vxy(W), hx(w), hxx(w), hxy(w);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * kRowsPerBlock, r_end = std::min(h, r0 + kRowsPerBlock);
      const int64_t rows = r_end - r0 + K - 1;  // the Y rows this block's output rows read
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t off = (r0 + i + border) * Ws + border;
        const uint8_t* __restrict__ R = S + off;
        const uint8_t* __restrict__ Gc = S + plane + off;
        const uint8_t* __restrict__ B = S + 2 * plane + off;
        double* __restrict__ o = ys.data() + i * W;
        y_row(R, Gc, B, o, W, w0, w1, w2, offset);
      }
      // squared errors of the rows this block owns: its output rows; the last block also the K-1 below
      const int64_t own_end = (b == blocks - 1) ? rows : (r_end - r0);
      double sse = 0.0;
      for (int64_t i = 0; i < own_end; ++i) {
        const double* a = ys.data() + i * W;
        const double* yr = Y + (r0 + i) * W;
        double s4[4] = {0.0, 0.0, 0.0, 0.0};
        int64_t c = 0;
        for (; c + 4 <= W; c += 4) {
          for (int k = 0; k < 4; ++k) {
            const double d = a[c + k] - yr[c + k];
            s4[k] += d * d;
          }
        }
        for (; c < W; ++c) {
          const double d = a[c] - yr[c];
          s4[0] += d * d;
        }
        sse += (s4[0] + s4[1]) + (s4[2] + s4[3]);
      }
      part_sse[b] = sse;
      double acc = 0.0;
      for (int64_t r = r0; r < r_end; ++r) {
        vertical(ys.data() + (r - r0) * W, Y + r * W, W, G, K, vx, vxx, vxy);
        acc += row_ssim(vx, vxx, vxy, hx, hxx, hxy, G, K, w, MU + r * w, SQ + r * w, c1, c2);
      }
      part_ssim[b] = acc;
    }
  });
  double sse = 0.0, total = 0.0;
  for (int64_t b = 0; b < blocks; ++b) {
    sse += part_sse[b];
    total += part_ssim[b];
  }
  return {sse, total};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("y_u8", &y_u8, "the float64 Y of a uint8 RGB image's border-cropped region");
  m.def("scores_u8", &scores_u8, "(sum of squared Y errors, sum of the SSIM map) of a uint8 RGB SR");
}
