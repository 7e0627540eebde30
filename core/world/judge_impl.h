// SPDX-License-Identifier: GPL-3.0-or-later
// Private to world: what is behind WorldJudge, shared by loading, training and measuring.
#pragma once
#include "world/judge.h"
#include "world/judge_net.h"

#include <map>
#include <string>

namespace psa {

inline constexpr const char* kJudgeFormat = "psa-world-judge";

struct WorldJudge::Impl {
    explicit Impl(const JudgeNetConfig& config) : net(config) {}
    JudgeNet net;
    JudgeInfo info;
};

/// The safetensors metadata of a judge file.
std::map<std::string, std::string> judge_metadata(const JudgeNetConfig& net, const JudgeInfo& info);

/// Exact-match, single-label and subject accuracy of `net` on labelled images.
JudgeAccuracy accuracy_of(JudgeNetImpl& net, const at::Tensor& images, const at::Tensor& labels,
                          const at::Tensor& subjects);

} // namespace psa
