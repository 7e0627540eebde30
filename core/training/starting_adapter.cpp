// SPDX-License-Identifier: GPL-3.0-or-later
// Fine-tuning an existing adapter (the shipped one, or a person's earlier run) is a DPO run whose
// policy starts at the file's weights. The reference stays the frozen base model (PSA.md:
// eps_ref is the base model), so the DPO term keeps measuring the adapter's whole shift from the
// base model, as it did while the file was trained.
#include "training/starting_adapter.h"

#include "adapter/adapter_io.h"
#include "adapter/token_layout.h"
#include "common/error.h"

#include <torch/torch.h>

#include <string>

namespace psa {

namespace {

std::string count_text(std::int64_t n, const std::string& noun)
{
    return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string list_text(const std::vector<std::string>& names)
{
    std::string out;
    for (const auto& n : names)
        out += (out.empty() ? "" : ", ") + n;
    return "[" + out + "]";
}

// Every way the file disagrees with the run, in words; empty when it may start the run.
std::vector<std::string> mismatches(const AdapterFileInfo& file, const SafetyAdapterConfig& run)
{
    std::vector<std::string> out;
    if (file.num_tokens != run.num_tokens) {
        // The per-category layout's count follows the categories, so only the sink token can differ.
        std::string fix = "set num_tokens / --num-tokens to " + std::to_string(file.num_tokens);
        if (file.token_layout == kPerCategoryTokens && run.token_layout == kPerCategoryTokens)
            fix = file.has_sink_token() ? "the file has a sink token: set sink_token / --sink-token"
                                        : "the file has no sink token: leave out sink_token / --sink-token";
        out.push_back(count_text(file.num_tokens, "user token") + ", the run asks for " +
                      std::to_string(run.num_tokens) + " (" + fix + ")");
    }
    if (file.token_layout != run.token_layout)
        out.push_back(file.token_layout + " user tokens, the run asks for " + run.token_layout +
                      " ones (set token_layout / --token-layout to " + file.token_layout + ")");
    if (file.profile_encoder != run.profile_encoder) {
        out.push_back("made for the " + file.profile_encoder + " profile encoder, the run's data uses the " +
                      run.profile_encoder + " one" +
                      (file.profile_encoder == "precomputed" ? " (give its embeddings folder, --embeds)" : ""));
        return out; // the widths and categories below follow from the encoder
    }
    if (file.user_dim != run.user_dim)
        out.push_back("user embeddings " + std::to_string(file.user_dim) + " wide, the run's profile encoder gives " +
                      std::to_string(run.user_dim));
    if (run.profile_encoder == "structured") {
        if (file.profile_encoder_version != run.profile_encoder_version)
            out.push_back("structured profile encoder version \"" + file.profile_encoder_version +
                          "\", this build encodes version \"" + run.profile_encoder_version + "\"");
        if (!file.categories.empty() && file.categories != run.categories)
            out.push_back("categories " + list_text(file.categories) + ", the run's data uses " +
                          list_text(run.categories));
    }
    if (const bool file_has = !file.query_dims.empty(); file_has != !run.query_dims.empty())
        out.push_back(file_has ? "it has user query maps of its own, the run has none (set own_user_query / "
                                 "--own-user-query to true)"
                               : "it has no user query maps of its own, the run asks for them (set own_user_query / "
                                 "--own-user-query to false)");
    if (file.ban_gated_tokens != run.ban_gated_tokens)
        out.push_back(file.ban_gated_tokens
                          ? "its tokens are gated by the bans, the run's are not (set "
                            "ban_gated_tokens / --ban-gated-tokens)"
                          : "its tokens are not gated by the bans, the run's are (leave out "
                            "ban_gated_tokens / --ban-gated-tokens)");
    if (file.learned_null_user && !run.learned_null_user)
        out.push_back("it carries a learned null user, the run is set not to learn one (learned_null_user false)");
    return out;
}

} // namespace

AdapterFileInfo load_starting_adapter(SafetyAdapterImpl& adapter, const std::filesystem::path& file,
                                      const std::vector<CrossAttentionLayerInfo>& unet_layers)
{
    const auto info = read_adapter_file_info(file);
    if (const auto problems = mismatches(info, adapter.config()); !problems.empty()) {
        std::string text;
        for (const auto& p : problems)
            text += (text.empty() ? "" : "; ") + p;
        throw ConfigError(path_message(file.string(), text));
    }
    const auto loaded = load_adapter(file, unet_layers);
    const auto source = loaded->named_parameters(true);
    torch::NoGradGuard no_grad;
    for (auto& p : adapter.named_parameters(true)) {
        // Only null_user_embedding can be missing (a file without one): it keeps its zero start.
        if (const auto* from = source.find(p.key()))
            p.value().copy_(*from);
    }
    return info;
}

} // namespace psa
