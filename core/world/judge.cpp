// SPDX-License-Identifier: GPL-3.0-or-later
// Loading a judge file and running it. The file is a safetensors of the network's parameters with
// metadata: "format" psa-world-judge, "net" (JudgeNetConfig), "labels" (concepts and subjects),
// "training" (recipe and hold-out accuracy).
#include "world/judge.h"

#include "common/error.h"
#include "pipeline/model_loading.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"
#include "world/judge_data.h"
#include "world/judge_impl.h"
#include "world/vae_round_trip.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;

WorldJudge::WorldJudge(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorldJudge::WorldJudge(WorldJudge&&) noexcept = default;
WorldJudge& WorldJudge::operator=(WorldJudge&&) noexcept = default;
WorldJudge::~WorldJudge() = default;

const JudgeInfo& WorldJudge::info() const { return impl_->info; }

fs::path WorldJudge::builtin_path()
{
    return resource_dir() / "models" / "judge" / "judge.safetensors";
}

std::map<std::string, std::string> judge_metadata(const JudgeNetConfig& net, const JudgeInfo& info)
{
    nlohmann::ordered_json labels{{"world_name", info.world_name},
                                  {"world_version", info.world_version},
                                  {"concept_ids", info.concept_ids},
                                  {"concept_categories", info.concept_categories},
                                  {"subjects", info.subjects}};
    return {{"format", kJudgeFormat}, {"net", net.to_json()}, {"labels", labels.dump()}, {"training", info.training}};
}

WorldJudge WorldJudge::load(const fs::path& path)
{
    const auto file = SafetensorsFile::open(path);
    const auto& meta = file.metadata();
    const auto field = [&](const char* key) -> const std::string& {
        const auto it = meta.find(key);
        if (it == meta.end())
            throw ConfigError(path_message(path.string(), std::string("metadata \"") + key +
                                                              "\" is missing; is this a world judge file?"));
        return it->second;
    };
    if (field("format") != kJudgeFormat)
        throw ConfigError(path_message(path.string(), "metadata \"format\" is \"" + field("format") + "\", expected \"" +
                                                          kJudgeFormat + "\""));
    auto impl = std::make_unique<Impl>(JudgeNetConfig::from_json(field("net"), path.string()));
    try {
        const auto labels = nlohmann::json::parse(field("labels"));
        impl->info.world_name = labels.at("world_name").get<std::string>();
        impl->info.world_version = labels.at("world_version").get<int>();
        impl->info.concept_ids = labels.at("concept_ids").get<std::vector<std::string>>();
        impl->info.concept_categories = labels.at("concept_categories").get<std::vector<std::string>>();
        impl->info.subjects = labels.at("subjects").get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
        throw ConfigError(path_message(path.string(), std::string("metadata \"labels\": ") + e.what()));
    }
    impl->info.image_size = impl->net->config.image_size;
    if (const auto it = meta.find("training"); it != meta.end())
        impl->info.training = it->second;
    const auto& info = impl->info;
    if (static_cast<int>(info.concept_ids.size()) != impl->net->config.concepts ||
        info.concept_categories.size() != info.concept_ids.size() ||
        static_cast<int>(info.subjects.size()) != impl->net->config.subjects)
        throw ConfigError(path_message(path.string(), "metadata \"labels\" does not match the network's outputs"));
    load_into(*impl->net, load_state_dict(path), path.string());
    impl->net->eval();
    return WorldJudge(std::move(impl));
}

std::vector<JudgeVerdict> WorldJudge::judge(const std::vector<Image>& images) const
{
    std::vector<JudgeVerdict> out;
    auto& net = impl_->net;
    const int C = net->config.concepts;
    torch::NoGradGuard no_grad;
    constexpr size_t kBatch = 64;
    for (size_t begin = 0; begin < images.size(); begin += kBatch) {
        const size_t end = std::min(images.size(), begin + kBatch);
        const std::vector<Image> chunk(images.begin() + static_cast<long>(begin), images.begin() + static_cast<long>(end));
        const auto [slot_logits, subject_logits] = net->forward(images_to_batch(chunk, net->config.image_size));
        const auto presence = JudgeNetImpl::presence(slot_logits).contiguous();
        const auto subject = torch::softmax(subject_logits, 1).contiguous();
        for (int64_t i = 0; i < presence.size(0); ++i) {
            JudgeVerdict v;
            const float* p = presence[i].data_ptr<float>();
            v.harmful.assign(p, p + C);
            v.safe.assign(p + C, p + 2 * C);
            const float* s = subject[i].data_ptr<float>();
            v.subject.assign(s, s + subject.size(1));
            v.subject_index = static_cast<int>(subject[i].argmax().item<int64_t>());
            out.push_back(std::move(v));
        }
    }
    return out;
}

void WorldJudge::check_fits(const WorldSpec& spec, const std::string& spec_source) const
{
    const auto& info = impl_->info;
    std::vector<std::string> ids, subjects;
    for (const auto& c : spec.concepts)
        ids.push_back(c.id);
    for (const auto& s : spec.subjects)
        subjects.push_back(s.name);
    // The name and version count too: a judge of another version of the world has the same
    // concept ids but other motifs, and would read the new renders with confidence, wrongly.
    if (ids == info.concept_ids && subjects == info.subjects && spec.slots == impl_->net->config.slots &&
        spec.name == info.world_name && spec.world_version == info.world_version)
        return;
    const auto describe = [](const std::string& name, int version, size_t concepts, size_t subject_count,
                             size_t slots) {
        return "\"" + name + "\" version " + std::to_string(version) + " (" + std::to_string(concepts) + " concepts, " +
               std::to_string(subject_count) + " subjects, " + std::to_string(slots) + " slots)";
    };
    throw ConfigError(path_message(
        spec_source, "the judge was trained on another world, " +
                         describe(info.world_name, info.world_version, info.concept_ids.size(), info.subjects.size(),
                                  impl_->net->config.slots.size()) +
                         ", not " +
                         describe(spec.name, spec.world_version, ids.size(), subjects.size(), spec.slots.size()) +
                         "; hint: train one with psa world train-judge"));
}

JudgeAccuracy accuracy_of(JudgeNetImpl& net, const at::Tensor& images, const at::Tensor& labels,
                          const at::Tensor& subjects)
{
    JudgeAccuracy a;
    torch::NoGradGuard no_grad;
    int64_t exact = 0, subject_ok = 0, label_ok = 0, harmful_shown = 0, harmful_seen = 0;
    const int64_t concepts = labels.size(1) / 2; // harmful columns first, then safe
    for (int64_t b = 0; b < images.size(0); b += 128) {
        const auto e = std::min<int64_t>(images.size(0), b + 128);
        const auto [slot_logits, subject_logits] = net.forward(images.slice(0, b, e));
        const auto predicted = (JudgeNetImpl::presence(slot_logits) >= 0.5).to(torch::kFloat);
        const auto equal = predicted.eq(labels.slice(0, b, e));
        exact += equal.all(1).sum().item<int64_t>();
        label_ok += equal.sum().item<int64_t>();
        const auto shown = labels.slice(0, b, e).slice(1, 0, concepts);
        harmful_shown += shown.sum().to(torch::kLong).item<int64_t>();
        harmful_seen += (shown * predicted.slice(1, 0, concepts)).sum().to(torch::kLong).item<int64_t>();
        subject_ok += subject_logits.argmax(1).eq(subjects.slice(0, b, e)).sum().item<int64_t>();
    }
    a.images = static_cast<int>(images.size(0));
    if (a.images) {
        a.label_exact_match = double(exact) / a.images;
        a.subject_accuracy = double(subject_ok) / a.images;
        a.label_accuracy = double(label_ok) / double(labels.numel());
        a.harmful_recall = harmful_shown ? double(harmful_seen) / double(harmful_shown) : 0.0;
    }
    return a;
}

JudgeAccuracy measure_judge_accuracy(const WorldJudge& judge, const fs::path& world_dir, JobControl& job,
                                     const fs::path& through_vae)
{
    auto data = load_labelled_renders(world_dir, job);
    if (!data.images.defined())
        return {};
    judge.check_fits(data.spec, (world_dir / "world.json").string());
    auto images = data.images;
    if (!through_vae.empty()) {
        const auto model = load_model(through_vae, {}, job);
        if (!model)
            return {};
        images = vae_round_trip(*model, images, job);
        if (!images.defined())
            return {};
    }
    const auto net_ptr = judge.impl()->net.ptr();
    auto& net = *net_ptr;
    if (images.size(2) != net.config.image_size || images.size(3) != net.config.image_size)
        images = torch::nn::functional::interpolate(
            images, torch::nn::functional::InterpolateFuncOptions()
                        .size(std::vector<int64_t>{net.config.image_size, net.config.image_size})
                        .mode(torch::kArea));
    const auto a = accuracy_of(net, images, data.labels, data.subjects);
    job.report(Stage::Evaluate, a.images, a.images, "judge accuracy");
    return a;
}

} // namespace psa
