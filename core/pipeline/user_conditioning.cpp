// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/user_conditioning.h"

#include "common/error.h"
#include "profiles/profile_encoder.h"
#include "tensor_io/npy.h"

#include <torch/torch.h>

namespace psa {

CategorySet adapter_categories(const SafetyAdapterConfig& adapter)
{
    if (adapter.categories.empty())
        return CategorySet::builtin();
    std::vector<Category> cats;
    for (const auto& id : adapter.categories) {
        const auto& builtin = CategorySet::builtin();
        cats.push_back(builtin.contains(id) ? builtin.at(id) : Category{id, id, ""});
    }
    return CategorySet(std::move(cats));
}

at::Tensor profile_embedding(const SafetyAdapterConfig& adapter, const SafetyProfile& profile)
{
    at::Tensor e;
    if (adapter.profile_encoder == StructuredProfileEncoder::kName) {
        const auto cats = adapter_categories(adapter);
        const auto v = StructuredProfileEncoder::encode(profile, cats);
        e = torch::tensor(v, torch::kFloat);
    } else {
        if (profile.embedding_file.empty())
            throw InvalidRequest("profile \"" + profile.name + "\": this adapter reads precomputed " +
                                 std::to_string(adapter.user_dim) +
                                 "-d user embeddings; set the profile's embedding file (.npy)");
        e = load_npy(profile.embedding_file).to(torch::kFloat).flatten();
    }
    if (e.numel() != adapter.user_dim)
        throw InvalidRequest("profile \"" + profile.name + "\": its embedding has " + std::to_string(e.numel()) +
                             " values, the adapter expects " + std::to_string(adapter.user_dim));
    return e;
}

} // namespace psa
