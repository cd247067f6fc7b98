// The native engine's recurrence: the loop over time steps of one layer and one direction, forward and
// backward, for the four cells of rnnlab.cells, with every gate's elementwise work fused into one pass.
//
// Python (native.py) does the two large GEMMs around it: the input's share of all T steps at once,
// xw = x W_ih^T + b (T*B, I) x (I, G*H), before; the weight gradients over all steps at once,
// dW_hh = dgh^T hprev (G*H, T*B) x (T*B, H) and dW_ih = dgx^T x, after. What is left to this file is what
// cannot be batched over time: per step one small GEMM h_{t-1} W_hh^T (B, H) x (H, G*H) and the gates.
//
// Every per-step buffer is indexed by time t (not by processing order), so the reverse direction is the
// same code walking t from T-1 down to 0. Step t is "inside" sequence b when t < lengths[b]; outside, the
// state passes through unchanged and the output is zero (the glass engine's masking, see glass.py).
//
// Gate blocks, in torch.nn's row order (the cells' own files write the same equations in PyTorch):
//   rnn_tanh / rnn_relu  h_t = act(xw_t + W_hh h_{t-1})
//   lstm  i f g o        c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
//   gru   r z n          n_t = tanh(xw_n + r * (W_hn h_{t-1} + b_hn)),  h_t = (1 - z) * n_t + z * h_{t-1}
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

enum Mode : int64_t { RNN_TANH = 0, RNN_RELU = 1, LSTM = 2, GRU = 3 };

int64_t gate_count(int64_t mode) { return mode == LSTM ? 4 : (mode == GRU ? 3 : 1); }

// exp for float as plain arithmetic that the compiler vectorises (std::exp would be a scalar call per
// element): x = n ln2 + r with n rounded by the 1.5 * 2^23 shifter (its low mantissa bits then hold n), a
// degree-6 polynomial for e^r on |r| <= ln2/2, and 2^n put into the exponent bits. Relative error < 1e-7;
// the clamp keeps 2^n a normal float. (floor() or memcpy here would stop GCC 12 vectorising the loops.)
__attribute__((always_inline)) inline float exp_f(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float shifter = 12582912.0f;
  const float t = x * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // ln2 in two parts: n * 0.693359375 is exact
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(shifter) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

template <typename T> inline T sigmoid(T x);
template <> __attribute__((always_inline)) inline float sigmoid<float>(float x) { return 1.0f / (1.0f + exp_f(-x)); }
template <> inline double sigmoid<double>(double x) { return 1.0 / (1.0 + std::exp(-x)); }

template <typename T> inline T tanh_(T x);
// tanh(x) = 1 - 2 / (e^{2x} + 1): absolute error ~1e-7, what float32 keeps of a value near 1 anyway
template <> __attribute__((always_inline)) inline float tanh_<float>(float x) { return 1.0f - 2.0f / (exp_f(2.0f * x) + 1.0f); }
template <> inline double tanh_<double>(double x) { return std::tanh(x); }

// Rows of the batch split between threads; a row is H (times the gates) elements of independent work.
template <typename F> void over_rows(int64_t B, int64_t H, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(H, 1));
  at::parallel_for(0, B, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) f(b);
  });
}

// ---- forward: one step's gates, given gh = h_{t-1} W_hh^T (B, G*H) -------------------------------------

