// SPDX-License-Identifier: GPL-3.0-or-later
#include "world/judge_net.h"

#include "common/error.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace psa {

int JudgeNetConfig::crop_pixels() const
{
    return std::max(8, static_cast<int>(std::lround(crop * image_size / 4)) * 4);
}

std::string JudgeNetConfig::to_json() const
{
    nlohmann::ordered_json s = nlohmann::ordered_json::array();
    for (const auto& p : slots)
        s.push_back({p[0], p[1]});
    return nlohmann::ordered_json{{"image_size", image_size}, {"concepts", concepts}, {"subjects", subjects},
                                  {"slots", s},           {"crop", crop},         {"widths", widths}}
        .dump();
}

JudgeNetConfig JudgeNetConfig::from_json(const std::string& text, const std::string& source)
{
    JudgeNetConfig c;
    try {
        const auto j = nlohmann::json::parse(text);
        c.image_size = j.at("image_size").get<int>();
        c.concepts = j.at("concepts").get<int>();
        c.subjects = j.at("subjects").get<int>();
        c.slots = j.at("slots").get<std::vector<std::array<double, 2>>>();
        c.crop = j.at("crop").get<double>();
        c.widths = j.at("widths").get<std::vector<int>>();
    } catch (const nlohmann::json::exception& e) {
        throw ConfigError(path_message(source, std::string("judge metadata \"net\": ") + e.what()));
    }
    if (c.image_size < 8 || c.concepts < 1 || c.subjects < 1 || c.widths.empty() || c.slots.empty() ||
        !(c.crop > 0 && c.crop <= 1))
        throw ConfigError(path_message(source, "judge metadata \"net\": sizes must be positive"));
    return c;
}

JudgeNetImpl::JudgeNetImpl(const JudgeNetConfig& c) : config(c)
{
    namespace nn = torch::nn;
    trunk = nn::Sequential();
    int in = 3;
    for (size_t i = 0; i < c.widths.size(); ++i) {
        const int out = c.widths[i];
        trunk->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)));
        trunk->push_back(nn::GroupNorm(nn::GroupNormOptions(std::min(8, out), out)));
        trunk->push_back(nn::ReLU());
        if (i + 1 < c.widths.size())
            trunk->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
        in = out;
    }
    register_module("trunk", trunk);
    motif_head = register_module("motif_head", nn::Linear(2 * in, c.motif_classes()));
    subject_head = register_module("subject_head", nn::Linear(2 * in, c.subjects));
}

at::Tensor JudgeNetImpl::crop_at(const at::Tensor& images, double cx, double cy) const
{
    const int64_t size = images.size(2), c = config.crop_pixels();
    const auto start = [&](double centre) {
        return std::clamp<int64_t>(std::lround(centre * size - c / 2.0), 0, std::max<int64_t>(0, size - c));
    };
    const int64_t x0 = start(cx), y0 = start(cy);
    return images.slice(2, y0, y0 + c).slice(3, x0, x0 + c);
}

std::pair<at::Tensor, at::Tensor> JudgeNetImpl::forward(const at::Tensor& images)
{
    const int64_t B = images.size(0), K = static_cast<int64_t>(config.slots.size());
    std::vector<at::Tensor> crops;
    for (const auto& s : config.slots)
        crops.push_back(crop_at(images, s[0], s[1]));
    crops.push_back(crop_at(images, 0.5, 0.5));
    const auto x = torch::cat(crops, 0) * 2 - 1;                      // [(K+1)B, 3, c, c]
    const auto h = trunk->forward(x);                                  // [(K+1)B, W, c/4, c/4]
    const auto f = torch::cat({h.amax({2, 3}), h.mean({2, 3})}, 1);   // [(K+1)B, 2W]
    const auto slot_f = f.slice(0, 0, K * B), centre_f = f.slice(0, K * B);
    auto slot_logits = motif_head->forward(slot_f).view({K, B, -1}).transpose(0, 1); // [B, K, 2C+1]
    return {slot_logits, subject_head->forward(centre_f)};
}

at::Tensor JudgeNetImpl::presence(const at::Tensor& slot_logits)
{
    const auto p = torch::softmax(slot_logits, 2);                     // [B, K, 2C+1]
    return p.slice(2, 0, p.size(2) - 1).amax(1);                       // [B, 2C]
}

} // namespace psa
