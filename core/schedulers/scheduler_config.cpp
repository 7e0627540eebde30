// SPDX-License-Identifier: GPL-3.0-or-later
// scheduler_config.json reading and the training noise schedule. The beta schedules follow
// diffusers' scheduling_ddim.py / scheduling_pndm.py constructors (v0.30.3) in float32.
#include "schedulers/scheduler_config.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string_view>

namespace psa {

using json = nlohmann::json;

namespace {

// Python's json module writes NaN, Infinity and -Infinity (diffusers' DPM-Solver configs carry
// "lambda_min_clipped": -Infinity). Outside strings, turn those bare tokens into strings that the
// number reader below understands, so that the rest stays strict JSON.
std::string quote_non_finite_tokens(const std::string& text)
{
    static const char* const kTokens[] = {"-Infinity", "Infinity", "NaN"};
    std::string out;
    out.reserve(text.size() + 16);
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < text.size())
                out += text[++i];
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
            continue;
        }
        bool replaced = false;
        for (const char* token : kTokens) {
            const std::string_view t(token);
            if (text.compare(i, t.size(), t) == 0) {
                out += '"';
                out += t;
                out += '"';
                i += t.size() - 1;
                replaced = true;
                break;
            }
        }
        if (!replaced)
            out += c;
    }
    return out;
}

std::string type_of(const json& v)
{
    if (v.is_string())
        return "string " + v.dump();
    if (v.is_boolean())
        return std::string("boolean ") + (v.get<bool>() ? "true" : "false");
    if (v.is_number())
        return "number " + v.dump();
    return std::string(v.type_name());
}

// Reads one key of the config object with its expected type. Absent or null keys keep the default.
class Reader {
public:
    Reader(const json& object, std::string source) : object_(object), source_(std::move(source)) {}

    const json* find(const char* key) const
    {
        const auto it = object_.find(key);
        if (it == object_.end() || it->is_null())
            return nullptr;
        return &*it;
    }

    [[noreturn]] void fail(const char* key, const std::string& expected, const json& got) const
    {
        throw ConfigError(path_message(source_, std::string("key '") + key + "': expected " +
                                                    expected + ", got " + type_of(got)));
    }

    void read(const char* key, int& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_number_integer())
                fail(key, "an integer", *v);
            const auto value = v->get<long long>();
            if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
                fail(key, "an integer in the int range", *v);
            out = static_cast<int>(value);
        }
    }

    void read(const char* key, double& out) const
    {
        if (const json* v = find(key))
            out = number(key, *v);
    }

    void read(const char* key, std::optional<double>& out) const
    {
        if (const json* v = find(key))
            out = number(key, *v);
    }

    void read(const char* key, bool& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_boolean())
                fail(key, "true or false", *v);
            out = v->get<bool>();
        }
    }

    void read(const char* key, std::optional<bool>& out) const
    {
        if (find(key)) {
            bool value = false;
            read(key, value);
            out = value;
        }
    }

    void read(const char* key, std::string& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_string())
                fail(key, "a string", *v);
            out = v->get<std::string>();
        }
    }

    void read(const char* key, std::optional<std::string>& out) const
    {
        if (find(key)) {
            std::string value;
            read(key, value);
            out = value;
        }
    }

    void read(const char* key, std::vector<double>& out) const
    {
        if (const json* v = find(key)) {
            if (!v->is_array())
                fail(key, "an array of numbers or null", *v);
            out.clear();
            for (const auto& e : *v)
                out.push_back(number(key, e));
        }
    }

private:
    double number(const char* key, const json& v) const
    {
        if (v.is_number())
            return v.get<double>();
        if (v.is_string()) {
            const auto s = v.get<std::string>();
            if (s == "Infinity")
                return std::numeric_limits<double>::infinity();
            if (s == "-Infinity")
                return -std::numeric_limits<double>::infinity();
            if (s == "NaN")
                return std::numeric_limits<double>::quiet_NaN();
        }
        fail(key, "a number", v);
    }

    const json& object_;
    std::string source_;
};

void check_one_of(const std::string& source, const char* key, const std::string& value,
                  std::initializer_list<const char*> allowed)
{
    std::string list;
    for (const char* a : allowed) {
        if (value == a)
            return;
        list += list.empty() ? "" : ", ";
        list += a;
    }
    throw ConfigError(path_message(source, std::string("key '") + key + "': '" + value +
                                               "' is not supported (expected one of: " + list +
                                               ")"));
}

} // namespace

SchedulerConfig SchedulerConfig::from_json(const std::filesystem::path& path)
{
    return from_json_text(read_file_text(path), path.string());
}