template <typename T>
void forward_step(int64_t mode, int64_t B, int64_t H, const T* xw, const T* gh, const T* b_hn, const T* hprev,
                  const T* cprev, const uint8_t* inside, T* out, T* hnext, T* cnext, T* gates, T* extra) {
  // gates: activated gates of this step, (B, G*H) [lstm, gru]; extra: tanh(c_t) [lstm] or W_hn h + b_hn [gru]
  const int64_t G = gate_count(mode);
  over_rows(B, G * H, [&](int64_t b) {
    const T* x = xw + b * G * H;
    const T* g = gh + b * G * H;
    const T* hp = hprev + b * H;
    T* o = out + b * H;
    T* hn = hnext + b * H;
    if (!inside[b]) {  // past this sequence's end: the state holds, the output is zero
      for (int64_t j = 0; j < H; ++j) { o[j] = T(0); hn[j] = hp[j]; }
      if (mode == LSTM) std::memcpy(cnext + b * H, cprev + b * H, H * sizeof(T));
      return;
    }
    if (mode == RNN_TANH || mode == RNN_RELU) {
      const bool relu = mode == RNN_RELU;
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const T pre = x[j] + g[j];
        const T h = relu ? (pre > T(0) ? pre : T(0)) : tanh_<T>(pre);
        o[j] = h; hn[j] = h;
      }
    } else if (mode == LSTM) {
      const T* cp = cprev + b * H;
      T* cn = cnext + b * H;
      T* a = gates + b * 4 * H;
      T* tc = extra + b * H;
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const T i = sigmoid<T>(x[j] + g[j]);
        const T f = sigmoid<T>(x[H + j] + g[H + j]);
        const T gg = tanh_<T>(x[2 * H + j] + g[2 * H + j]);
        const T og = sigmoid<T>(x[3 * H + j] + g[3 * H + j]);
        const T c = f * cp[j] + i * gg;
        const T t = tanh_<T>(c);
        const T h = og * t;
        a[j] = i; a[H + j] = f; a[2 * H + j] = gg; a[3 * H + j] = og;
        tc[j] = t; cn[j] = c; o[j] = h; hn[j] = h;
      }
    } else {  // GRU
      T* a = gates + b * 3 * H;
      T* hh = extra + b * H;
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const T r = sigmoid<T>(x[j] + g[j]);
        const T z = sigmoid<T>(x[H + j] + g[H + j]);
        const T hpart = g[2 * H + j] + b_hn[j];
        const T n = tanh_<T>(x[2 * H + j] + r * hpart);
        const T h = (T(1) - z) * n + z * hp[j];
        a[j] = r; a[H + j] = z; a[2 * H + j] = n;
        hh[j] = hpart; o[j] = h; hn[j] = h;
      }
    }
  });
}

// ---- backward: one step's pre-activation gradients ------------------------------------------------------

template <typename T>
void backward_step(int64_t mode, int64_t B, int64_t H, const T* dout, const T* dh_in, T* dc_carry,
                   const T* out, const T* hprev, const T* cprev, const T* gates, const T* extra, const uint8_t* inside,
                   T* dgx, T* dgh, T* direct) {
  // dh_in: dL/dh_t through the state (from step t+1); dc_carry: dL/dc_t in, dL/dc_{t-1} out [lstm].
  // dgx: dL/dxw_t (B, G*H); dgh: dL/d(W_hh h_{t-1} [+ b_hh]) (B, G*H), the same as dgx but for gru's n;
  // direct: the part of dL/dh_{t-1} that does not go through W_hh (the GEMM adds dgh W_hh to it).
  const int64_t G = gate_count(mode);
  over_rows(B, G * H, [&](int64_t b) {
    const T* dhi = dh_in + b * H;
    T* dx = dgx + b * G * H;
    T* dg = dgh + b * G * H;
    T* dr = direct + b * H;
    if (!inside[b]) {  // the state passed through; the zero output takes no gradient
      for (int64_t j = 0; j < G * H; ++j) dx[j] = T(0);
      if (dg != dx) for (int64_t j = 0; j < G * H; ++j) dg[j] = T(0);
      std::memcpy(dr, dhi, H * sizeof(T));
      return;  // dc_carry passes through unchanged
    }
    const T* dy = dout ? dout + b * H : nullptr;
    if (mode == RNN_TANH || mode == RNN_RELU) {
      const T* h = out + b * H;
      const bool relu = mode == RNN_RELU;
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const T dh = dhi[j] + (dy ? dy[j] : T(0));
        const T d = relu ? (h[j] > T(0) ? dh : T(0)) : dh * (T(1) - h[j] * h[j]);
        dx[j] = d; dr[j] = T(0);  // dgh is dgx
      }
    } else if (mode == LSTM) {
      const T* a = gates + b * 4 * H;
      const T* tc = extra + b * H;
      const T* cp = cprev + b * H;
      T* dc = dc_carry + b * H;
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const T dh = dhi[j] + (dy ? dy[j] : T(0));
        const T i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], t = tc[j];
        const T c = dc[j] + dh * o * (T(1) - t * t);
        const T di = c * g * i * (T(1) - i);
        const T df = c * cp[j] * f * (T(1) - f);
        const T dgg = c * i * (T(1) - g * g);
        const T dO = dh * t * o * (T(1) - o);
        dx[j] = di; dx[H + j] = df; dx[2 * H + j] = dgg; dx[3 * H + j] = dO;  // dgh is dgx
        dc[j] = c * f; dr[j] = T(0);
      }
    } else {  // GRU
      const T* a = gates + b * 3 * H;
      const T* hh = extra + b * H;
      const T* hp = hprev + b * H;
#pragma GCC ivdep
      for (int64_t j = 0; j < H; ++j) {
        const T dh = dhi[j] + (dy ? dy[j] : T(0));
        const T r = a[j], z = a[H + j], n = a[2 * H + j];
        const T dn = dh * (T(1) - z) * (T(1) - n * n);
        const T dz = dh * (hp[j] - n) * z * (T(1) - z);
        const T dR = dn * hh[j] * r * (T(1) - r);
        dx[j] = dR; dx[H + j] = dz; dx[2 * H + j] = dn;
        dg[j] = dR; dg[H + j] = dz; dg[2 * H + j] = dn * r;
        dr[j] = dh * z;
      }
    }
  });
}

