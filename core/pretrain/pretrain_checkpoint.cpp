// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoints of a pretraining stage: everything a resumed stage needs to continue bit for bit
// (weights, AdamW moments and steps, EMA, the torch CPU generator, our mt19937, the data order),
// written into a temporary folder that is renamed into place only when complete. The layout
// follows core/training/checkpoint.cpp (DPO runs), with whole networks instead of an adapter.
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"
#include "pretrain/trainer_state.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <type_traits>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kStateFormat = "psa-pretrain-checkpoint/1";

void sync_folder(const fs::path& dir)
{
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return;
    ::fsync(fd);
    ::close(fd);
}

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

int parse_step(const std::string& name)
{
    if (name.rfind("step-", 0) != 0 || name.size() <= 5)
        return -1;
    const auto digits = name.substr(5);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return -1;
    return std::stoi(digits);
}

// Settings that shape the trajectory: a resumed stage must have the same ones.
json trajectory(const PretrainConfig& c)
{
    auto j = json::parse(c.to_json());
    for (const char* free : {"steps", "checkpoint_every", "keep_checkpoints", "format"})
        j.erase(free);
    return j;
}

} // namespace

std::string pretrain_checkpoint_name(int step)
{
    std::ostringstream s;
    s << "step-" << std::setw(8) << std::setfill('0') << step;
    return s.str();
}

std::optional<fs::path> PretrainTrainer::latest_checkpoint(const fs::path& run_dir, PretrainStage stage)
{
    const auto dir = stage_dir(run_dir, stage) / "checkpoints";
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return std::nullopt;
    int best = -1;
    fs::path best_path;
    for (const auto& e : fs::directory_iterator(dir)) {
        const int s = parse_step(e.path().filename().string());
        if (s > best && fs::is_regular_file(e.path() / "state.json")) {
            best = s;
            best_path = e.path();
        }
    }
    if (best < 0)
        return std::nullopt;
    return best_path;
}

