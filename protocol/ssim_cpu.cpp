// srbench's fused CPU SSIM against a precomputed HR side, built at first use by protocol/ssim_cpu.py.
//
// For one image: x (H, W) the SR's float64 Y, y (H, W) the HR's, mu_y and sq_y ((H-K+1) x (W-K+1)) the
// HR's Gaussian-filtered Y and Y^2 over the valid region, g the K taps of the 1-D Gaussian. Returns the
// sum of the SSIM map (Wang et al. 2004; population variances; no padding), exactly the quantity of
// protocol.metrics.ssim_against, in another order of float64 operations.
//
// Per output row: a vertical pass filters x, x^2 and x*y over the K input rows into three row buffers,
// a horizontal pass filters those, and the map's values are summed. Both passes are loops along the
// row (the unit stride), which the compiler vectorises. Rows are grouped in fixed blocks whose partial
// sums are added in block order, so the result does not depend on the number of threads.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace {

constexpr int64_t kRowsPerBlock = 16;

double ssim_sum(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& mu_y,
                const torch::Tensor& sq_y, const torch::Tensor& g, double c1, double c2) {
  TORCH_CHECK(x.dtype() == torch::kFloat64 && y.dtype() == torch::kFloat64, "x and y must be float64");
  TORCH_CHECK(x.is_contiguous() && y.is_contiguous() && mu_y.is_contiguous() && sq_y.is_contiguous() &&
                  g.is_contiguous(), "inputs must be contiguous");
  TORCH_CHECK(x.dim() == 2 && x.sizes() == y.sizes(), "x and y must be (H, W) of one shape");
  const int64_t H = x.size(0), W = x.size(1), K = g.size(0);
  const int64_t h = H - K + 1, w = W - K + 1;
  TORCH_CHECK(h > 0 && w > 0, "the image is smaller than the window");
  TORCH_CHECK(mu_y.size(0) == h && mu_y.size(1) == w && sq_y.sizes() == mu_y.sizes(),
              "mu_y and sq_y must be (H-K+1, W-K+1)");
  const double* X = x.data_ptr<double>();
  const double* Y = y.data_ptr<double>();
  const double* MU = mu_y.data_ptr<double>();
  const double* SQ = sq_y.data_ptr<double>();
  const double* G = g.data_ptr<double>();
  const int64_t blocks = (h + kRowsPerBlock - 1) / kRowsPerBlock;
  std::vector<double> partial(blocks, 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<double> vx(W), vxx(W), vxy(W), hx(w), hxx(w), hxy(w);
    for (int64_t b = b0; b < b1; ++b) {
      double acc = 0.0;
      const int64_t r_end = std::min(h, (b + 1) * kRowsPerBlock);
      for (int64_t r = b * kRowsPerBlock; r < r_end; ++r) {
        std::fill(vx.begin(), vx.end(), 0.0);
        std::fill(vxx.begin(), vxx.end(), 0.0);
        std::fill(vxy.begin(), vxy.end(), 0.0);
        for (int64_t i = 0; i < K; ++i) {
          const double gi = G[i];
          const double* xr = X + (r + i) * W;
          const double* yr = Y + (r + i) * W;
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
        const double* __restrict__ my = MU + r * w;
        const double* __restrict__ sy = SQ + r * w;
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
        acc += (s[0] + s[1]) + (s[2] + s[3]);
      }
      partial[b] = acc;
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("ssim_sum", &ssim_sum, "sum of the SSIM map of x against a precomputed HR side");
}