// y = a w^T through MKL's packed GEMM (torch's mkl::_mkl_linear over a weight packed once per call by
// mkl::_mkl_reorder_linear_weight): a step's GEMM is small (B rows) and reuses one weight T times, and an
// unpacked GEMM re-packs that weight on every call. Python passes an empty `packed` where torch has no MKL.
at::Tensor packed_linear(const at::Tensor& a, const at::Tensor& packed, const at::Tensor& w, int64_t rows) {
  static auto op = c10::Dispatcher::singleton()
      .findSchemaOrThrow("mkl::_mkl_linear", "")
      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                        int64_t)>();
  return op.call(a, packed, w, std::nullopt, rows);
}

void check(bool ok, const char* what) { TORCH_CHECK(ok, "rnnlab native engine: ", what); }

// Step order: t = 0..T-1, or T-1..0 for the reverse direction.
inline int64_t step_time(int64_t s, int64_t T, bool reverse) { return reverse ? T - 1 - s : s; }

// inside[t * B + b] = t < lengths[b] (all true without lengths)
std::vector<uint8_t> inside_table(const at::Tensor& lengths, int64_t T, int64_t B) {
  std::vector<uint8_t> inside(T * B, 1);
  if (lengths.numel() > 0) {
    auto len = lengths.contiguous();
    const int64_t* l = len.data_ptr<int64_t>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b) inside[t * B + b] = t < l[b];
  }
  return inside;
}

}  // namespace

