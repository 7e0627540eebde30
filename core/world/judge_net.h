// SPDX-License-Identifier: GPL-3.0-or-later
// Private to world: the judge's CNN. Motifs only ever appear in the world's fixed slots and the
// subject in the centre, so one small trunk looks at a crop around each slot (what motif, or none:
// a softmax) and at the centre crop (which subject). Centred single-object crops train in a few
// hundred steps where whole-image multi-label presence needs thousands.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <array>
#include <string>
#include <vector>

namespace psa {

struct JudgeNetConfig {
    int image_size = 64;
    int concepts = 0;            ///< motif classes [0, C): harmful motif of concept k; [C, 2C): safe; 2C: none
    int subjects = 0;
    std::vector<std::array<double, 2>> slots; ///< motif slot centres (fractions), from the world
    double crop = 0.44;          ///< crop side as a fraction of the image
    std::vector<int> widths = {24, 48, 96};

    int motif_classes() const { return 2 * concepts + 1; }
    int crop_pixels() const;
    std::string to_json() const;
    /// Throws ConfigError naming `source` and the field.
    static JudgeNetConfig from_json(const std::string& text, const std::string& source);
};

struct JudgeNetImpl : torch::nn::Module {
    explicit JudgeNetImpl(const JudgeNetConfig& config);
    /// [B, 3, S, S] in [0, 1] -> slot logits [B, K, 2C + 1] and subject logits [B, S_subjects].
    std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& images);
    /// Per motif class (2C): probability that some slot shows it, [B, 2C].
    static at::Tensor presence(const at::Tensor& slot_logits);
    torch::nn::Sequential trunk{nullptr};
    torch::nn::Linear motif_head{nullptr}, subject_head{nullptr};
    JudgeNetConfig config;

private:
    at::Tensor crop_at(const at::Tensor& images, double cx, double cy) const; // [B, 3, c, c]
};
TORCH_MODULE(JudgeNet);

} // namespace psa
