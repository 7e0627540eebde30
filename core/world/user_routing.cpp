// SPDX-License-Identifier: GPL-3.0-or-later
#include "world/user_routing.h"

#include "adapter/adapter_io.h"
#include "adapter/token_layout.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/unit_box.h"
#include "pipeline/components.h"
#include "pipeline/prompt_encoding.h"
#include "pipeline/user_conditioning.h"
#include "profiles/ban_rules.h"
#include "tensor_io/image_tensor.h"
#include "training/image_preprocess.h"
#include "training/routing_loss.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

namespace psa {

namespace fs = std::filesystem;

void UserRoutingOptions::validate() const
{
    if (model.empty())
        throw InvalidRequest("world routing: --model is required");
    if (adapter.empty())
        throw InvalidRequest("world routing: --adapter is required (the routing is the adapter's)");
    if (data_dir.empty())
        throw InvalidRequest("world routing: --data is required (a generated world)");
    if (images_per_concept < 1)
        throw InvalidRequest("world routing: --images " + std::to_string(images_per_concept) +
                             " (need at least 1 per concept)");
    if (timesteps.empty())
        throw InvalidRequest("world routing: --timesteps names no timestep");
}

namespace {

/// A render of one harmful concept alone, and where its motif is.
struct ProbeImage {
    int category = -1; // index in the adapter's categories
    fs::path file;
    std::string caption;
    UnitBox motif;
    UnitBox subject;
};

std::vector<ProbeImage> probe_images(const fs::path& world, int per_concept,
                                     const CategorySet& categories)
{
    const fs::path file = world / "base" / "metadata.jsonl";
    if (!fs::exists(file))
        throw IoError(file.string() +
                      ": not found; --data must be a world written by psa world generate");
    std::istringstream in(read_file_text(file));
    std::vector<ProbeImage> out;
    std::map<std::string, int> taken;
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        const auto where = file.string() + ":" + std::to_string(line_no);
        try {
            const auto j = nlohmann::json::parse(line);
            const auto& concepts = j.at("concepts");
            if (concepts.size() != 1 || !concepts[0].at("harmful").get<bool>())
                continue;
            const auto id = concepts[0].at("id").get<std::string>();
            const int category = categories.index_of(concepts[0].at("category").get<std::string>());
            if (category < 0 || taken[id] >= per_concept)
                continue;
            // The subject's box comes first, then one per concept in the concepts' order.
            if (!j.contains("focus_boxes") || j.at("focus_boxes").size() < 2)
                throw InvalidRequest(where +
                                     ": no focus_boxes for the motif (a world from an older psa; "
                                     "generate it again with the same seed)");
            const auto box = [&](size_t k) {
                const auto b = j.at("focus_boxes")[k].get<std::vector<double>>();
                if (b.size() != 4 || !(b[0] < b[2]) || !(b[1] < b[3]))
                    throw InvalidRequest(where + ": focus_boxes[" + std::to_string(k) +
                                         "] is not [x0, y0, x1, y1] with x0 < x1 and y0 < y1");
                return UnitBox{b[0], b[1], b[2], b[3]};
            };
            ProbeImage p;
            p.category = category;
            p.file = file.parent_path() / j.at("file_name").get<std::string>();
            p.caption = j.at("caption").get<std::string>();
            p.subject = box(0);
            p.motif = box(1);
            out.push_back(std::move(p));
            ++taken[id];
        } catch (const nlohmann::json::exception& e) {
            throw InvalidRequest(where + ": " + e.what());
        }
    }
    if (out.empty())
        throw InvalidRequest(file.string() +
                             ": no render of a single harmful concept of the adapter's categories");
    return out;
}

/// The text table's last row: the subject's place.
constexpr const char* kSubjectRow = "(subject)";

bool holds(const UnitBox& box, double x, double y)
{
    return x >= box.x0 && x <= box.x1 && y >= box.y0 && y <= box.y1;
}

/// The mean weight [T] over the cells of one layer's grid whose centres lie in `box` and not in
/// `outside` (when given), or the cell that holds the box's centre when the grid is too coarse for
/// any such centre. weights: [N, T] (one row, averaged over heads).
at::Tensor box_mean(const at::Tensor& weights, int64_t latent_h, int64_t latent_w,
                    const UnitBox& box, const UnitBox* outside = nullptr)
{
    const auto [h, w] = attention_grid(weights.size(0), latent_h, latent_w);
    std::vector<int64_t> cells;
    for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
            const double y = (static_cast<double>(i) + 0.5) / static_cast<double>(h);
            const double x = (static_cast<double>(j) + 0.5) / static_cast<double>(w);
            if (holds(box, x, y) && !(outside && holds(*outside, x, y)))
                cells.push_back(i * w + j);
        }
    if (cells.empty()) {
        const auto cell = [](double c, int64_t size) {
            return std::clamp<int64_t>(static_cast<int64_t>(c * static_cast<double>(size)), 0,
                                       size - 1);
        };
        cells.push_back(cell((box.y0 + box.y1) / 2, h) * w + cell((box.x0 + box.x1) / 2, w));
    }
    return weights.index_select(0, torch::tensor(cells, torch::kLong)).mean(0);
}

} // namespace

