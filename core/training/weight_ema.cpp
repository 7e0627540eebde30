// SPDX-License-Identifier: GPL-3.0-or-later
#include "training/weight_ema.h"

#include "common/error.h"

#include <torch/torch.h>

#include <algorithm>

namespace psa {

WeightEma::WeightEma(const std::vector<std::pair<std::string, at::Tensor>>& sources, double decay) : decay_(decay)
{
    torch::NoGradGuard no_grad;
    for (const auto& [name, p] : sources) {
        shadows_.emplace_back(name, p.detach().clone());
        sources_.push_back(p);
    }
}

double WeightEma::decay_at(int updates_done) const
{
    return std::min(decay_, (1.0 + updates_done) / (10.0 + updates_done));
}

void WeightEma::update(int updates_done)
{
    torch::NoGradGuard no_grad;
    const double d = decay_at(updates_done);
    for (size_t i = 0; i < shadows_.size(); ++i)
        shadows_[i].second.mul_(d).add_(sources_[i].detach(), 1.0 - d);
}

void WeightEma::append_to(NamedTensors& out) const
{
    for (const auto& [name, t] : shadows_)
        out.emplace_back(name, t.detach());
}

void WeightEma::load_from(const StateDict& stored, const std::string& file)
{
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : shadows_) {
        const auto it = stored.find(name);
        if (it == stored.end())
            throw ModelLoadError(path_message(file, "no " + name + " (the EMA weights)"));
        if (it->second.sizes() != t.sizes())
            throw ModelLoadError(path_message(file, name + " (the EMA weights) has another shape than the parameter"));
        t.copy_(it->second);
    }
}

WeightEma::SwappedIn::SwappedIn(WeightEma& ema) : ema_(ema)
{
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < ema_.sources_.size(); ++i) {
        trained_.push_back(ema_.sources_[i].detach().clone());
        ema_.sources_[i].detach().copy_(ema_.shadows_[i].second);
    }
}

WeightEma::SwappedIn::~SwappedIn()
{
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < trained_.size(); ++i)
        ema_.sources_[i].detach().copy_(trained_[i]);
}

} // namespace psa