SchedulerConfig SchedulerConfig::from_json_text(const std::string& text,
                                                const std::string& source_name)
{
    json root;
    try {
        root = json::parse(quote_non_finite_tokens(text));
    } catch (const json::parse_error& e) {
        throw ConfigError(path_message(source_name, std::string("invalid JSON: ") + e.what()));
    }
    if (!root.is_object())
        throw ConfigError(path_message(source_name, "expected a JSON object, got " +
                                                        std::string(root.type_name())));

    SchedulerConfig c;
    const Reader r(root, source_name);
    r.read("_class_name", c.class_name);
    r.read("num_train_timesteps", c.num_train_timesteps);
    r.read("beta_start", c.beta_start);
    r.read("beta_end", c.beta_end);
    r.read("beta_schedule", c.beta_schedule);
    r.read("trained_betas", c.trained_betas);
    r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
    r.read("prediction_type", c.prediction_type);
    r.read("timestep_spacing", c.timestep_spacing);
    r.read("steps_offset", c.steps_offset);
    r.read("set_alpha_to_one", c.set_alpha_to_one);
    r.read("clip_sample", c.clip_sample);
    r.read("clip_sample_range", c.clip_sample_range);
    r.read("thresholding", c.thresholding);
    r.read("skip_prk_steps", c.skip_prk_steps);
    r.read("use_karras_sigmas", c.use_karras_sigmas);
    r.read("final_sigmas_type", c.final_sigmas_type);
    r.read("interpolation_type", c.interpolation_type);
    r.read("timestep_type", c.timestep_type);
    r.read("sigma_min", c.sigma_min);
    r.read("sigma_max", c.sigma_max);
    r.read("solver_order", c.solver_order);
    r.read("algorithm_type", c.algorithm_type);
    r.read("solver_type", c.solver_type);
    r.read("lower_order_final", c.lower_order_final);
    r.read("euler_at_final", c.euler_at_final);
    r.read("use_lu_lambdas", c.use_lu_lambdas);
    r.read("lambda_min_clipped", c.lambda_min_clipped);
    c.validate(source_name);
    return c;
}

SchedulerConfig SchedulerConfig::sd15()
{
    SchedulerConfig c;
    c.class_name = "PNDMScheduler";
    c.num_train_timesteps = 1000;
    c.beta_start = 0.00085;
    c.beta_end = 0.012;
    c.beta_schedule = "scaled_linear";
    c.clip_sample = false;
    c.set_alpha_to_one = false;
    c.skip_prk_steps = true;
    c.steps_offset = 1;
    return c;
}

void SchedulerConfig::validate(const std::string& source) const
{
    auto fail = [&](const char* key, const std::string& what) {
        throw ConfigError(path_message(source, std::string("key '") + key + "': " + what));
    };
    if (num_train_timesteps < 1)
        fail("num_train_timesteps", "must be >= 1, got " + std::to_string(num_train_timesteps));
    if (steps_offset < 0)
        fail("steps_offset", "must be >= 0, got " + std::to_string(steps_offset));
    if (!trained_betas.empty()) {
        if (static_cast<int>(trained_betas.size()) != num_train_timesteps)
            fail("trained_betas", "has " + std::to_string(trained_betas.size()) +
                                      " values, expected num_train_timesteps = " +
                                      std::to_string(num_train_timesteps));
    } else {
        check_one_of(source, "beta_schedule", beta_schedule,
                     {"linear", "scaled_linear", "squaredcos_cap_v2"});
        if (!(beta_start > 0 && beta_end > 0 && beta_start < 1 && beta_end < 1))
            fail("beta_start", "beta_start and beta_end must lie in (0, 1), got " +
                                   std::to_string(beta_start) + " and " + std::to_string(beta_end));
    }
    if (rescale_betas_zero_snr)
        fail("rescale_betas_zero_snr", "true is not supported (zero-terminal-SNR schedules)");
    check_one_of(source, "prediction_type", prediction_type, {"epsilon", "v_prediction"});
    if (timestep_spacing)
        check_one_of(source, "timestep_spacing", *timestep_spacing,
                     {"leading", "linspace", "trailing"});
    check_one_of(source, "final_sigmas_type", final_sigmas_type, {"zero", "sigma_min"});
    check_one_of(source, "solver_type", solver_type, {"midpoint", "heun"});
    if (!(clip_sample_range > 0))
        fail("clip_sample_range", "must be > 0, got " + std::to_string(clip_sample_range));
}

at::Tensor SchedulerConfig::betas() const
{
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    const int n = num_train_timesteps;
    if (!trained_betas.empty())
        return torch::tensor(trained_betas, torch::kFloat64).to(torch::kFloat32);
    if (beta_schedule == "linear")
        return torch::linspace(beta_start, beta_end, n, f32);
    if (beta_schedule == "scaled_linear")
        // Python's `beta_start**0.5` is pow(), not sqrt(); they may differ in the last bit.
        return torch::linspace(std::pow(beta_start, 0.5), std::pow(beta_end, 0.5), n, f32).pow(2);
    if (beta_schedule == "squaredcos_cap_v2") {
        // Nichol & Dhariwal (2021) cosine schedule, diffusers' betas_for_alpha_bar in float64.
        const double pi = 3.14159265358979323846;
        auto alpha_bar = [&](double t) {
            return std::pow(std::cos((t + 0.008) / 1.008 * pi / 2), 2);
        };
        std::vector<double> b(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            const double t1 = static_cast<double>(i) / n;
            const double t2 = static_cast<double>(i + 1) / n;
            b[static_cast<size_t>(i)] = std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999);
        }
        return torch::tensor(b, torch::kFloat64).to(torch::kFloat32);
    }
    throw ConfigError(
        "scheduler config: key 'beta_schedule': '" + beta_schedule +
        "' is not supported (expected one of: linear, scaled_linear, squaredcos_cap_v2)");
}

at::Tensor SchedulerConfig::alphas_cumprod() const
{
    return torch::cumprod(1.0 - betas(), 0);
}

} // namespace psa
