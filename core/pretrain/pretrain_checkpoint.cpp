// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoints of a pretraining stage: everything a resumed stage needs to continue bit for bit
// (weights, AdamW moments and steps, EMA, the torch CPU generator, our mt19937, the data order),
// written atomically by the folder helpers that DPO runs use (training/checkpoint_folder.h), with
// whole networks instead of an adapter.
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"
#include "pretrain/trainer_state.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"
#include "training/checkpoint_folder.h"
#include "training/resume_state.h"
#include "training/resume_tensors.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kStateFormat = "psa-pretrain-checkpoint/1";

// Settings that shape the trajectory: a resumed stage must have the same ones. The length, the
// late decay and the focus weight only shape steps still to come, so a resume may change them.
json trajectory(const PretrainConfig& c)
{
    return trajectory_settings(c.to_json(), {"steps", "lr_decay_from", "focus_weight", "checkpoint_every",
                                              "keep_checkpoints", "format"});
}

} // namespace

std::optional<fs::path> PretrainTrainer::latest_checkpoint(const fs::path& run_dir, PretrainStage stage)
{
    return latest_complete_checkpoint(stage_dir(run_dir, stage) / "checkpoints");
}

PretrainConfig PretrainTrainer::stored_config(const fs::path& checkpoint)
{
    const auto path = checkpoint / "state.json";
    const json j = read_checkpoint_state(path);
    if (!j.contains("config"))
        throw ConfigError(path_message(path.string(), "no \"config\" in this checkpoint state"));
    return PretrainConfig::from_json(j["config"].dump(), path.string());
}

int PretrainTrainer::stored_step(const fs::path& checkpoint)
{
    const auto path = checkpoint / "state.json";
    const auto j = read_json_object_file(path);
    return static_cast<int>(JsonFields{j, path.string()}.integer("step"));
}

fs::path PretrainTrainer::Impl::save_checkpoint()
{
    const auto dir = stage_dir / "checkpoints";
    const auto final_dir = dir / checkpoint_folder_name(step);
    try {
        if (fs::is_regular_file(final_dir / "state.json")) {
            last_checkpoint_step = step;
            return final_dir;
        }
        const auto tmp = begin_checkpoint_folder(dir, step);

        NamedTensors weights;
        for (const auto& [name, module] : model->modules()) {
            for (const auto& p : module->named_parameters(true))
                weights.emplace_back(name + "." + p.key(), p.value().detach());
            for (const auto& b : module->named_buffers(true))
                weights.emplace_back(name + "." + b.key(), b.value().detach());
        }
        ema.append_to(weights);
        save_safetensors(tmp / "weights.safetensors", weights, {{"format", "psa-pretrain-weights/1"}});

        NamedTensors tensors;
        append_adamw_state(tensors, *optimizer, trainable);
        append_random_state(tensors, generator, order);
        save_safetensors(tmp / "optimizer.safetensors", tensors, {{"format", "psa-pretrain-optimizer/1"}});

        json j;
        j["format"] = kStateFormat;
        j["stage"] = pretrain_stage_name(stage);
        j["step"] = step;
        j["rows"] = model->rows();
        j["rng_mt19937"] = mt19937_text(rng);
        j["order_pos"] = order_pos;
        j["config"] = json::parse(config.to_json());
        write_file_atomic(tmp / "state.json", j.dump(1) + "\n");

        publish_checkpoint_folder(tmp, final_dir);
        last_checkpoint_step = step;
        prune_checkpoints(dir, config.keep_checkpoints);
    } catch (const fs::filesystem_error& e) {
        throw IoError(path_message(e.path1().string(), std::string("cannot write the checkpoint: ") +
                                                           e.code().message()));
    }
    spdlog::debug("pretrain: checkpoint {}", final_dir.string());
    return final_dir;
}

bool PretrainTrainer::Impl::resume()
{
    const auto ck = PretrainTrainer::latest_checkpoint(run_dir, stage);
    if (!ck)
        return false;
    const auto state_path = *ck / "state.json";
    const json j = read_checkpoint_state(state_path);
    if (j.value("format", "") != kStateFormat || j.value("stage", "") != pretrain_stage_name(stage))
        throw ConfigError(path_message(state_path.string(), std::string("not a checkpoint of the ") +
                                                                pretrain_stage_name(stage) + " pretraining stage"));
    const auto a = trajectory(PretrainTrainer::stored_config(*ck)), b = trajectory(config);
    if (a != b)
        throw InvalidRequest(ck->string() + ": this stage was started with other settings; a resumed stage keeps them" +
                             trajectory_difference(a, b));
    if (j.value("rows", int64_t{-1}) != model->rows())
        throw InvalidRequest(ck->string() + ": the checkpoint was trained on " + std::to_string(j.value("rows", -1)) +
                             " images, the data now has " + std::to_string(model->rows()) +
                             "; the data changed since the checkpoint");
    const int ck_step = j.at("step").get<int>();
    if (ck_step > config.steps)
        throw InvalidRequest(ck->string() + ": the checkpoint is at step " + std::to_string(ck_step) +
                             ", beyond the requested " + std::to_string(config.steps) + " steps");

    torch::NoGradGuard no_grad;
    const auto weights_path = *ck / "weights.safetensors";
    const auto weights = load_state_dict(weights_path);
    for (const auto& [name, module] : model->modules()) {
        StateDict part;
        const std::string prefix = name + ".";
        for (const auto& [key, t] : weights)
            if (key.rfind(prefix, 0) == 0)
                part.emplace(key.substr(prefix.size()), t);
        LoadOptions opts;
        opts.release_sources = false;
        load_into(*module, part, weights_path.string() + " (" + name + ")", opts);
    }
    ema.load_from(weights, weights_path.string());

    const auto opt_path = *ck / "optimizer.safetensors";
    const auto file = SafetensorsFile::open(opt_path);
    load_adamw_state(file, *optimizer, trainable);
    load_random_state(file, generator, order);
    order_pos = j.at("order_pos").get<size_t>();
    restore_mt19937(rng, j.at("rng_mt19937").get<std::string>(), state_path.string());
    step = ck_step;
    last_checkpoint_step = step;
    resumed = true;
    truncate_log(step);
    spdlog::info("pretrain: resumed {} at step {}", ck->string(), step);
    return true;
}

// Drops this stage's log lines after `last_step` (all of them for -1); other stages' lines stay.
void PretrainTrainer::Impl::truncate_log(int last_step)
{
    const std::string tag = std::string("\"stage\": \"") + pretrain_stage_name(stage) + "\"";
    truncate_step_log(run_dir / "train_log.jsonl", last_step,
                      [&](const std::string& line) { return line.find(tag) != std::string::npos; });
}

} // namespace psa
