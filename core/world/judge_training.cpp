// SPDX-License-Identifier: GPL-3.0-or-later
// Training the judge: clean renders plus light corruptions of the kind a small diffusion model's
// output shows (noise, softness, colour drift, lost fine detail), so the judge reads generated
// images as well as renders. Multi-label BCE over motifs + cross-entropy over subjects.
#include "world/judge.h"

#include "common/error.h"
#include "tensor_io/safetensors.h"
#include "world/judge_data.h"
#include "world/judge_impl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cmath>

namespace psa {

namespace {

namespace F = torch::nn::functional;

at::Tensor augment(const at::Tensor& x, torch::Generator& gen)
{
    const auto B = x.size(0);
    const auto opts = x.options();
    const auto coin = [&](double p) { return (torch::rand({B, 1, 1, 1}, gen, opts) < p).to(x.dtype()); };
    // Colour drift: per-channel gain and a shared brightness offset.
    auto y = x * torch::empty({B, 3, 1, 1}, opts).uniform_(0.88, 1.12, gen) +
             torch::empty({B, 1, 1, 1}, opts).uniform_(-0.06, 0.06, gen);
    // Slight blur: a binomial 3x3 kernel per channel.
    const auto k1 = torch::tensor({1.f, 2.f, 1.f}) / 4;
    const auto kernel = (k1.unsqueeze(1) * k1.unsqueeze(0)).expand({3, 1, 3, 3}).contiguous();
    const auto blurred = F::conv2d(F::pad(y, F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReplicate)), kernel,
                                   F::Conv2dFuncOptions().groups(3));
    auto m = coin(0.35);
    y = m * blurred + (1 - m) * y;
    // Lost fine detail (JPEG-like smoothing): half resolution and back.
    const auto H = y.size(2), W = y.size(3);
    const auto small = F::interpolate(y, F::InterpolateFuncOptions()
                                             .size(std::vector<int64_t>{H / 2, W / 2})
                                             .mode(torch::kArea));
    const auto back = F::interpolate(small, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{H, W})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
    m = coin(0.25);
    y = m * back + (1 - m) * y;
    // Pixel noise of a random strength.
    y = y + torch::randn(y.sizes(), gen, opts) * torch::empty({B, 1, 1, 1}, opts).uniform_(0, 0.06, gen);
    return y.clamp(0, 1);
}

} // namespace

JudgeTrainResult train_world_judge(const JudgeTrainOptions& o, JobControl& job)
{
    if (o.out.empty())
        throw InvalidRequest("world train-judge: --out is required");
    if (o.steps < 1 || o.batch < 1 || !(o.lr > 0) || o.holdout_every < 2)
        throw InvalidRequest("world train-judge: steps, batch and lr must be positive and holdout_every at least 2");
    const auto start = std::chrono::steady_clock::now();
    const int threads_before = torch::get_num_threads();
    if (o.threads > 0)
        torch::set_num_threads(o.threads);
    struct RestoreThreads {
        int n;
        ~RestoreThreads() { torch::set_num_threads(n); }
    } restore{threads_before};

    auto data = load_labelled_renders(o.data_dir, job);
    JudgeTrainResult result;
    if (!data.images.defined()) {
        result.outcome = Outcome::Cancelled;
        return result;
    }
    const auto n = data.images.size(0);
    const auto index = torch::arange(n);
    const auto held = index.remainder(o.holdout_every).eq(o.holdout_every - 1);
    const auto train_idx = index.masked_select(held.logical_not()), hold_idx = index.masked_select(held);
    if (train_idx.numel() == 0 || hold_idx.numel() == 0)
        throw InvalidRequest(path_message(o.data_dir.string(), "too few renders to hold some out (" + std::to_string(n) + ")"));

    JudgeNetConfig config;
    config.image_size = data.spec.image_size;
    config.concepts = static_cast<int>(data.spec.concepts.size());
    config.subjects = static_cast<int>(data.spec.subjects.size());
    config.slots = data.spec.slots;
    torch::manual_seed(o.seed);
    JudgeNet net(config);
    torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(1e-4));
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(o.seed + 1);
    net->train();
    for (int step = 0; step < o.steps; ++step) {
        if (job.stop_requested()) {
            result.outcome = Outcome::Cancelled;
            result.steps_done = step;
            return result;
        }
        // Cosine decay to 5 % of the base rate: fast early progress, calm final steps.
        const double lr = o.lr * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * step / o.steps)));
        for (auto& g : optimizer.param_groups())
            static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
        const auto pick = train_idx.index_select(0, torch::randint(train_idx.numel(), {o.batch}, gen, torch::kLong));
        const auto x = augment(data.images.index_select(0, pick), gen);
        const auto [slot_logits, subject_logits] = net->forward(x);
        // One softmax per slot (which motif, or none) and one over subjects.
        const auto loss = F::cross_entropy(slot_logits.reshape({-1, config.motif_classes()}),
                                           data.slot_classes.index_select(0, pick).reshape({-1})) +
                          F::cross_entropy(subject_logits, data.subjects.index_select(0, pick));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        job.report(Stage::Train, step + 1, o.steps, "loss " + std::to_string(loss.item<double>()));
    }
    net->eval();
    result.steps_done = o.steps;
    result.holdout = accuracy_of(*net, data.images.index_select(0, hold_idx), data.labels.index_select(0, hold_idx),
                                 data.subjects.index_select(0, hold_idx));
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    JudgeInfo info;
    info.world_name = data.spec.name;
    info.world_version = data.spec.world_version;
    info.image_size = config.image_size;
    for (const auto& c : data.spec.concepts) {
        info.concept_ids.push_back(c.id);
        info.concept_categories.push_back(c.category);
    }
    for (const auto& s : data.spec.subjects)
        info.subjects.push_back(s.name);
    info.training = nlohmann::ordered_json{
        {"steps", o.steps},
        {"batch", o.batch},
        {"lr", o.lr},
        {"seed", o.seed},
        {"threads", o.threads},
        {"renders", n},
        {"holdout_every", o.holdout_every},
        {"holdout_images", result.holdout.images},
        {"holdout_label_exact_match", result.holdout.label_exact_match},
        {"holdout_subject_accuracy", result.holdout.subject_accuracy},
        {"seconds", result.seconds}}.dump();
    NamedTensors tensors;
    for (const auto& p : net->named_parameters())
        tensors.emplace_back(p.key(), p.value().detach());
    save_safetensors(o.out, tensors, judge_metadata(config, info));
    return result;
}

} // namespace psa
