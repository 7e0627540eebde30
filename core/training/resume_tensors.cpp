// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/resume_tensors.h"

#include "common/error.h"
#include "tensor_io/state_dict.h"

#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <sstream>
#include <type_traits>

namespace psa {

namespace {

// The optimizer's state map is keyed by a string of the TensorImpl address in LibTorch 1.13 and
// by the address itself in 2.x; build whichever key the map has.
template <typename Map>
typename Map::key_type state_key(const Map&, const at::Tensor& p)
{
    using Key = typename Map::key_type;
    if constexpr (std::is_same_v<Key, std::string>) {
        std::ostringstream s;
        s << p.unsafeGetTensorImpl();
        return s.str();
    } else {
        return static_cast<Key>(p.unsafeGetTensorImpl());
    }
}

} // namespace

void append_adamw_state(NamedTensors& out, torch::optim::AdamW& optimizer, const NamedParameters& params)
{
    auto& state = optimizer.state();
    for (const auto& [name, p] : params) {
        const auto it = state.find(state_key(state, p));
        if (it == state.end())
            continue;
        const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        out.emplace_back("optim." + name + ".exp_avg", s.exp_avg().detach().cpu());
        out.emplace_back("optim." + name + ".exp_avg_sq", s.exp_avg_sq().detach().cpu());
        if (s.max_exp_avg_sq().defined())
            out.emplace_back("optim." + name + ".max_exp_avg_sq", s.max_exp_avg_sq().detach().cpu());
        out.emplace_back("optim." + name + ".step", torch::tensor(static_cast<int64_t>(s.step()), torch::kLong));
    }
}

void load_adamw_state(const SafetensorsFile& file, torch::optim::AdamW& optimizer, const NamedParameters& params)
{
    const auto path = file.path().string();
    auto& state = optimizer.state();
    state.clear();
    for (const auto& [name, p] : params) {
        const std::string prefix = "optim." + name + ".";
        if (!file.contains(prefix + "step"))
            continue;
        for (const char* part : {"exp_avg", "exp_avg_sq"})
            if (!file.contains(prefix + part))
                throw ModelLoadError(path_message(path, "no " + prefix + part));
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(file.tensor(prefix + "step").item<int64_t>());
        const auto like = [&](const std::string& key) {
            const auto t = file.tensor(key);
            if (t.sizes() != p.sizes())
                throw ModelLoadError(path_message(path, key + " is " + shape_string(t.sizes()) + ", the parameter " +
                                                            shape_string(p.sizes())));
            return t.to(p.device(), p.scalar_type()).clone();
        };
        s->exp_avg(like(prefix + "exp_avg"));
        s->exp_avg_sq(like(prefix + "exp_avg_sq"));
        if (file.contains(prefix + "max_exp_avg_sq"))
            s->max_exp_avg_sq(like(prefix + "max_exp_avg_sq"));
        state[state_key(state, p)] = std::move(s);
    }
}

void append_random_state(NamedTensors& out, at::Generator& generator, const std::vector<int64_t>& order)
{
    {
        std::lock_guard<std::mutex> lock(generator.mutex());
        out.emplace_back("rng.torch_cpu", generator.get_state().clone());
    }
    out.emplace_back("data.order", torch::tensor(order, torch::kLong));
}

void load_random_state(const SafetensorsFile& file, at::Generator& generator, std::vector<int64_t>& order)
{
    if (!file.contains("rng.torch_cpu") || !file.contains("data.order"))
        throw ModelLoadError(
            path_message(file.path().string(), "no random-number state (rng.torch_cpu, data.order)"));
    {
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_state(file.tensor("rng.torch_cpu").clone());
    }
    const auto ord = file.tensor("data.order").to(torch::kLong).contiguous();
    order.assign(ord.data_ptr<int64_t>(), ord.data_ptr<int64_t>() + ord.numel());
}

} // namespace psa