PretrainConfig PretrainTrainer::stored_config(const fs::path& checkpoint)
{
    const auto path = checkpoint / "state.json";
    json j;
    try {
        j = json::parse(read_file_text(path));
    } catch (const json::parse_error& e) {
        throw ConfigError(path_message(path.string(), std::string("malformed JSON: ") + e.what()));
    }
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
    const auto final_dir = dir / pretrain_checkpoint_name(step);
    try {
        if (fs::is_regular_file(final_dir / "state.json")) {
            last_checkpoint_step = step;
            return final_dir;
        }
        fs::remove_all(final_dir); // an incomplete folder of that name (never made by us) goes
        fs::create_directories(dir);
        const auto tmp = dir / (".tmp-" + pretrain_checkpoint_name(step) + "-" + std::to_string(::getpid()));
        fs::remove_all(tmp);
        fs::create_directory(tmp);

        NamedTensors weights;
        for (const auto& [name, module] : model->modules()) {
            for (const auto& p : module->named_parameters(true))
                weights.emplace_back(name + "." + p.key(), p.value().detach());
            for (const auto& b : module->named_buffers(true))
                weights.emplace_back(name + "." + b.key(), b.value().detach());
        }
        for (const auto& [name, t] : ema)
            weights.emplace_back(name, t);
        save_safetensors(tmp / "weights.safetensors", weights, {{"format", "psa-pretrain-weights/1"}});

        NamedTensors tensors;
        auto& state = optimizer->state();
        for (const auto& [name, p] : trainable) {
            const auto it = state.find(state_key(state, p));
            if (it == state.end())
                continue;
            const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
            tensors.emplace_back("optim." + name + ".exp_avg", s.exp_avg().detach());
            tensors.emplace_back("optim." + name + ".exp_avg_sq", s.exp_avg_sq().detach());
            tensors.emplace_back("optim." + name + ".step", torch::tensor(static_cast<int64_t>(s.step()), torch::kLong));
        }
        {
            std::lock_guard<std::mutex> lock(generator.mutex());
            tensors.emplace_back("rng.torch_cpu", generator.get_state().clone());
        }
        tensors.emplace_back("data.order", torch::tensor(order, torch::kLong));
        save_safetensors(tmp / "optimizer.safetensors", tensors, {{"format", "psa-pretrain-optimizer/1"}});

        std::ostringstream mt;
        mt << rng;
        json j;
        j["format"] = kStateFormat;
        j["stage"] = pretrain_stage_name(stage);
        j["step"] = step;
        j["rows"] = model->rows();
        j["rng_mt19937"] = mt.str();
        j["order_pos"] = order_pos;
        j["config"] = json::parse(config.to_json());
        write_file_atomic(tmp / "state.json", j.dump(1) + "\n");

        sync_folder(tmp);
        fs::rename(tmp, final_dir);
        sync_folder(dir);
        last_checkpoint_step = step;

        // Keep the newest keep_checkpoints complete checkpoints.
        std::vector<std::pair<int, fs::path>> all;
        for (const auto& e : fs::directory_iterator(dir))
            if (const int s = parse_step(e.path().filename().string()); s >= 0)
                all.emplace_back(s, e.path());
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i + static_cast<size_t>(config.keep_checkpoints) < all.size(); ++i)
            fs::remove_all(all[i].second);
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
    json j;
    try {
        j = json::parse(read_file_text(state_path));
    } catch (const json::parse_error& e) {
        throw ConfigError(path_message(state_path.string(), std::string("malformed JSON: ") + e.what()));
    }
    if (j.value("format", "") != kStateFormat || j.value("stage", "") != pretrain_stage_name(stage))
        throw ConfigError(path_message(state_path.string(), std::string("not a checkpoint of the ") +
                                                                pretrain_stage_name(stage) + " pretraining stage"));
    const auto a = trajectory(PretrainTrainer::stored_config(*ck)), b = trajectory(config);
    if (a != b) {
        std::string diff;
        for (const auto& [key, value] : a.items())
            if (!b.contains(key) || b[key] != value)
                diff += "\n  " + key + ": checkpoint " + value.dump() + ", now " + (b.contains(key) ? b[key].dump() : "-");
        throw InvalidRequest(ck->string() + ": this stage was started with other settings; a resumed stage keeps them" +
                             diff);
    }
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
    for (auto& [name, t] : ema) {
        const auto it = weights.find(name);
        if (it == weights.end())
            throw ModelLoadError(path_message(weights_path.string(), "no " + name + " (the EMA weights)"));
        t.copy_(it->second);
    }

    const auto opt_path = *ck / "optimizer.safetensors";
    const auto file = SafetensorsFile::open(opt_path);
    auto& state = optimizer->state();
    state.clear();
    for (const auto& [name, p] : trainable) {
        const std::string prefix = "optim." + name + ".";
        if (!file.contains(prefix + "step"))
            continue;
        const auto like = [&](const std::string& key) {
            if (!file.contains(key))
                throw ModelLoadError(path_message(opt_path.string(), "no " + key));
            const auto t = file.tensor(key);
            if (t.sizes() != p.sizes())
                throw ModelLoadError(path_message(opt_path.string(), key + " is " + shape_string(t.sizes()) +
                                                                         ", the parameter " + shape_string(p.sizes())));
            return t.to(p.device(), p.scalar_type()).clone();
        };
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(file.tensor(prefix + "step").item<int64_t>());
        s->exp_avg(like(prefix + "exp_avg"));
        s->exp_avg_sq(like(prefix + "exp_avg_sq"));
        state[state_key(state, p)] = std::move(s);
    }
    if (!file.contains("rng.torch_cpu") || !file.contains("data.order"))
        throw ModelLoadError(path_message(opt_path.string(), "no random-number state (rng.torch_cpu, data.order)"));
    {
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_state(file.tensor("rng.torch_cpu").clone());
    }
    const auto ord = file.tensor("data.order").to(torch::kLong).contiguous();
    order.assign(ord.data_ptr<int64_t>(), ord.data_ptr<int64_t>() + ord.numel());
    order_pos = j.at("order_pos").get<size_t>();
    std::istringstream mt(j.at("rng_mt19937").get<std::string>());
    mt >> rng;
    if (mt.fail())
        throw ConfigError(path_message(state_path.string(), "unreadable rng_mt19937 state"));
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
    const auto path = run_dir / "train_log.jsonl";
    if (!fs::is_regular_file(path))
        return;
    const std::string tag = std::string("\"stage\": \"") + pretrain_stage_name(stage) + "\"";
    std::ifstream in(path);
    std::string kept;
    for (std::string line; std::getline(in, line);) {
        const auto pos = line.find("\"step\": ");
        if (pos == std::string::npos)
            continue;
        if (line.find(tag) == std::string::npos || std::atoi(line.c_str() + pos + 8) <= last_step)
            kept += line + "\n";
    }
    write_file_atomic(path, kept);
}

} // namespace psa
