// SPDX-License-Identifier: GPL-3.0-or-later
// NumPy 1.24 semantics that diffusers' set_timesteps relies on (numpy/core/function_base.py
// linspace, multiarray arange + DOUBLE_fill, compiled_base.c arr_interp), so that timesteps match
// exactly and sigmas to the last float32 bit.
#include "schedulers/schedule_math.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <cfenv>
#include <cmath>

namespace psa::sched {

std::vector<double> np_linspace(double start, double stop, int num)
{
    std::vector<double> y(static_cast<size_t>(std::max(num, 0)));
    const int div = num - 1;
    if (div <= 0) {
        if (num == 1)
            y[0] = start;
        return y;
    }
    const double delta = stop - start;
    const double step = delta / div;
    for (int i = 0; i < num; ++i)
        y[static_cast<size_t>(i)] =
            (step == 0 ? static_cast<double>(i) / div * delta : static_cast<double>(i) * step) +
            start;
    y.back() = stop;
    return y;
}

std::vector<double> np_arange(double start, double stop, double step)
{
    // Length: ceil((stop - start) / step); values: start + i * ((start + step) - start).
    const double length = std::ceil((stop - start) / step);
    std::vector<double> y;
    if (!(length > 0))
        return y;
    const auto n = static_cast<size_t>(length);
    y.resize(n);
    y[0] = start;
    const double delta = (start + step) - start;
    for (size_t i = 1; i < n; ++i)
        y[i] = start + static_cast<double>(i) * delta;
    return y;
}

double np_round(double x)
{
    // NumPy rounds half to even (rint); nearbyint does that in the default rounding mode.
    return std::nearbyint(x);
}

std::vector<double> np_interp(const std::vector<double>& x, const std::vector<float>& fp)
{
    const auto n = static_cast<long>(fp.size());
    std::vector<double> out;
    out.reserve(x.size());
    for (const double xv : x) {
        if (std::isnan(xv)) {
            out.push_back(xv);
            continue;
        }
        if (xv > static_cast<double>(n - 1)) {
            out.push_back(fp.back());
            continue;
        }
        if (xv < 0.0) {
            out.push_back(fp.front());
            continue;
        }
        const auto j = static_cast<long>(std::floor(xv)); // xp = 0, 1, ..., n-1
        if (j == n - 1 || static_cast<double>(j) == xv) {
            out.push_back(fp[static_cast<size_t>(j)]);
            continue;
        }
        const double y0 = fp[static_cast<size_t>(j)];
        const double y1 = fp[static_cast<size_t>(j + 1)];
        const double slope = (y1 - y0) / (static_cast<double>(j + 1) - static_cast<double>(j));
        double r = slope * (xv - static_cast<double>(j)) + y0;
        if (std::isnan(r)) {
            r = slope * (xv - static_cast<double>(j + 1)) + y1;
            if (std::isnan(r) && y0 == y1)
                r = y0;
        }
        out.push_back(r);
    }
    return out;
}

std::vector<float> train_sigmas(const at::Tensor& alphas_cumprod)
{
    const auto acp = alphas_cumprod.to(torch::kCPU, torch::kFloat32).contiguous();
    const float* a = acp.data_ptr<float>();
    std::vector<float> s(static_cast<size_t>(acp.numel()));
    for (size_t i = 0; i < s.size(); ++i)
        s[i] = std::sqrt((1.0f - a[i]) / a[i]);
    return s;
}

std::vector<float> log_float32(const std::vector<float>& values)
{
    std::vector<float> out(values.size());
    for (size_t i = 0; i < values.size(); ++i)
        out[i] = std::log(values[i]);
    return out;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n)
{
    const double rho = 7.0;
    const auto ramp = np_linspace(0.0, 1.0, n);
    const double min_inv_rho = std::pow(sigma_min, 1.0 / rho);
    const double max_inv_rho = std::pow(sigma_max, 1.0 / rho);
    std::vector<double> out(ramp.size());
    for (size_t i = 0; i < ramp.size(); ++i)
        out[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
    return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas)
{
    // NumPy 1.x value-based casting: the float64 scalar log_sigma meets float32 arrays, so the
    // distances and the weight are float32; only the final blend is float64.
    const double log_sigma = std::log(std::max(sigma, 1e-10));
    const auto ls = static_cast<float>(log_sigma);
    const auto n = static_cast<long>(log_sigmas.size());
    long count = 0, best = 0, low_idx = 0; // argmax(cumsum(dists >= 0)): first index of the max
    for (long k = 0; k < n; ++k) {
        if (ls - log_sigmas[static_cast<size_t>(k)] >= 0.0f)
            ++count;
        if (count > best) {
            best = count;
            low_idx = k;
        }
    }
    low_idx = std::min(low_idx, n - 2);
    const long high_idx = low_idx + 1;
    const float low = log_sigmas[static_cast<size_t>(low_idx)];
    const float high = log_sigmas[static_cast<size_t>(high_idx)];
    float w = (low - ls) / (low - high);
    w = std::clamp(w, 0.0f, 1.0f);
    return static_cast<double>(1.0f - w) * static_cast<double>(low_idx) +
           static_cast<double>(w) * static_cast<double>(high_idx);
}

std::vector<double> spaced_timesteps(const std::string& spacing, int num_train_timesteps, int n,
                                     int steps_offset, bool round_linspace)
{
    std::vector<double> t;
    if (spacing == "linspace") {
        t = np_linspace(0.0, num_train_timesteps - 1.0, n);
        if (round_linspace)
            for (double& v : t)
                v = np_round(v);
        std::reverse(t.begin(), t.end());
    } else if (spacing == "leading") {
        const int ratio = num_train_timesteps / n;
        for (int k = n - 1; k >= 0; --k)
            t.push_back(static_cast<double>(k) * ratio + steps_offset);
    } else if (spacing == "trailing") {
        // For some n (61, 103, ...) NumPy's arange length rounds up and diffusers gets an extra,
        // final timestep of -1 (an out-of-range index); such values are dropped here.
        for (const double v :
             np_arange(num_train_timesteps, 0.0, -static_cast<double>(num_train_timesteps) / n)) {
            const double r = np_round(v) - 1.0;
            if (r >= 0.0)
                t.push_back(r);
        }
    } else {
        throw ConfigError("scheduler config: key 'timestep_spacing': '" + spacing +
                          "' is not supported (expected one of: leading, linspace, trailing)");
    }
    return t;
}

std::string resolve_spacing(const SchedulerConfig& config, const char* class_default)
{
    return config.timestep_spacing.value_or(class_default);
}

at::Tensor tensor_i64(const std::vector<std::int64_t>& values)
{
    return torch::tensor(at::ArrayRef<std::int64_t>(values), torch::kInt64);
}

at::Tensor tensor_f32(const std::vector<float>& values)
{
    return torch::tensor(at::ArrayRef<float>(values), torch::kFloat32);
}

void require_noise(const std::string& scheduler, const at::Tensor& noise, const at::Tensor& x)
{
    if (!noise.defined())
        throw InvalidRequest(scheduler + ": step() needs a noise tensor shaped like the sample " +
                             "(the pipeline draws it from its seeded generator)");
    TORCH_CHECK(noise.sizes() == x.sizes(), scheduler, ": noise must be shaped like the sample ",
                x.sizes(), ", got ", noise.sizes());
}

void unsupported(const std::string& scheduler, const char* key, const std::string& what)
{
    throw ConfigError(scheduler + ": key '" + key + "': " + what);
}

} // namespace psa::sched
