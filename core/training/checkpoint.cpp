// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoints of a DPO run: everything a resumed run needs to continue bit for bit (adapter,
// AdamW moments and steps, the torch CPU generator, our mt19937, the data order), written into a
// temporary folder that is renamed into place only when complete.
#include "adapter/adapter_io.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"
#include "training/trainer_impl.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <type_traits>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kStateFormat = "psa-train-checkpoint/1";

// Makes a rename durable: fsync the folder that holds the entry.
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

// Settings that shape the trajectory: a resumed run must have the same ones.
json trajectory(const TrainConfig& c)
{
    auto j = json::parse(c.to_json());
    for (const char* free : {"steps", "checkpoint_every", "keep_checkpoints", "sample_every", "sample_prompts",
                             "sample_seeds", "sample_steps", "sample_users", "strict", "device", "model",
                             "format"})
        j.erase(free);
    return j;
}

} // namespace

std::string checkpoint_folder_name(int step)
{
    std::ostringstream s;
    s << "step-" << std::setw(8) << std::setfill('0') << step;
    return s.str();
}

std::optional<fs::path> DpoTrainer::latest_checkpoint(const fs::path& run_dir)
{
    const auto dir = run_dir / "checkpoints";
    if (!fs::is_directory(dir))
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

TrainConfig DpoTrainer::stored_config(const fs::path& folder)
{
    if (fs::is_regular_file(folder / "state.json")) {
        const auto path = folder / "state.json";
        json j;
        try {
            j = json::parse(read_file_text(path));
        } catch (const json::parse_error& e) {
            throw ConfigError(path_message(path.string(), std::string("malformed JSON: ") + e.what()));
        }
        if (!j.contains("config"))
            throw ConfigError(path_message(path.string(), "no \"config\" in this checkpoint state"));
        return TrainConfig::from_json(j["config"].dump(), path.string());
    }
    return TrainConfig::load(folder / "config.json");
}

fs::path DpoTrainer::Impl::save_checkpoint()
{
    try {
        return write_checkpoint();
    } catch (const fs::filesystem_error& e) {
        throw IoError(path_message(e.path1().string(), std::string("cannot write the checkpoint: ") +
                                                           e.code().message()));
    }
}

fs::path DpoTrainer::Impl::write_checkpoint()
{
    const auto dir = run_dir / "checkpoints";
    const auto final_dir = dir / checkpoint_folder_name(step);
    if (fs::is_regular_file(final_dir / "state.json")) {
        last_checkpoint_step = step;
        return final_dir;
    }
    fs::remove_all(final_dir); // an incomplete folder of that name (never made by us) goes
    fs::create_directories(dir);
    const auto tmp = dir / (".tmp-" + checkpoint_folder_name(step) + "-" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    fs::create_directory(tmp);
    const auto written = [&](const fs::path& p) {
        if (checkpoint_hook)
            checkpoint_hook(p);
    };

    psa::save_adapter(tmp / "adapter.safetensors", *adapter);
    written(tmp / "adapter.safetensors");

    NamedTensors tensors;
    auto& state = optimizer->state();
    for (const auto& [name, p] : trainable) {
        const auto it = state.find(state_key(state, p));
        if (it == state.end())
            continue;
        const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        tensors.emplace_back("optim." + name + ".exp_avg", s.exp_avg().detach().cpu());
        tensors.emplace_back("optim." + name + ".exp_avg_sq", s.exp_avg_sq().detach().cpu());
        if (s.max_exp_avg_sq().defined())
            tensors.emplace_back("optim." + name + ".max_exp_avg_sq", s.max_exp_avg_sq().detach().cpu());
        tensors.emplace_back("optim." + name + ".step", torch::tensor(static_cast<int64_t>(s.step()), torch::kLong));
    }
    {
        std::lock_guard<std::mutex> lock(generator.mutex());
        tensors.emplace_back("rng.torch_cpu", generator.get_state().clone());
    }
    tensors.emplace_back("data.order", torch::tensor(order, torch::kLong));
    save_safetensors(tmp / "optimizer.safetensors", tensors, {{"format", "psa-train-optimizer/1"}});
    written(tmp / "optimizer.safetensors");

    std::ostringstream mt;
    mt << rng;
    json j;
    j["format"] = kStateFormat;
    j["step"] = step;
    j["rng_mt19937"] = mt.str();
    j["order_pos"] = order_pos;
    j["loss_scale"] = loss_scale;
    j["loss_scale_good_steps"] = loss_scale_good_steps;
    j["config"] = json::parse(config.to_json());
    write_file_atomic(tmp / "state.json", j.dump(1) + "\n");
    written(tmp / "state.json");

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
    spdlog::debug("training: checkpoint {}", final_dir.string());
    return final_dir;
}

bool DpoTrainer::Impl::resume()
{
    const auto ck = DpoTrainer::latest_checkpoint(run_dir);
    if (!ck)
        return false;
    const auto state_path = *ck / "state.json";
    json j;
    try {
        j = json::parse(read_file_text(state_path));
    } catch (const json::parse_error& e) {
        throw ConfigError(path_message(state_path.string(), std::string("malformed JSON: ") + e.what()));
    }
    if (j.value("format", "") != kStateFormat)
        throw ConfigError(path_message(state_path.string(), "not a PSA training checkpoint (format \"" +
                                                                j.value("format", "") + "\")"));
    const auto stored = DpoTrainer::stored_config(*ck);
    const auto a = trajectory(stored), b = trajectory(config);
    if (a != b) {
        std::string diff;
        for (const auto& [key, value] : a.items())
            if (!b.contains(key) || b[key] != value)
                diff += "\n  " + key + ": checkpoint " + value.dump() + ", now " + (b.contains(key) ? b[key].dump() : "-");
        throw InvalidRequest(ck->string() + ": this run was started with other settings; a resumed run keeps them" +
                             diff);
    }
    const int ck_step = j.at("step").get<int>();
    if (ck_step > config.steps)
        throw InvalidRequest(ck->string() + ": the checkpoint is at step " + std::to_string(ck_step) +
                             ", beyond the requested " + std::to_string(config.steps) + " steps");

    torch::NoGradGuard no_grad;
    load_into(*adapter, load_state_dict(*ck / "adapter.safetensors"), (*ck / "adapter.safetensors").string());

    const auto opt_path = *ck / "optimizer.safetensors";
    const auto file = SafetensorsFile::open(opt_path);
    auto& state = optimizer->state();
    state.clear();
    for (const auto& [name, p] : trainable) {
        const std::string prefix = "optim." + name + ".";
        if (!file.contains(prefix + "step"))
            continue;
        for (const char* part : {"exp_avg", "exp_avg_sq"})
            if (!file.contains(prefix + part))
                throw ModelLoadError(path_message(opt_path.string(), "no " + prefix + part));
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(file.tensor(prefix + "step").item<int64_t>());
        const auto like = [&](const std::string& key) {
            const auto t = file.tensor(key);
            if (t.sizes() != p.sizes())
                throw ModelLoadError(path_message(opt_path.string(), key + " is " + shape_string(t.sizes()) +
                                                                         ", the parameter " + shape_string(p.sizes())));
            return t.to(p.device(), p.scalar_type()).clone();
        };
        s->exp_avg(like(prefix + "exp_avg"));
        s->exp_avg_sq(like(prefix + "exp_avg_sq"));
        if (file.contains(prefix + "max_exp_avg_sq"))
            s->max_exp_avg_sq(like(prefix + "max_exp_avg_sq"));
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
    for (const auto i : order)
        if (i < 0 || i >= static_cast<int64_t>(data->size()))
            throw InvalidRequest(ck->string() + ": the data order names pair " + std::to_string(i) + ", but " +
                                 data->metadata_path().string() + " now has " + std::to_string(data->size()) +
                                 " usable pairs; the data changed since the checkpoint");
    order_pos = j.at("order_pos").get<size_t>();
    std::istringstream mt(j.at("rng_mt19937").get<std::string>());
    mt >> rng;
    if (mt.fail())
        throw ConfigError(path_message(state_path.string(), "unreadable rng_mt19937 state"));
    loss_scale = j.value("loss_scale", loss_scale);
    loss_scale_good_steps = j.value("loss_scale_good_steps", 0);
    step = ck_step;
    last_checkpoint_step = step;
    resumed = true;
    truncate_log(step);
    spdlog::info("training: resumed {} at step {}", ck->string(), step);
    return true;
}

void DpoTrainer::Impl::truncate_log(int last_step)
{
    const auto path = run_dir / "train_log.jsonl";
    if (!fs::is_regular_file(path))
        return;
    std::ifstream in(path);
    std::string kept;
    for (std::string line; std::getline(in, line);) {
        const auto pos = line.find("\"step\": ");
        if (pos == std::string::npos)
            continue;
        if (std::atoi(line.c_str() + pos + 8) <= last_step)
            kept += line + "\n";
    }
    write_file_atomic(path, kept);
}

} // namespace psa