UserRoutingReport run_user_routing(const UserRoutingOptions& o, JobControl& job)
{
    o.validate();
    const auto start = std::chrono::steady_clock::now();
    UserRoutingReport report;
    report.options = o;

    LoadModelOptions lo;
    lo.device = o.device;
    auto model = load_model(o.model, lo, job);
    if (!model) {
        report.outcome = Outcome::Cancelled;
        return report;
    }
    torch::NoGradGuard no_grad;
    auto& m = *model;
    auto adapter = load_adapter(o.adapter, m.unet->cross_attention_layers());
    const auto& ac = adapter->config();
    if (ac.profile_encoder != "structured")
        throw InvalidRequest(o.adapter.string() + ": its profile encoder is \"" +
                             ac.profile_encoder +
                             "\"; the routing probe builds its users with the structured encoder");
    adapter->to(m.device, m.dtype);
    adapter->eval();
    const auto categories = adapter_categories(ac);
    for (const auto& c : categories.all())
        report.categories.push_back(c.id);
    const auto category_count = static_cast<int64_t>(categories.size());
    const bool per_category = ac.token_layout == kPerCategoryTokens &&
                              (ac.num_tokens == category_count || has_sink_token(category_count, ac.num_tokens));
    for (int64_t t = 0; t < ac.num_tokens; ++t)
        report.tokens.push_back(!per_category        ? "token " + std::to_string(t)
                                : t < category_count ? categories.all()[static_cast<size_t>(t)].id
                                                     : std::string(kSinkTokenLabel));

    // Two users: one who bans nothing, one who bans every category.
    std::vector<at::Tensor> embeds;
    for (const bool banned : {false, true}) {
        auto profile =
            make_profile("routing probe", 30, "female", "None", "healthy", "healthy", categories);
        for (const auto& c : categories.all())
            profile.set_banned_by_person(c.id, banned);
        embeds.push_back(profile_embedding(ac, profile));
        report.states.push_back({banned ? "banned" : "allowed", {}, {}});
    }
    const auto tokens =
        adapter->user_tokens(torch::stack(embeds).to(m.device, m.dtype)); // [2, T, D]

    const auto images = probe_images(o.data_dir, o.images_per_concept, categories);
    const auto n_cat = static_cast<int64_t>(categories.size());
    auto sums = torch::zeros({2, n_cat, ac.num_tokens}, torch::kDouble);
    auto counts = torch::zeros({n_cat}, torch::kDouble);
    auto subject_sums = torch::zeros({2, ac.num_tokens}, torch::kDouble);
    double subject_count = 0;
    report.images.assign(categories.size(), 0);

    const auto alphas_cumprod = m.scheduler_config.alphas_cumprod().to(torch::kDouble);
    for (int t : o.timesteps)
        if (t < 0 || t >= alphas_cumprod.size(0))
            throw InvalidRequest("world routing: --timesteps: " + std::to_string(t) +
                                 " is outside 0-" + std::to_string(alphas_cumprod.size(0) - 1));
    auto gen = at::detail::createCPUGenerator(o.seed);
    const int resolution = m.default_image_size();
    for (size_t i = 0; i < images.size(); ++i) {
        if (job.stop_requested()) {
            report.outcome = Outcome::Cancelled;
            return report;
        }
        const auto& img = images[i];
        const auto pixels = preprocess_training_image(load_image(img.file), resolution, false)
                                .unsqueeze(0)
                                .to(m.device, m.dtype);
        const auto latents = m.vae->encode(pixels).mean * m.vae->scaling_factor(); // [1, C, h, w]
        const auto text = encode_prompts(m, {img.caption}, 0).repeat({2, 1, 1});
        for (int t : o.timesteps) {
            const double acp = alphas_cumprod[t].item<double>();
            const auto noise =
                torch::randn(latents.sizes(), gen, torch::kFloat).to(m.device, m.dtype);
            const auto noisy =
                (std::sqrt(acp) * latents + std::sqrt(1.0 - acp) * noise).repeat({2, 1, 1, 1});
            std::vector<at::Tensor> layers; // [2, heads, N, T] each
            m.unet->set_attention_hook(adapter.ptr());
            adapter->record_routing(&layers);
            try {
                m.unet->forward(noisy, torch::full({2}, t, torch::kLong).to(m.device), text,
                                tokens);
            } catch (...) {
                adapter->record_routing(nullptr);
                m.unet->set_attention_hook(nullptr);
                throw;
            }
            adapter->record_routing(nullptr);
            m.unet->set_attention_hook(nullptr);
            const double layer_count = static_cast<double>(std::max<size_t>(layers.size(), 1));
            for (int64_t s = 0; s < 2; ++s) {
                auto motif = torch::zeros({ac.num_tokens}, torch::kDouble);
                auto subject = torch::zeros({ac.num_tokens}, torch::kDouble);
                for (const auto& w : layers) {
                    const auto heads_mean = w[s].mean(0).to(torch::kFloat).cpu();
                    motif += box_mean(heads_mean, latents.size(2), latents.size(3), img.motif)
                                 .to(torch::kDouble);
                    subject += box_mean(heads_mean, latents.size(2), latents.size(3), img.subject,
                                        &img.motif)
                                   .to(torch::kDouble);
                }
                sums[s][img.category] += motif / layer_count;
                subject_sums[s] += subject / layer_count;
            }
            counts[img.category] += 1;
            subject_count += 1;
        }
        ++report.images[static_cast<size_t>(img.category)];
        job.report(Stage::Evaluate, static_cast<int>(i) + 1, static_cast<int>(images.size()),
                   "routing");
    }
    for (int64_t s = 0; s < 2; ++s) {
        auto& share = report.states[static_cast<size_t>(s)].share;
        for (int64_t c = 0; c < n_cat; ++c) {
            std::vector<double> row(static_cast<size_t>(ac.num_tokens), 0.0);
            const double n = counts[c].item<double>();
            for (int64_t t = 0; t < ac.num_tokens && n > 0; ++t)
                row[static_cast<size_t>(t)] = sums[s][c][t].item<double>() / n;
            share.push_back(std::move(row));
        }
        auto& subject = report.states[static_cast<size_t>(s)].subject;
        for (int64_t t = 0; t < ac.num_tokens; ++t)
            subject.push_back(subject_count > 0 ? subject_sums[s][t].item<double>() / subject_count : 0.0);
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

std::string user_routing_report_json(const UserRoutingReport& r)
{
    using ordered = nlohmann::ordered_json;
    ordered states = ordered::object(), subjects = ordered::object();
    for (const auto& s : r.states) {
        ordered rows = ordered::object();
        for (size_t c = 0; c < r.categories.size(); ++c) {
            ordered row = ordered::object();
            for (size_t t = 0; t < r.tokens.size(); ++t)
                row[r.tokens[t]] = s.share[c][t];
            rows[r.categories[c]] = row;
        }
        states[s.label] = rows;
        ordered subject = ordered::object();
        for (size_t t = 0; t < r.tokens.size(); ++t)
            subject[r.tokens[t]] = s.subject[t];
        subjects[s.label] = subject;
    }
    ordered j = {{"format", "psa-user-routing"},
                 {"version", 1},
                 {"model", r.options.model.string()},
                 {"adapter", r.options.adapter.string()},
                 {"data", r.options.data_dir.string()},
                 {"seed", r.options.seed},
                 {"timesteps", r.options.timesteps},
                 {"images_per_concept", r.options.images_per_concept},
                 {"categories", r.categories},
                 {"tokens", r.tokens},
                 {"images", r.images},
                 {"states", states},
                 {"subject", subjects},
                 {"seconds", r.seconds}};
    return j.dump(2) + "\n";
}

std::string user_routing_report_text(const UserRoutingReport& r)
{
    std::ostringstream out;
    size_t width = std::string(kSubjectRow).size() + 1;
    for (const auto& c : r.categories)
        width = std::max(width, c.size() + 1);
    for (const auto& s : r.states) {
        out << "user attention at each category's motif, user who "
            << (s.label == "banned" ? "bans every category" : "bans nothing")
            << " (rows: motif, then the subject's place; columns: token)\n"
            << std::setw(static_cast<int>(width)) << "";
        for (const auto& t : r.tokens)
            out << std::setw(static_cast<int>(std::max<size_t>(t.size(), 5) + 1)) << t;
        out << "\n";
        for (size_t c = 0; c < r.categories.size(); ++c) {
            out << std::left << std::setw(static_cast<int>(width)) << r.categories[c] << std::right;
            for (size_t t = 0; t < r.tokens.size(); ++t)
                out << std::setw(static_cast<int>(std::max<size_t>(r.tokens[t].size(), 5) + 1))
                    << std::fixed << std::setprecision(3) << s.share[c][t];
            out << "\n";
        }
        out << std::left << std::setw(static_cast<int>(width)) << kSubjectRow << std::right;
        for (size_t t = 0; t < r.tokens.size(); ++t)
            out << std::setw(static_cast<int>(std::max<size_t>(r.tokens[t].size(), 5) + 1))
                << std::fixed << std::setprecision(3) << s.subject[t];
        out << "\n";
    }
    return out.str();
}

} // namespace psa