// xw (T, B, G*H): x W_ih^T + b, with b_hh folded in except gru's b_hn; h0, c0 (B, H) (c0 lstm only);
// w_hh (G*H, H); w_packed: w_hh packed for MKL, or empty (then a plain GEMM); b_hn (H) gru only;
// lengths (B,) int64. A tensor not given is an empty one.
// Returns [output (T, B, H), h_n, c_n (lstm; else empty), hprev (T, B, H), cprev (T, B, H) (lstm),
//          gates (T, B, G*H) (lstm, gru), extra (T, B, H) (lstm: tanh c_t, gru: W_hn h + b_hn)]
std::vector<at::Tensor> forward(const at::Tensor& xw, const at::Tensor& h0, const at::Tensor& c0,
                                const at::Tensor& w_hh, const at::Tensor& w_packed, const at::Tensor& b_hn,
                                const at::Tensor& lengths, int64_t mode, bool reverse, bool bf16_gemm) {
  check(xw.dim() == 3 && xw.is_contiguous(), "xw must be a contiguous (T, B, G*H) tensor");
  const int64_t T = xw.size(0), B = xw.size(1), G = gate_count(mode), H = w_hh.size(1);
  check(xw.size(2) == G * H && w_hh.size(0) == G * H, "xw and w_hh disagree on G*H");
  check(h0.sizes() == at::IntArrayRef({B, H}) && h0.is_contiguous(), "h0 must be a contiguous (B, H) tensor");
  const bool lstm = mode == LSTM, gru = mode == GRU;
  if (lstm) check(c0.sizes() == h0.sizes() && c0.is_contiguous(), "c0 must match h0");
  auto opts = xw.options();
  auto output = at::empty({T, B, H}, opts);
  auto hprev = at::empty({T, B, H}, opts);
  auto h_n = at::empty({B, H}, opts);
  auto cprev = lstm ? at::empty({T, B, H}, opts) : at::Tensor();
  auto c_n = lstm ? at::empty({B, H}, opts) : at::empty({0}, opts);
  auto gates = (lstm || gru) ? at::empty({T, B, G * H}, opts) : at::empty({0}, opts);
  auto extra = (lstm || gru) ? at::empty({T, B, H}, opts) : at::empty({0}, opts);
  auto gh = at::empty({B, G * H}, opts);
  // (H, G*H) contiguous: a GEMM reading a transposed view was 30 % slower at these sizes
  const auto w_t = w_packed.numel() ? at::Tensor() : w_hh.t().contiguous().to(bf16_gemm ? at::kBFloat16 : w_hh.scalar_type());
  // bf16_gemm (under bf16 autocast): the step's GEMM in bfloat16 (AMX / AVX512-BF16 where the CPU has them),
  // h_{t-1} rounded to bf16 for it as autocast would; the state and the gates stay in float32
  const auto low = opts.dtype(at::kBFloat16);
  auto h_low = bf16_gemm ? at::empty({B, H}, low) : at::Tensor();
  auto gh_low = bf16_gemm ? at::empty({B, G * H}, low) : at::Tensor();
  const auto inside = inside_table(lengths, T, B);
  // the first step's state: h0 copied into its hprev slot (the GEMM and the gates read it from there)
  const int64_t t0 = step_time(0, T, reverse);
  hprev[t0].copy_(h0);
  if (lstm) cprev[t0].copy_(c0);
  AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "rnnlab_native_forward", [&] {
    // gru's b_hn, zeros for a layer without biases (the loop then needs no branch)
    const auto bhn_t = gru ? (b_hn.numel() ? b_hn.contiguous() : at::zeros({H}, opts)) : at::Tensor();
    const scalar_t* bhn = gru ? bhn_t.data_ptr<scalar_t>() : nullptr;
    // raw pointers, offset per step: a Tensor select per buffer and step cost more than a step's gates
    scalar_t* const x0 = xw.data_ptr<scalar_t>();
    scalar_t* const hp0 = hprev.data_ptr<scalar_t>();
    scalar_t* const cp0 = lstm ? cprev.data_ptr<scalar_t>() : nullptr;
    scalar_t* const out0 = output.data_ptr<scalar_t>();
    scalar_t* const gates0 = (lstm || gru) ? gates.data_ptr<scalar_t>() : nullptr;
    scalar_t* const extra0 = (lstm || gru) ? extra.data_ptr<scalar_t>() : nullptr;
    const int64_t BH = B * H, BGH = B * G * H;
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = step_time(s, T, reverse);
      const bool last = s == T - 1;
      const int64_t tn = last ? t : step_time(s + 1, T, reverse);
      const auto h_t = hprev.select(0, t);  // (B, H): the one Tensor a step needs, for the GEMM
      if (bf16_gemm) {
        h_low.copy_(h_t);
        at::mm_out(gh_low, h_low, w_t);
        gh.copy_(gh_low);
      } else if (w_packed.numel()) {
        gh = packed_linear(h_t, w_packed, w_hh, B);  // (B, H) x (H, G*H)
      } else {
        at::mm_out(gh, h_t, w_t);
      }
      scalar_t* hnext = last ? h_n.data_ptr<scalar_t>() : hp0 + tn * BH;
      scalar_t* cnext = lstm ? (last ? c_n.data_ptr<scalar_t>() : cp0 + tn * BH) : nullptr;
      forward_step<scalar_t>(mode, B, H, x0 + t * BGH, gh.data_ptr<scalar_t>(), bhn, hp0 + t * BH,
                             lstm ? cp0 + t * BH : nullptr, inside.data() + t * B, out0 + t * BH, hnext, cnext,
                             gates0 ? gates0 + t * BGH : nullptr, extra0 ? extra0 + t * BH : nullptr);
    }
  });
  return {output, h_n, c_n, hprev, lstm ? cprev : at::empty({0}, opts), gates, extra};
}

// dout (T, B, H); dh_n, dc_n (B, H) (dc_n lstm only); an empty tensor for one not given (zeros).
// wt_packed: W_hh^T (H, G*H) packed for MKL, or empty (then a plain GEMM with W_hh).
// Returns [dgx (T, B, G*H), dgh (T, B, G*H) (the same tensor but for gru), dh0 (B, H), dc0 (B, H) (lstm)].
std::vector<at::Tensor> backward(const at::Tensor& dout, const at::Tensor& dh_n, const at::Tensor& dc_n,
                                 const at::Tensor& output, const at::Tensor& hprev, const at::Tensor& cprev,
                                 const at::Tensor& gates, const at::Tensor& extra, const at::Tensor& w_hh,
                                 const at::Tensor& wt_packed, const at::Tensor& lengths, int64_t mode, bool reverse,
                                 bool bf16_gemm) {
  const int64_t T = hprev.size(0), B = hprev.size(1), H = hprev.size(2), G = gate_count(mode);
  const bool lstm = mode == LSTM, gru = mode == GRU;
  auto opts = hprev.options();
  auto dgx = at::empty({T, B, G * H}, opts);
  auto dgh = gru ? at::empty({T, B, G * H}, opts) : dgx;  // rnn, lstm: W_hh h and W_ih x share a pre-activation
  // the gradient w.r.t. the state entering the next step to run (backward walks the steps in reverse)
  auto dh = dh_n.numel() ? dh_n.contiguous().clone() : at::zeros({B, H}, opts);
  auto dc = lstm ? (dc_n.numel() ? dc_n.contiguous().clone() : at::zeros({B, H}, opts)) : at::Tensor();
  auto direct = at::empty({B, H}, opts);
  const auto w_hh_t = wt_packed.numel() ? w_hh.t().contiguous() : at::Tensor();  // (H, G*H): the packed one's shape
  const auto low = opts.dtype(at::kBFloat16);  // bf16_gemm: the step's GEMM in bfloat16, as in forward
  const auto w_low = bf16_gemm ? w_hh.contiguous().to(at::kBFloat16) : at::Tensor();
  auto dg_low = bf16_gemm ? at::empty({B, G * H}, low) : at::Tensor();
  auto dh_low = bf16_gemm ? at::empty({B, H}, low) : at::Tensor();
  auto dout_c = dout.numel() ? dout.contiguous() : at::Tensor();
  auto inside = inside_table(lengths, T, B);
  AT_DISPATCH_FLOATING_TYPES(hprev.scalar_type(), "rnnlab_native_backward", [&] {
    const scalar_t* const dout0 = dout_c.defined() ? dout_c.data_ptr<scalar_t>() : nullptr;
    const scalar_t* const out0 = output.data_ptr<scalar_t>();
    const scalar_t* const hp0 = hprev.data_ptr<scalar_t>();
    const scalar_t* const cp0 = lstm ? cprev.data_ptr<scalar_t>() : nullptr;
    const scalar_t* const gates0 = (lstm || gru) ? gates.data_ptr<scalar_t>() : nullptr;
    const scalar_t* const extra0 = (lstm || gru) ? extra.data_ptr<scalar_t>() : nullptr;
    scalar_t* const dgx0 = dgx.data_ptr<scalar_t>();
    scalar_t* const dgh0 = dgh.data_ptr<scalar_t>();
    scalar_t* const dc0 = lstm ? dc.data_ptr<scalar_t>() : nullptr;
    scalar_t* const direct0 = direct.data_ptr<scalar_t>();
    const int64_t BH = B * H, BGH = B * G * H;
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = step_time(s, T, reverse);
      backward_step<scalar_t>(mode, B, H, dout0 ? dout0 + t * BH : nullptr, dh.data_ptr<scalar_t>(), dc0,
                              out0 + t * BH, hp0 + t * BH, cp0 ? cp0 + t * BH : nullptr,
                              gates0 ? gates0 + t * BGH : nullptr, extra0 ? extra0 + t * BH : nullptr, inside.data() + t * B,
                              dgx0 + t * BGH, dgh0 + t * BGH, direct0);
      const auto dgh_t = dgh.select(0, t);  // (B, G*H)
      // dL/dh_{t-1} = direct + dgh_t W_hh: (B, G*H) x (G*H, H)
      if (bf16_gemm) {
        dg_low.copy_(dgh_t);
        at::mm_out(dh_low, dg_low, w_low);
        at::add_out(dh, direct, dh_low);
      } else if (wt_packed.numel()) {
        dh = packed_linear(dgh_t, wt_packed, w_hh_t, B).add_(direct);
      } else {
        at::addmm_out(dh, direct, dgh_t, w_hh);
      }
    }
  });
  return {dgx, dgh, dh, lstm ? dc : at::empty({0}, opts)};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "rnnlab's native recurrent engine: the per-step loop of one layer and direction, forward and backward";
  m.def("forward", &forward, "one layer, one direction: the recurrence over precomputed input projections");
  m.def("backward", &backward, "its backward: pre-activation gradients per step, and the initial state's");
}
